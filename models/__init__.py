"""Ready-made tinygraph models: one small module per net, each a builder plus its defaults.

Every module defines ``DEFAULTS`` (the builder's hyperparameters) and ``TRAINING`` (keyword
arguments for ``tg.fit`` that train it well), so ``tg.fit(model, X, y, **module.TRAINING)`` works.

| module | builder | net |
|---|---|---|
| ``course_digits`` | ``digit_net`` | the course's n-25-10 sigmoid net, course cross-entropy, l2 |
| ``mnist`` | ``mnist_net`` | 784-25-10, or deeper with ``hidden_layers=DEEP`` |
| ``moons`` | ``moons_net`` | the 2-3-2 sigmoid net of the moons post |
| ``lenet`` | ``lenet_net`` | Caffe's LeNet: two 5×5 convolutions with max-pooling, Dense 500, 10 |
| ``linear`` | ``softmax_regression`` | one Dense + Softmax: the linear baseline |
| ``autoencoders`` | ``autoencoder`` | n-h-n with a sigmoid code, squared error |
| ``normalized`` | ``normalized_mlp`` | ReLU MLP with BatchNorm and Dropout per hidden layer |
| ``recurrent`` | ``sequence_classifier``, ``sequence_regressor`` | LSTM/GRU/SimpleRNN → Dense (row-by-row MNIST, the addition problem) |
| ``gpt`` | ``gpt`` | nanoGPT's GPT: embeddings, pre-LayerNorm causal-attention blocks, next-token loss at every position (``RECIPE`` instead of ``TRAINING``: nanoGPT's settings, run by ``examples/char_gpt.py``) |

This package lives at the repository root next to ``examples/`` and is not shipped in the wheel:
``models`` is too generic a top-level name to install into site-packages. Tests import it through
``pythonpath = ["."]`` in pyproject.toml; scripts run from the repository root.
"""
from .autoencoders import autoencoder
from .course_digits import digit_net
from .gpt import gpt
from .lenet import lenet_net
from .linear import softmax_regression
from .mnist import mnist_net
from .moons import moons_net
from .normalized import normalized_mlp
from .recurrent import sequence_classifier, sequence_regressor

__all__ = ["autoencoder", "digit_net", "gpt", "lenet_net", "mnist_net", "moons_net", "normalized_mlp",
           "sequence_classifier", "sequence_regressor", "softmax_regression"]
