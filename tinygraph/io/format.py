"""The model file format: one ``.npz`` file holding a JSON description and arrays, no pickle.

The file is a zip written by ``numpy.savez`` and read with ``allow_pickle=False``, so opening a
file from someone else cannot run code. Its members:

- ``header``: UTF-8 JSON (as uint8 bytes): ``{"format": "tinygraph", "version": 1, "kind",
  "model": {"class", "l2", "init", "dtype", "random_state", "output",
  "nodes": [{"type", "config", "inputs", "params"}, ...]}, "meta", "arrays": {name: sha256}}``.
  Nodes are listed in topological order, edges by node name; ``config`` is ``node.get_config()``.
- ``theta``: the flat parameter vector; ``arrays/<name>``: extra arrays (an estimator's classes,
  a checkpoint's optimizer state).

A node class is saveable once registered (``@register_node``; the built-ins are registered
below): loading looks the type up in the registry, never imports a name read from the file.
Writes go to a temporary file in the target's directory, are fsync'ed, then ``os.replace``'d
over the target, so a crash mid-save leaves the previous file intact.

This module writes files; ``tinygraph.io.reader`` checks and reads them; rebuilding a model from
one is ``tinygraph.io``'s (it sits above ``tinygraph.graph``, which these modules never import).
"""
from __future__ import annotations

import hashlib
import json
import numbers
import os
import tempfile
import warnings
from typing import NamedTuple

import numpy as np

from .. import nodes
from ..nodes import Loss, Node
from ..nodes.node import unsaved_arguments

__all__ = ["FORMAT", "VERSION", "FormatError", "Saved", "register_node", "write"]

FORMAT, VERSION = "tinygraph", 1
_NODES: dict = {}


class FormatError(ValueError):
    """A file that is not a readable tinygraph file (foreign, truncated, corrupted, too new).

    A subclass of ``ValueError``; the message starts with the file's path.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "other.npz")
    ...     np.savez(path, a=np.zeros(3))
    ...     try:
    ...         tg.load(path)
    ...     except tg.io.FormatError as e:
    ...         print(str(e).split(": ", 1)[1])
    an .npz archive but not a tinygraph file (no header)
    """


class Saved(NamedTuple):
    """What ``read`` returns: the model, the JSON ``meta`` and the extra ``arrays`` saved with it."""

    model: object  # a tinygraph.Graph
    meta: dict
    arrays: dict
    kind: str


def register_node(cls: type) -> type:
    """Class decorator: make nodes of ``cls`` saveable, rebuilt on load as ``cls(**get_config())``.

    ``get_config()`` must return JSON types and every constructor argument that changes the node.

    Parameters
    ----------
    cls : type
        A subclass of ``tinygraph.nodes.Node``; registered under its class name.

    Returns
    -------
    type
        ``cls`` itself (so it works as a decorator).

    Raises
    ------
    TypeError
        ``cls`` is not a Node subclass.
    ValueError
        Another class (from another module or qualified name) is registered under the same name.

    Examples
    --------
    >>> import os, tempfile
    >>> import tinygraph as tg
    >>> @tg.register_node
    ... class DocTanh(tg.Tanh):
    ...     pass  # Tanh under another name
    >>> model = tg.Sequential([tg.Dense(2, 3), DocTanh(), tg.Dense(3, 1), tg.Identity(),
    ...                        tg.MeanSquaredError()], random_state=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     back = tg.load(tg.save(model, os.path.join(d, "net.npz")))
    >>> type(back.nodes[2]).__name__
    'DocTanh'
    """
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise TypeError(f"register_node: expects a Node subclass, got {cls!r}")
    old = _NODES.get(cls.__name__)
    # A class defined again (a re-run notebook cell) replaces itself; a different class may not.
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"register_node: the name {cls.__name__!r} is taken by "
                         f"{old.__module__}.{old.__qualname__}")
    _NODES[cls.__name__] = cls
    return cls


for _name in nodes.__all__:  # every built-in node class is saveable
    _cls = getattr(nodes, _name)
    if isinstance(_cls, type) and issubclass(_cls, Node) and _cls is not Node and _cls is not Loss:
        register_node(_cls)


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON type")


def _describe(model) -> dict:
    if (type(model).__module__, type(model).__name__) not in (("tinygraph.graph", "Graph"),
                                                             ("tinygraph.sequential", "Sequential")):
        raise TypeError(f"save: can save Graph and Sequential models, got {type(model).__name__}")
    if model.init_name is None:
        warnings.warn(f"save: the model's init {model.init!r} is a callable and is not saved; "
                      "the loaded model re-initialises with 'glorot'", UserWarning, stacklevel=3)
    nodes = []
    for node in model.nodes:
        cls = type(node)
        if _NODES.get(cls.__name__) is not cls:
            raise TypeError(f"save: node {node.name!r} is a {cls.__qualname__}, which is not registered; "
                            "decorate its class with @tinygraph.register_node")
        if node.init_scheme is not None and not isinstance(node.init_scheme, str):
            warnings.warn(f"save: node {node.name!r} has a callable init that is not saved",
                          UserWarning, stacklevel=3)
        config = node.get_config()
        if "name" not in config:  # the file wires nodes by name
            raise TypeError(f"save: node {node.name!r} ({cls.__name__}): get_config() has no 'name'; let "
                            "__init__ take name=None and pass it on: super().__init__(name=name)")
        lost = unsaved_arguments(node, config)
        if lost:  # refused now: such a file would save, and then never load
            first = lost[0]
            raise TypeError(
                f"save: node {node.name!r} ({cls.__name__}) takes the constructor argument(s) "
                f"{', '.join(map(repr, lost))}, which its get_config() does not return, so the file would "
                f"not load; keep each under its own name in __init__ (self.{first} = {first}) or return "
                f"them from get_config: def get_config(self): return {{**super().get_config(), "
                f"{first!r}: self.<where {first} is kept>}}")
        try:
            config = json.loads(json.dumps(config, default=_json_default, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise TypeError(f"save: node {node.name!r}: get_config() must return JSON types: {e}") from None
        spec = {"type": cls.__name__, "config": config, "inputs": [x.name for x in node.inputs],
                "params": [[p, list(shape)] for p, shape in node.params]}
        if node.states:  # files of models without state look as they did before state existed
            spec["states"] = [[name, list(shape)] for name, shape in node.states]
        nodes.append(spec)
    rs = model.random_state
    return {"class": type(model).__name__, "l2": model.l2, "init": model.init_name,
            "dtype": model.dtype.name, "nodes": nodes,
            "random_state": int(rs) if isinstance(rs, (int, np.integer)) else None,
            "output": model.nodes[-1].name, "inputs": [x.name for x in model.inputs]}


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).reshape(-1).view(np.uint8)).hexdigest()


