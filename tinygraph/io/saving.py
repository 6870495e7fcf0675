"""Saving and loading models: one ``.npz`` file holding a JSON description and arrays, no pickle.

Reading a file back into a model, and ``save``/``load`` for models and fitted estimators alike.
The format itself (members, header, registry, atomic writes) is ``tinygraph.io.format``'s.
"""
from __future__ import annotations

import os

import numpy as np

from . import estimators as estimator_io
from .format import (
    _NODES,
    FORMAT,
    VERSION,
    FormatError,
    Saved,
    register_node,
    write,
)
from .reader import read_checked, saved_config
from ..graph import Graph
from ..sequential import Sequential

__all__ = ["FORMAT", "VERSION", "FormatError", "Saved", "load", "read", "register_node", "save"]


def save(model, path, **kwargs) -> str:
    """Write ``model`` (graph, options and theta) to ``path`` atomically; returns the path.

    ``model`` may also be a fitted estimator of ``tinygraph.sklearn.estimators`` (``tinygraph.io.estimators``).
    Keywords (``meta``, ``arrays``, ``theta``, ``kind``) as ``tinygraph.io.format.write``.
    The path is used as given (no ``.npz`` is appended).

    Parameters
    ----------
    model : Graph or fitted NeuralNetClassifier / NeuralNetRegressor
        What to save; its node classes must be registered (``register_node``; built-ins are).
    path : str or os.PathLike
        The file to write (replaced atomically if it exists).
    **kwargs
        ``meta``, ``arrays``, ``theta``, ``kind``: as ``tinygraph.io.format.write`` (models only).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    TypeError
        ``model`` is neither a Graph nor a fitted tinygraph estimator.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(2, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = tg.save(model, os.path.join(d, "net.npz"))
    ...     back = tg.load(path)
    >>> np.array_equal(back.theta, model.theta)
    True
    """
    if not isinstance(model, Graph):
        if estimator_io.is_estimator(model) and not kwargs:
            return estimator_io.save_estimator(model, os.fspath(path))
        raise TypeError(f"save: expects a Graph or a fitted tinygraph estimator, got {type(model).__name__}")
    return write(model, path, **kwargs)


def _build(desc: dict) -> Graph:
    made = {}
    for spec in desc["nodes"]:
        cls = _NODES.get(spec["type"])
        if cls is None:
            raise FormatError(f"node type {spec['type']!r} is not registered; import the module that "
                              "defines it (decorated with @tinygraph.register_node) before loading")
        made[spec["config"]["name"]] = cls(**saved_config(cls, spec))
    kwargs = {"l2": desc["l2"], "init": desc["init"] or "glorot", "dtype": np.dtype(desc["dtype"]),
              "random_state": desc["random_state"]}
    specs = desc["nodes"]
    if desc["class"] == "Sequential":
        layers = [made[s["config"]["name"]] for s in specs[1:]]
        first = specs[0]["config"]
        return Sequential(layers, input_shape=first.get("shape", first.get("n_features")), **kwargs)
    for spec in specs:
        if spec["inputs"]:
            made[spec["config"]["name"]](*[made[name] for name in spec["inputs"]])
    inputs = [made[name] for name in desc.get("inputs", [specs[0]["config"]["name"]])]
    return Graph(inputs if len(inputs) > 1 else inputs[0], made[desc["output"]], **kwargs)


def read(path) -> Saved:
    """Read a file written by ``save``: the rebuilt model with its theta, meta, arrays and kind.
    A path without a suffix that does not exist is read as ``path.npz`` (what ``save`` wrote).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``save`` (or ``tinygraph.io.format.write``).

    Returns
    -------
    Saved
        ``(model, meta, arrays, kind)``: the rebuilt model with its theta and state, the JSON
        ``meta``, the extra arrays by name, and "model", "estimator" or another kind.

    Raises
    ------
    FormatError
        The file is not a readable tinygraph file, or its model does not rebuild.
    """
    path = os.fspath(path)
    if not os.path.splitext(path)[1] and not os.path.exists(path):
        path += ".npz"
    header, theta, arrays = read_checked(path)
    state = arrays.pop("state", None)
    try:
        model = _build(header["model"])
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, MemoryError) as e:
        raise FormatError(f"{path}: the model description does not rebuild ({type(e).__name__}: {e})") from None
    if model.theta.shape != theta.shape:  # _check_nodes made the same nodes: a node's build is not pure
        raise FormatError(f"{path}: theta has {theta.size} parameters, the rebuilt model {model.n_params}")
    model.theta[...] = theta
    if state is not None:  # the reader refuses a file whose nodes declare statistics but has none
        if state.shape != model.state.shape or state.dtype != model.dtype:
            raise FormatError(f"{path}: state is {state.dtype} {state.shape}, the model needs "
                              f"{model.dtype} {model.state.shape}")
        model.state[...] = state
    model._stamp_state()  # the saved statistics go with the saved theta
    extra = {k.split("/", 1)[1]: a for k, a in arrays.items() if k.startswith("arrays/")}
    return Saved(model, header.get("meta", {}), extra, header.get("kind", "model"))


def load(path):
    """The model saved at ``path`` (a ``Graph`` or ``Sequential`` with its theta), or the estimator.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``save``; without a suffix, ``path.npz`` is read if ``path`` does not exist.

    Returns
    -------
    Graph, Sequential, NeuralNetClassifier or NeuralNetRegressor
        The rebuilt model with its saved theta (and running statistics), or the fitted estimator.

    Raises
    ------
    FormatError
        The file is not a readable tinygraph file (foreign, truncated, corrupted, too new), or names
        a node type that is not registered.

    Examples
    --------
    >>> import os, tempfile
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(2, 1), tg.Identity(), tg.MeanSquaredError()], random_state=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     back = tg.load(tg.save(model, os.path.join(d, "net.npz")))
    >>> type(back).__name__, back.n_params
    ('Sequential', 3)
    """
    saved = read(path)
    if saved.kind == "estimator":
        return estimator_io.estimator_from_saved(saved, os.fspath(path))
    return saved.model
