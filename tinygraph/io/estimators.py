"""Saving fitted estimators in the model file format of ``tinygraph.io`` (no pickle).

A fitted estimator is its constructor parameters (``get_params()``) plus its fitted attributes
(scikit-learn's trailing underscore). The file holds the estimator's ``model_`` as any saved
model, and in the JSON ``meta``: the class name, the parameters, the JSON-typed attributes, and
which array attributes are theta itself (``coef_``); other arrays go in ``arrays``. Optimizer and
schedule objects (parameters or the fitted ``optimizer_``) are stored as their class name and
constructor arguments, read back from same-named attributes as scikit-learn does, plus the
optimizer's ``get_state()``, so ``partial_fit`` and ``warm_start`` continue exactly.

Loading instantiates only classes listed in ``tinygraph.sklearn.estimators``, ``tinygraph.optim`` and
``tinygraph.optim.schedules`` ``__all__``: a name read from a file never imports anything else. A model
builder (``model=``) is saved by its name and found again only in a module already imported.
"""
from __future__ import annotations

import inspect
import numbers
import sys
import warnings

import numpy as np

from .format import FormatError, Saved, join_state, split_state, write
from ..graph import Graph

__all__ = ["estimator_from_saved", "is_estimator", "save_estimator"]


# The names files record ("optim.Adam", "schedules.CosineDecay") and the modules that hold them now.
_MODULES = {"estimators": "tinygraph.sklearn.estimators", "optim": "tinygraph.optim",
            "schedules": "tinygraph.optim.schedules"}


def _classes(module_name: str) -> dict:
    import importlib
    module = importlib.import_module(_MODULES[module_name])
    return {name: getattr(module, name) for name in module.__all__ if inspect.isclass(getattr(module, name))}


def is_estimator(obj) -> bool:
    return hasattr(obj, "get_params") and isinstance(getattr(obj, "model_", None), Graph)


def _encode(value, where: str):
    """A JSON form of a parameter or attribute; tuples and optimizer/schedule objects are tagged."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Real):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
    for module in ("optim", "schedules"):
        if _classes(module).get(type(value).__name__) is type(value):
            names = [p for p in inspect.signature(type(value).__init__).parameters if p != "self"]
            return {"__object__": f"{module}.{type(value).__name__}",
                    "params": {p: _encode(getattr(value, p), f"{where}.{p}") for p in names}}
    if _function_name(value) is not None and where.endswith("['model']"):  # a builder: by its name
        return {"__function__": _function_name(value)}
    if isinstance(value, (np.random.Generator, np.random.RandomState)) or callable(value):
        warnings.warn(f"save: {where} = {value!r} is not saved; the loaded estimator has None there",
                      UserWarning, stacklevel=4)
        return None
    raise TypeError(f"save: {where} is a {type(value).__name__}, which cannot be saved without pickle")


def _function_name(value) -> str | None:
    """``module:qualname`` of a module-level function (a model builder), else None."""
    if not inspect.isfunction(value) or "<" in value.__qualname__:
        return None
    return f"{value.__module__}:{value.__qualname__}"


def _function(name: str):
    """A builder named in a file, from a module *already imported* (loading never imports)."""
    module_name, _, qualname = name.partition(":")
    target = sys.modules.get(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not inspect.isfunction(target):
        warnings.warn(f"load: the model builder {name} is not imported, so the loaded estimator has "
                      "model=None (it predicts; import the builder's module before loading to fit it "
                      "again)", UserWarning, stacklevel=4)
        return None
    return target


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v) for k, v in value["__dict__"].items()}
    if isinstance(value.get("__function__"), str):
        return _function(value["__function__"])
    module, _, name = value["__object__"].partition(".")
    cls = _classes(module).get(name) if module in ("optim", "schedules") else None
    if cls is None:
        raise FormatError(f"unknown object type {value['__object__']!r}")
    return cls(**{k: _decode(v) for k, v in value["params"].items()})


def save_estimator(estimator, path, **kwargs) -> str:
    """Write a fitted tinygraph estimator (see the module docstring); ``kwargs`` as ``fileformat.write``."""
    cls = type(estimator)
    if _classes("estimators").get(cls.__name__) is not cls:
        raise TypeError(f"save: can save the estimators of tinygraph.sklearn.estimators, got {cls.__name__}")
    model, params = estimator.model_, estimator.get_params(deep=False)
    fitted, theta_names, arrays = {}, [], {}
    for name, value in vars(estimator).items():
        if name in params or value is model:
            continue
        if value is model.theta:
            theta_names.append(name)
        elif isinstance(value, np.ndarray):
            arrays[f"fitted/{name}"] = value
        else:
            fitted[name] = _encode(value, name)
            if hasattr(value, "get_state"):  # the fitted optimizer: its settings, then its state
                scalars, state = split_state(value.get_state())
                fitted[name]["state"] = scalars
                arrays.update({f"{name}/{k}": a for k, a in state.items()})
    meta = {"estimator": cls.__name__, "params": _encode(params, "params"), "fitted": fitted,
            "theta": theta_names}
    return write(model, path, meta=meta, arrays=arrays, kind="estimator", **kwargs)


def estimator_from_saved(saved: Saved, path: str):
    """The estimator described by a file that ``read`` returned as ``saved``."""
    meta = saved.meta
    cls = _classes("estimators").get(meta.get("estimator"))
    if cls is None:
        raise FormatError(f"{path}: unknown estimator class {meta.get('estimator')!r}")
    if not (isinstance(meta.get("params"), dict) and isinstance(meta.get("fitted"), dict)
            and isinstance(meta.get("theta"), list)):
        raise FormatError(f"{path}: an estimator file whose meta lacks params, fitted or theta")
    try:
        estimator = cls(**_decode(meta["params"]))
        for name, value in meta["fitted"].items():
            state = value.pop("state", None) if isinstance(value, dict) else None
            setattr(estimator, name, _decode(value))
            if state is not None:
                prefix = f"{name}/"
                group = {k[len(prefix):]: a for k, a in saved.arrays.items() if k.startswith(prefix)}
                getattr(estimator, name).set_state(join_state(state, group))
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"{path}: the estimator does not rebuild ({type(e).__name__}: {e})") from None
    for key, a in saved.arrays.items():
        group, _, name = key.partition("/")
        if group == "fitted":
            setattr(estimator, name, a)
    estimator.model_ = saved.model
    for name in meta["theta"]:  # files of before coef_ became a property name it here
        if not isinstance(getattr(cls, name, None), property):
            setattr(estimator, name, saved.model.theta)
    return estimator

