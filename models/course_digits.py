"""The course's digit net (Ng's Machine Learning, exercise 4): n_features-25-10, sigmoid everywhere.

cost  J = (1/m) Σ_n Σ_k [softplus(z_nk) - y_nk z_nk] + λ/(2m) Σ W²   (biases not regularised),
which is the course's -y log h - (1 - y) log(1 - h) written on the logits z, h = sigmoid(z).
The course trains on 5000 digits of 20x20 pixels (400 inputs) with λ = 1, weights drawn from
U(±0.12) and ``minimize(method='TNC', maxiter=250)``.

Those 20x20 digits are not available here. The tests and ``examples/digits.py`` use scikit-learn's
``load_digits`` (1797 digits, 8x8 pixels, values 0..16) at its native 64 inputs, scaled to [0, 1]:
upscaling to 20x20 would only add interpolated pixels (no information) and 6x the first layer's
cost, so the builder takes ``n_features`` instead and keeps the course's net behind the input.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

DEFAULTS = {"n_features": 400, "hidden": 25, "n_classes": 10, "l2": 1.0, "init": "uniform"}
TRAINING = {"optimizer": "L-BFGS-B", "maxiter": 250}


def digit_net(n_features: int = DEFAULTS["n_features"], *, hidden: int = DEFAULTS["hidden"],
              n_classes: int = DEFAULTS["n_classes"], l2: float = DEFAULTS["l2"],
              init=DEFAULTS["init"], random_state=None, dtype=np.float64) -> tg.Sequential:
    """Dense(n_features, hidden) → Sigmoid → Dense(hidden, n_classes) → Sigmoid → CrossEntropy.

    Labels are integers 0..n_classes-1 (shift the course's 1..10 down by one, or use
    ``tg.NeuralNetClassifier``, which takes labels of any kind).
    """
    return tg.Sequential([
        tg.Dense(n_features, hidden), tg.Sigmoid(),
        tg.Dense(hidden, n_classes), tg.Sigmoid(),
        tg.CrossEntropy(),
    ], l2=l2, init=init, random_state=random_state, dtype=dtype)
