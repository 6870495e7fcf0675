"""Reading a model file safely: everything checked before anything large is read.

A file from someone else is data, never code, and never a way to exhaust memory: the header is read
first (bounded), checked completely, every node rebuilt from its config to the parameter shapes it
declares (shapes only), and only then are the declared members read, each into its declared shape.
The format itself is ``tinygraph.io.format``'s; ``tinygraph.io`` turns the result into a model.
"""
from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from .format import _NODES, FORMAT, VERSION, FormatError, _digest
from ..validation import all_finite

__all__ = ["KINDS", "read_checked"]

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
    packed = sorted(name for name, info in infos.items() if info.compress_type != zipfile.ZIP_STORED)
    if packed:  # the saver stores members; inflating one could take any memory its declared shape allows
        raise FormatError(f"{path}: members {packed} are compressed; tinygraph writes stored members only "
                          "and never inflates a file (load and re-save it with the tinygraph that wrote it, "
                          "or unzip and re-zip it with -0)")
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
        made = _check_nodes(header["model"])
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None
    dtype = np.dtype(header["model"]["dtype"])
    n_states = sum(node.state_size for node in made.values())
    # a file of before state existed declares no states (its model starts from the initial ones); one
    # that declares them always holds them
    declared = sum(math.prod(shape) for spec in header["model"]["nodes"] for _, shape in spec.get("states", []))
    if declared and "state" not in header["arrays"]:
        raise FormatError(f"{path}: the nodes declare {declared} running statistics but the file has no state "
                          "(the saver always writes it)")
    arrays, sizes = {}, {"theta": n_params, "state": n_states}
    for name in sorted(header["arrays"], key=lambda k: k != "theta"):  # theta first
        want = (dtype, (sizes[name],)) if name in sizes else None
        a = arrays[name] = _read_member(path, zf, infos[f"{name}.npy"], name, file_size, want)
        if _digest(a) != header["arrays"][name]:
            raise FormatError(f"{path}: corrupted (checksum mismatch in {name!r})")
    for name in ("theta", "state"):
        if name in arrays and not all_finite(arrays[name]):
            raise FormatError(f"{path}: {name} contains NaN or inf (the saver never writes such a file)")
    if "state" in arrays:
        _check_variances(path, made, arrays["state"])
    return header, arrays.pop("theta"), arrays


def _read_member(path, zf, info, name, file_size, want=None) -> np.ndarray:
    """One ``.npy`` member as a new array, reading no more than its declared shape needs."""
    if info.compress_size > file_size:
        raise FormatError(f"{path}: corrupted (member {name!r} is larger than the file)")
    with zf.open(info) as f:
        shape, fortran, dtype = _npy_header(path, f, name)
        if want is not None and (dtype, shape) != want:
            raise FormatError(f"{path}: {name} is {dtype} {shape}, the model needs {want[0]} {want[1]}")
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
    for key in ("params", "states"):
        pairs = spec.get(key, [])
        if not (isinstance(pairs, list) and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], list)
                and all(_is_int(d) for d in p[1]) for p in pairs)):
            out.append(f"node {i}: {key} must be a list of [name, shape] pairs, got {pairs!r}")
    if "params" not in spec:
        out.append(f"node {i}: params are missing")
    return out


def _check_nodes(desc: dict) -> dict:
    """Rebuild every node from its config, shapes only: its parameters must be those declared.

    Returns the nodes by name, in the file's order (their ``states`` lay out the state). Nothing the size of a
    parameter is allocated here, so a small file whose config asks for a huge layer is refused at
    the cost of its header.
    """
    made = {}
    for spec in desc["nodes"]:
        cls = _NODES.get(spec["type"])
        if cls is None:
            raise FormatError(f"node type {spec['type']!r} is not registered; import the module that "
                              "defines it (decorated with @tinygraph.register_node) before loading")
        name = spec["config"]["name"]
        try:
            node = cls(**saved_config(cls, spec))
            if spec["inputs"]:
                node(*[made[x] for x in spec["inputs"]])
            node.in_shapes = tuple(x.out_shape for x in node.inputs)
            node.out_shape = tuple(node.build(*node.in_shapes))
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise FormatError(f"the model description does not rebuild at node {name!r} "
                              f"({type(e).__name__}: {e})") from None
        made[name] = node
        for key, have in (("params", list(node.params)), ("states", list(node.states))):
            saved = [(p, tuple(shape)) for p, shape in spec.get(key, [])]
            # a file of before state existed declares no states: its model starts from the initial ones
            if have != saved and (key == "params" or key in spec):
                raise FormatError(f"node {name!r} rebuilds as {node!r} with {key} {have}, the file has "
                                  f"{saved}; does its get_config() return every constructor argument?")
    if desc["output"] not in made:
        raise FormatError(f"the output {desc['output']!r} is not a node of the file")
    return made


def _check_variances(path: str, made: dict, state: np.ndarray) -> None:
    """A running variance (a state named ``running_var``, as PyTorch's) is never negative."""
    offset = 0
    for name, node in made.items():
        for sname, shape in node.states:
            size = math.prod(shape)
            part = state[offset:offset + size]
            if sname == "running_var" and part.size and part.min() < 0:
                raise FormatError(f"{path}: node {name!r} has a negative running_var ({part.min():.6g}); "
                                  "a variance never is (the saver never writes such a file)")
            offset += size


def saved_config(cls: type, spec: dict) -> dict:
    """The constructor arguments of a saved node: its config over the class's ``legacy_config``,
    the values an argument added later must take for files written before it existed (so such a
    file rebuilds with the behaviour it was saved with, whatever the new default)."""
    return {**getattr(cls, "legacy_config", {}), **spec["config"]}
