"""An MLP with BatchNorm and Dropout: Dense → BatchNorm → ReLU → Dropout per hidden layer.

BatchNorm sits between the product and the nonlinearity (as in the BatchNorm paper), so the Dense
bias is redundant with BatchNorm's β and is kept only for a uniform layout. With ``batchnorm=False``
and ``dropout=0`` it is the plain ReLU MLP, so the example can compare the four variants on one
footing. Train with minibatches (``TRAINING``): BatchNorm's running statistics then follow the
steps; after a full-batch scipy fit ``tg.fit`` recomputes them over the data.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

DEFAULTS = {"hidden_layers": (512, 256), "batchnorm": True, "dropout": 0.2}
TRAINING = {"optimizer": tg.optim.Adam(lr=1e-3), "batch_size": 64, "epochs": 10}


def normalized_mlp(hidden_layers=DEFAULTS["hidden_layers"], *, batchnorm: bool = DEFAULTS["batchnorm"],
                   dropout: float = DEFAULTS["dropout"], n_features: int = 784, n_classes: int = 10,
                   l2: float = 0.0, random_state=None, dtype=np.float64) -> tg.Sequential:
    """Dense → [BatchNorm] → ReLU → [Dropout(dropout)] per hidden size, then Dense → Softmax → CrossEntropy."""
    layers = []
    for n_out in hidden_layers:
        layers.append(tg.Dense(n_out))
        if batchnorm:
            layers.append(tg.BatchNorm())
        layers.append(tg.ReLU())
        if dropout:
            layers.append(tg.Dropout(dropout))
    layers += [tg.Dense(n_classes), tg.Softmax(), tg.CrossEntropy()]
    return tg.Sequential(layers, n_features=n_features, l2=l2, init="he", random_state=random_state,
                         dtype=dtype)
