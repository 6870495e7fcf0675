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

This module writes and checks files; rebuilding a model from one is ``tinygraph.io``'s (it sits
above ``tinygraph.graph``, which this module never imports).
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import tempfile
import warnings
import zipfile
from typing import NamedTuple

import numpy as np

from . import nodes
from .nodes import Loss, Node
from .validation import all_finite

__all__ = ["FORMAT", "VERSION", "FormatError", "Saved", "read_checked", "register_node", "write"]

FORMAT, VERSION = "tinygraph", 1
_NODES: dict = {}


class FormatError(ValueError):
    """A file that is not a readable tinygraph file (foreign, truncated, corrupted, too new)."""


class Saved(NamedTuple):
    """What ``read`` returns: the model, the JSON ``meta`` and the extra ``arrays`` saved with it."""

    model: object  # a tinygraph.Graph
    meta: dict
    arrays: dict
    kind: str


def register_node(cls: type) -> type:
    """Class decorator: make nodes of ``cls`` saveable, rebuilt on load as ``cls(**get_config())``.

    ``get_config()`` must return JSON types and every constructor argument that changes the node.
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
    if type(model).__module__ != "tinygraph.graph" or type(model).__name__ not in ("Graph", "Sequential"):
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
        try:
            config = json.loads(json.dumps(config, default=_json_default, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise TypeError(f"save: node {node.name!r}: get_config() must return JSON types: {e}") from None
        nodes.append({"type": cls.__name__, "config": config, "inputs": [x.name for x in node.inputs],
                      "params": [[p, list(shape)] for p, shape in node.params]})
    rs = model.random_state
    return {"class": type(model).__name__, "l2": model.l2, "init": model.init_name,
            "dtype": model.dtype.name, "nodes": nodes,
            "random_state": int(rs) if isinstance(rs, (int, np.integer)) else None,
            "output": model.nodes[-1].name}


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


def write(model, path, *, meta: dict | None = None, arrays: dict | None = None,
          theta: np.ndarray | None = None, kind: str = "model") -> str:
    """Write ``model`` (graph, options and theta) to ``path`` atomically; returns the path.

    ``meta`` (JSON types) and ``arrays`` (name -> numeric array) travel with the model, for
    estimators and checkpoints; ``theta`` saves another vector of the model's layout.
    The path is used as given (no ``.npz`` is appended).
    """
    path = os.fspath(path)
    theta = model.theta if theta is None else np.asarray(theta)
    if theta.shape != model.theta.shape or theta.dtype != model.dtype:
        raise ValueError(f"save: theta must be a {model.dtype} array of shape {model.theta.shape}, "
                         f"got {theta.dtype} {theta.shape}")
    if not np.isfinite(theta).all():
        # Refuse, so that a diverged run never overwrites a good file.
        raise ValueError(f"save: theta contains NaN or inf; not writing {path}")
    payload = {"theta": theta}
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


_MAX_HEADER = 16 << 20  # bytes of JSON: far more than any real model's description
KINDS = ("model", "estimator", "checkpoint")


def read_checked(path: str) -> tuple:
    """``(header, theta, arrays)`` of a file, validated before anything large is read.

    The header is read first (at most 16 MiB) and checked completely: its fields' types, every
    node rebuilt from its config to the parameter shapes it declares (no parameter is allocated),
    the archive holding exactly the declared members, and theta's on-disk shape. Only then are the
    declared members read, each into an array of its declared shape and never a byte more, and
    checked against its digest; theta must be finite. Every refusal is a ``FormatError``.
    """
    with open(path, "rb") as f:  # our own handle: closed even when zipfile gives up halfway
        magic = f.read(4)
        if not magic:
            raise FormatError(f"{path}: the file is empty")
        if len(magic) < 4 and b"PK\x03\x04".startswith(magic):
            raise FormatError(f"{path}: truncated (only {len(magic)} bytes)")
        if magic == b"\x93NUM":
            raise FormatError(f"{path}: not a tinygraph file (a single .npy array, not an .npz archive)")
        if magic != b"PK\x03\x04":
            raise FormatError(f"{path}: not a tinygraph file (not an .npz archive)")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                return _read_zip(path, zf, os.fstat(f.fileno()).st_size)
        except FormatError:
            raise
        except Exception as e:  # noqa: BLE001 -- zipfile and numpy raise a zoo of types on damaged archives
            if str(e) == "File is not a zip file":  # zipfile's words when the end record is missing
                raise FormatError(f"{path}: truncated (the archive's directory at its end is missing)") from None
            raise FormatError(f"{path}: truncated or corrupted ({type(e).__name__}: {e})") from None


def _read_zip(path: str, zf: zipfile.ZipFile, file_size: int) -> tuple:
    infos = {info.filename: info for info in zf.infolist()}
    if "header.npy" not in infos:
        raise FormatError(f"{path}: an .npz archive but not a tinygraph file (no header)")
    if infos["header.npy"].file_size > _MAX_HEADER:
        raise FormatError(f"{path}: corrupted (a header of {infos['header.npy'].file_size} bytes)")
    raw = _read_member(path, zf, infos["header.npy"], "header", file_size)
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{path}: corrupted header ({e})") from None
    _check_header(path, header)
    declared = {f"{name}.npy" for name in header["arrays"]} | {"header.npy"}
    if set(infos) != declared:
        raise FormatError(f"{path}: corrupted (members {sorted(set(infos) - declared)} are not declared in "
                          f"the header, {sorted(declared - set(infos))} are missing)")
    n_params = sum(math.prod(shape) for spec in header["model"]["nodes"] for _, shape in spec["params"])
    with zf.open(infos["theta.npy"]) as f:
        shape = _npy_header(path, f, "theta")[0]
    if len(shape) != 1 or shape[0] != n_params:
        raise FormatError(f"{path}: the nodes declare {n_params} parameters, theta has {math.prod(shape)}")
    try:
        _check_nodes(header["model"])
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None
    dtype = np.dtype(header["model"]["dtype"])
    arrays = {}
    for name in sorted(header["arrays"], key=lambda k: k != "theta"):  # theta first
        want = (dtype, (n_params,)) if name == "theta" else None
        a = arrays[name] = _read_member(path, zf, infos[f"{name}.npy"], name, file_size, want)
        if _digest(a) != header["arrays"][name]:
            raise FormatError(f"{path}: corrupted (checksum mismatch in {name!r})")
    if not all_finite(arrays["theta"]):
        raise FormatError(f"{path}: theta contains NaN or inf (the saver never writes such a file)")
    return header, arrays.pop("theta"), arrays


def _read_member(path, zf, info, name, file_size, want=None) -> np.ndarray:
    """One ``.npy`` member as a new array, reading no more than its declared shape needs."""
    if info.compress_size > file_size:
        raise FormatError(f"{path}: corrupted (member {name!r} is larger than the file)")
    with zf.open(info) as f:
        shape, fortran, dtype = _npy_header(path, f, name)
        if want is not None and (dtype, shape) != want:
            raise FormatError(f"{path}: theta is {dtype} {shape}, the model needs {want[0]} {want[1]}")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != f.tell() + nbytes:
            raise FormatError(f"{path}: corrupted (member {name!r} holds {info.file_size - f.tell()} "
                              f"bytes of data, its shape {shape} needs {nbytes})")
        a = np.empty(shape[::-1] if fortran else shape, dtype)
        view, done = memoryview(a.reshape(-1).view(np.uint8)), 0
        while done < nbytes:
            got = f.readinto(view[done:])
            if not got:
                raise FormatError(f"{path}: truncated (member {name!r} ends early)")
            done += got
    return a.T if fortran else a


def _npy_header(path, f, name) -> tuple:
    version = np.lib.format.read_magic(f)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise FormatError(f"{path}: corrupted (member {name!r} has .npy version {version})")
    shape, fortran, dtype = read_header(f)
    if dtype.hasobject:
        raise FormatError(f"{path}: member {name!r} holds Python objects, which are never read "
                          "(allow_pickle=False)")
    return shape, fortran, dtype


def _is_int(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_header(path: str, header) -> None:
    """The header's fields and their types: whatever the saver writes, nothing else."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise FormatError(f"{path}: not a tinygraph file (format {header.get('format')!r})"
                          if isinstance(header, dict) else f"{path}: not a tinygraph file")
    version = header.get("version")
    if not _is_int(version, 1):
        raise FormatError(f"{path}: corrupted header (format version {version!r})")
    if version > VERSION:
        raise FormatError(f"{path}: written by a newer tinygraph (format version {version}; this one "
                          f"reads up to {VERSION}); upgrade tinygraph to load it")
    problems = []
    if header.get("kind", "model") not in KINDS:
        problems.append(f"kind {header.get('kind')!r} is not one of {KINDS}")
    if not isinstance(header.get("meta", {}), dict):
        problems.append(f"meta is a {type(header['meta']).__name__}, not an object")
    digests = header.get("arrays")
    if not (isinstance(digests, dict) and "theta" in digests
            and all(isinstance(k, str) and isinstance(v, str) for k, v in digests.items())):
        problems.append("arrays must map names, theta among them, to digests")
    model = header.get("model")
    if not isinstance(model, dict):
        problems.append("model is missing")
    else:
        if model.get("class") not in ("Graph", "Sequential"):
            problems.append(f"model class {model.get('class')!r} is not Graph or Sequential")
        if model.get("dtype") not in ("float32", "float64"):
            problems.append(f"dtype {model.get('dtype')!r} is not float32 or float64")
        l2 = model.get("l2")
        if not (isinstance(l2, (int, float)) and not isinstance(l2, bool) and 0 <= l2 < math.inf):
            problems.append(f"l2 {l2!r} is not a finite non-negative number")
        if not (model.get("init") is None or isinstance(model.get("init"), str)):
            problems.append(f"init {model.get('init')!r} is not a name")
        if not (model.get("random_state") is None or _is_int(model.get("random_state"))):
            problems.append(f"random_state {model.get('random_state')!r} is not an integer")
        if not isinstance(model.get("output"), str):
            problems.append(f"output {model.get('output')!r} is not a node name")
        nodes = model.get("nodes")
        if not (isinstance(nodes, list) and nodes):
            problems.append("nodes must be a non-empty list")
        else:
            for i, spec in enumerate(nodes):
                problems += _check_spec(i, spec)
    if problems:
        raise FormatError(f"{path}: corrupted header ({'; '.join(problems)})")


