"""An autoencoder: n → code → n, trained to reproduce its input under squared error.

code = sigmoid(x W1 + b1),  x̂ = sigmoid(code W2 + b2),  l = ½ Σ_k (x̂_k - x_k)²  (+ λ/(2m) Σ W²).
The sigmoid output suits inputs scaled to [0, 1] (pixels). Train it with the input as the target,
``tg.fit(model, X, X)``; ``model.forward(X)`` reconstructs and ``model.activations["sigmoid1"]``
holds the code of the last forward pass.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

DEFAULTS = {"code": 16, "l2": 0.0, "init": "glorot"}
TRAINING = {"optimizer": "L-BFGS-B", "maxiter": 300}


def autoencoder(n_features: int, code: int = DEFAULTS["code"], *, l2: float = DEFAULTS["l2"],
                init=DEFAULTS["init"], random_state=None, dtype=np.float64) -> tg.Sequential:
    """Dense(n_features, code) → Sigmoid → Dense(code, n_features) → Sigmoid → MeanSquaredError."""
    return tg.Sequential([
        tg.Dense(n_features, code), tg.Sigmoid(),
        tg.Dense(code, n_features), tg.Sigmoid(),
        tg.MeanSquaredError(),
    ], l2=l2, init=init, random_state=random_state, dtype=dtype)
