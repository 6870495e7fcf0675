"""The module paths of tinygraph before its subpackages, kept importable (and pickles made then loadable).

``import tinygraph.threads`` or a pickle that names ``tinygraph.estimators.NeuralNetClassifier`` finds
the module at its new place, imported on first use (so ``tinygraph.dask`` still loads Dask only when
asked) and registered under the old name too: one module object, two names.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "optimizer": "optim.optimizer",
    "schedules": "optim.schedules",
    "hessian_free": "optim.hessian_free",
    "monitor": "training.monitor",
    "checkpoint": "training.checkpoint",
    "scipy_bridge": "training.scipy_bridge",
    "objective": "training.objective",
    "gradcheck": "curvature.gradcheck",
    "fileformat": "io.format",
    "fileread": "io.reader",
    "estimator_io": "io.estimators",
    "estimators": "sklearn.estimators",
    "estimator_base": "sklearn.base",
    "estimator_fit": "sklearn.net",
    "threads": "parallel.threads",
    "locking": "parallel.locking",
    "dask": "parallel.dask",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``tinygraph.<old>`` and hands back the already-imported (or newly imported) new module."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != __package__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(f"{__package__}.{MOVED[spec.name.rpartition('.')[2]]}")
        spec.loader_state = module.__spec__  # the import system sets module.__spec__ to ours next
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state  # the module keeps its own name and spec


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