def _check_spec(i: int, spec) -> list:
    if not isinstance(spec, dict):
        return [f"node {i} is not an object"]
    out = []
    if not isinstance(spec.get("type"), str):
        out.append(f"node {i}: type {spec.get('type')!r} is not a name")
    config = spec.get("config")
    if not (isinstance(config, dict) and isinstance(config.get("name"), str)):
        out.append(f"node {i}: config must be an object with a name")
    if not (isinstance(spec.get("inputs"), list) and all(isinstance(x, str) for x in spec["inputs"])):
        out.append(f"node {i}: inputs must be a list of node names")
    params = spec.get("params")
    if not (isinstance(params, list) and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], list)
            and all(_is_int(d) for d in p[1]) for p in params)):
        out.append(f"node {i}: params must be a list of [name, shape] pairs, got {params!r}")
    return out


def _check_nodes(desc: dict) -> int:
    """Rebuild every node from its config, shapes only: its parameters must be those declared.

    Returns the number of parameters. Nothing the size of a parameter is allocated here, so a
    small file whose config asks for a huge layer is refused at the cost of its header.
    """
    made = {}
    for spec in desc["nodes"]:
        cls = _NODES.get(spec["type"])
        if cls is None:
            raise FormatError(f"node type {spec['type']!r} is not registered; import the module that "
                              "defines it (decorated with @tinygraph.register_node) before loading")
        name = spec["config"]["name"]
        try:
            node = cls(**spec["config"])
            if spec["inputs"]:
                node(*[made[x] for x in spec["inputs"]])
            node.in_shapes = tuple(x.out_shape for x in node.inputs)
            node.out_shape = tuple(node.build(*node.in_shapes))
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"the model description does not rebuild at node {name!r} "
                              f"({type(e).__name__}: {e})") from None
        made[name] = node
        saved = [(p, tuple(shape)) for p, shape in spec["params"]]
        if list(node.params) != saved:
            raise FormatError(f"node {name!r} rebuilds as {node!r} with parameters {list(node.params)}, "
                              f"the file has {saved}; does its get_config() return every constructor "
                              "argument?")
    if desc["output"] not in made:
        raise FormatError(f"the output {desc['output']!r} is not a node of the file")
    return sum(math.prod(shape) for spec in desc["nodes"] for _, shape in spec["params"])


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


