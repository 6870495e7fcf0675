"""Optimizers: how theta moves. The protocol (``optimizer``), the first-order rules and the per-batch
scipy wrapper (``first_order``), learning-rate ``schedules``, and second-order ``hessian_free`` methods.
May import: validation, parallel, nodes, the graph core, curvature. Never training, io or sklearn.
"""
from . import schedules
from .first_order import *  # noqa: F401,F403  (``tinygraph.optim.Adam`` and friends, as before the move)
from .first_order import __all__ as _first_order_all
from .optimizer import Optimizer

__all__ = sorted(set(_first_order_all) | {"Optimizer", "schedules"})


def __getattr__(name: str):
    if name == "KFAC":  # on first use: it loads the curvature package, which ``import tinygraph`` does not
        from .kfac import KFAC
        return KFAC
    raise AttributeError(f"module 'tinygraph.optim' has no attribute {name!r}")
