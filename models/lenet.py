"""Caffe's LeNet for 28×28 digits: two convolutions with max-pooling, then two dense layers.

conv 20@5×5 → max-pool 2 → conv 50@5×5 → max-pool 2 → Dense 500 → ReLU → Dense 10 → softmax,
categorical cross-entropy; input (N, 1, 28, 28) in NCHW, as Caffe and PyTorch (431,080 parameters).
As in Caffe's ``lenet_train_test.prototxt`` there is no nonlinearity after the convolutions: the
max-pools are the only kinks before the ReLU. Initial weights: He (fan-in) for every layer.
On the bundled digits (8,000/2,000 split) Adam 1e-3, batch 64, 12 epochs reaches ≥ 98% held-out
accuracy (``examples/mnist_lenet.py``).

``TRAINING`` holds an ``Adam`` object, and an optimizer keeps its state between fits (warm start):
give each new model a fresh one, ``{**TRAINING, "optimizer": tg.optim.Adam(1e-3)}``.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

DEFAULTS = {"channels": (20, 50), "kernel_size": 5, "hidden": 500, "l2": 0.0}
TRAINING = {"optimizer": tg.optim.Adam(1e-3), "batch_size": 64, "epochs": 12, "random_state": 0}


def lenet_net(*, channels: tuple = DEFAULTS["channels"], kernel_size: int = DEFAULTS["kernel_size"],
              hidden: int = DEFAULTS["hidden"], n_classes: int = 10, input_shape: tuple = (1, 28, 28),
              l2: float = DEFAULTS["l2"], init="he", random_state=None, dtype=np.float64) -> tg.Sequential:
    """Conv2D(c, kernel_size) → MaxPool2D(2) for each c in ``channels``, then Flatten → Dense(hidden)
    → ReLU → Dense(n_classes) → Softmax → CrossEntropy."""
    layers = []
    for c in channels:
        layers += [tg.Conv2D(c, kernel_size), tg.MaxPool2D(2)]
    layers += [tg.Flatten(), tg.Dense(hidden), tg.ReLU(), tg.Dense(n_classes), tg.Softmax(), tg.CrossEntropy()]
    return tg.Sequential(layers, input_shape=input_shape, l2=l2, init=init, random_state=random_state,
                         dtype=dtype)
