"""The moons net: 2-3-2 with sigmoid units, from the post that fitted ``make_moons(200, noise=0.2)``.

Two sigmoid outputs (one per moon) with the course cross-entropy and λ = 0.001; the post trained it
with ``scipy.optimize.fmin_cg`` to a cost of 0.132 and 98% training accuracy. Here one call
returns cost and gradient together, so ``method="CG"`` runs the net forward once per evaluation.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

from .course_digits import digit_net

DEFAULTS = {"hidden": 3, "l2": 0.001, "init": "sigmoid"}
TRAINING = {"optimizer": "CG", "maxiter": 2000}


def moons_net(hidden: int = DEFAULTS["hidden"], *, l2: float = DEFAULTS["l2"], init=DEFAULTS["init"],
              random_state=None, dtype=np.float64) -> tg.Sequential:
    """Dense(2, hidden) → Sigmoid → Dense(hidden, 2) → Sigmoid → CrossEntropy; labels 0/1.

    The course's digit net with two inputs and two classes.
    """
    return digit_net(2, hidden=hidden, n_classes=2, l2=l2, init=init, random_state=random_state, dtype=dtype)
