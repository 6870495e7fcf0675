"""Training: ``fit`` (the loop, in ``loop``), its ``monitor`` and callbacks, ``checkpoint``s, the full-batch
``scipy_bridge`` and ``objective.minimize`` for any function.
May import every lower floor: validation, parallel, nodes, the graph core, curvature, optim, io.
"""
from .loop import OPTIMIZERS, fit
from .monitor import OptimizeResult, TrainingInfo
from .objective import minimize

__all__ = ["OPTIMIZERS", "OptimizeResult", "TrainingInfo", "fit", "minimize"]
