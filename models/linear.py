"""Softmax regression (multinomial logistic regression): the linear baseline every net must beat.

p = softmax(x W + b),  l = logsumexp(z) - z_y,  plus λ/(2m) Σ W².
The cost is convex in theta, so L-BFGS finds the same optimum from any start.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

DEFAULTS = {"l2": 1.0}
TRAINING = {"optimizer": "L-BFGS-B", "maxiter": 300}


def softmax_regression(n_features: int, n_classes: int, *, l2: float = DEFAULTS["l2"],
                       random_state=None, dtype=np.float64) -> tg.Sequential:
    """Dense(n_features, n_classes) → Softmax → CrossEntropy; labels 0..n_classes-1."""
    return tg.Sequential([tg.Dense(n_features, n_classes), tg.Softmax(), tg.CrossEntropy()],
                         l2=l2, random_state=random_state, dtype=dtype)