def _remove_orphans(directory: str, base: str) -> None:
    """Delete the temporary files of earlier saves of ``base`` whose writing process is gone."""
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    prefix = f".{base}."
    for name in os.listdir(directory):
        pid = name[len(prefix):].split(".", 1)[0] if name.startswith(prefix) and name.endswith(".tmp") else ""
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass  # another save removed it first
        except OSError:
            pass  # alive (another user's process) or not ours to judge


def _atomic_write(path: str, arrays: dict) -> None:
    """``np.savez`` into a temporary file next to ``path``, fsync it, then rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path}: the directory {directory} does not exist")
    _remove_orphans(directory, os.path.basename(path))
    # the writer's pid in the name: a later save can tell its own orphans (kill -9) from live writers
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give it the mode a plain open() would have given it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _vector(name: str, own: np.ndarray, given, path: str) -> np.ndarray:
    """``given`` (or the model's ``own`` vector) checked to have its layout and to be finite."""
    v = own if given is None else np.asarray(given)
    if v.shape != own.shape or v.dtype != own.dtype:
        raise ValueError(f"save: {name} must be a {own.dtype} array of shape {own.shape}, got {v.dtype} {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"save: {name} contains NaN or inf; not writing {path}")
    return v


def write(model, path, *, meta: dict | None = None, arrays: dict | None = None,
          theta: np.ndarray | None = None, model_state: np.ndarray | None = None,
          kind: str = "model") -> str:
    """Write ``model`` (graph, options and theta) to ``path`` atomically; returns the path.

    ``meta`` (JSON types) and ``arrays`` (name -> numeric array) travel with the model, for
    estimators and checkpoints; ``theta`` (``model_state``) saves another vector of the layout of
    ``model.theta`` (``model.state``).
    A path without a suffix gets ``.npz``, as ``render`` adds its format's (and ``np.savez``).

    Parameters
    ----------
    model : Graph
        The model; every node class registered (``register_node``).
    path : str or os.PathLike
        The file to write (replaced atomically).
    meta : dict, optional
        JSON-serialisable data saved with the model.
    arrays : dict, optional
        Name -> array of numbers or strings, saved as ``arrays/<name>``.
    theta : ndarray (n_params,), optional
        A vector to save instead of ``model.theta`` (checked for layout and finiteness).
    model_state : ndarray (n_state,), optional
        A vector to save instead of ``model.state``.
    kind : str, default "model"
        What the file holds ("model", "estimator", a checkpoint's kind).

    Returns
    -------
    str
        The path written (with ``.npz`` appended if it had no suffix).

    Raises
    ------
    TypeError
        A node class is not registered, an array holds objects, or ``meta`` is not JSON.
    ValueError
        theta or the state has the wrong dtype or shape, or is not finite (the file is not written).
    """
    path = os.fspath(path)
    if not os.path.splitext(path)[1]:
        path += ".npz"
    # Refuse non-finite vectors, so that a diverged run never overwrites a good file.
    payload = {"theta": _vector("theta", model.theta, theta, path)}
    if model.state.size:
        payload["state"] = _vector("model_state", model.state, model_state, path)
    for name, a in (arrays or {}).items():
        a = np.asarray(a)
        if a.dtype.kind not in "biufcUS":
            raise TypeError(f"save: array {name!r} has dtype {a.dtype}; only numbers and strings load "
                            "without pickle")
        payload[f"arrays/{name}"] = a
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "model": _describe(model),
              "meta": meta or {}, "arrays": {k: _digest(a) for k, a in payload.items()}}
    try:
        text = json.dumps(header, default=_json_default)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save: meta must hold JSON types: {e}") from None
    payload["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _atomic_write(path, payload)
    return path


def split_state(state: dict) -> tuple:
    """An optimizer state as (JSON scalars, arrays), each value restorable to its exact type."""
    scalars, arrays = {}, {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[f"optimizer/{key}"] = value
        elif isinstance(value, np.generic):  # a numpy scalar keeps its dtype through a 0-d array
            arrays[f"optimizer_scalar/{key}"] = np.asarray(value)
        elif value is None or isinstance(value, (bool, numbers.Integral, float, str)):
            scalars[key] = value
        else:
            raise TypeError(f"Checkpoint: optimizer state {key!r} is a {type(value).__name__}; "
                            "get_state() must return numbers, strings and numpy arrays")
    return scalars, arrays


def join_state(scalars: dict, arrays: dict) -> dict:
    """The inverse of ``split_state`` (arrays keyed ``optimizer/…`` and ``optimizer_scalar/…``)."""
    state = dict(scalars)
    for key, value in arrays.items():
        group, name = key.split("/", 1)
        state[name] = value[()] if group == "optimizer_scalar" else value
    return state


