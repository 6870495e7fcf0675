"""Reading an ONNX file with the care our own format gets: bounded, checked, nothing executed.

The bytes are parsed by onnx's protobuf loader (data only: no code runs). Before any tensor is
turned into an array, its declared size (dims × itemsize) is checked against the data the file
actually holds, so a small file cannot ask for a large allocation. Weights stored beside the model
(``external_data``, what ``torch.onnx.export`` writes by default) are read only from a plain file
name in the model's own directory (no absolute path, no ``..``, no link out of it), at an offset
and length that lie inside that file and match the tensor's declared size. Sparse initializers and
local functions are refused.
"""
from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["OnnxImportError", "load_model", "require_onnx", "tensor_array"]

# TensorProto data types we read, with the bytes one element takes
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
_TYPED_FIELD = {1: "float_data", 2: "int32_data", 3: "int32_data", 4: "int32_data", 5: "int32_data",
                6: "int32_data", 7: "int64_data", 9: "int32_data", 10: "int32_data", 11: "double_data",
                12: "uint64_data", 13: "uint64_data", 16: "int32_data"}


def require_onnx(who: str):
    """The onnx package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"{who} needs the onnx package: pip install 'tinygraph[onnx]' "
                          "(onnx, and onnxruntime to run the files)") from None
    return onnx


class OnnxImportError(ValueError):
    """An ONNX model tinygraph cannot (or will not) read; the message names the op or tensor."""


def _read_external(t, where: str, base: str | None) -> None:
    """Move the bytes of an external tensor into ``t.raw_data``, after checking where they come from."""
    info = {e.key: e.value for e in t.external_data}
    if base is None:
        raise OnnxImportError(f"{where}: tensor {t.name!r} keeps its data in another file; pass the model's "
                              "path (not bytes) so that file can be found beside it")
    location = info.get("location", "")
    path = os.path.realpath(os.path.join(base, location))
    if (not location or os.path.isabs(location) or ".." in location.replace("\\", "/").split("/")
            or os.path.dirname(path) != os.path.realpath(base) or not os.path.isfile(path)):
        raise OnnxImportError(f"{where}: tensor {t.name!r} names external data {location!r}; only a file in the "
                              "model's own directory is read")
    try:
        offset, length = int(info.get("offset", 0)), int(info["length"]) if "length" in info else None
    except ValueError:
        raise OnnxImportError(f"{where}: tensor {t.name!r} has a malformed external offset/length {info}") from None
    size = os.path.getsize(path)
    nbytes = math.prod(t.dims) * _ITEMSIZE.get(t.data_type, 1)
    length = nbytes if length is None else length
    if offset < 0 or length != nbytes or offset + length > size:
        raise OnnxImportError(f"{where}: tensor {t.name!r} declares {nbytes} bytes at offset {offset} (length "
                              f"{length}) of {location!r}, which holds {size} bytes")
    with open(path, "rb") as f:
        f.seek(offset)
        t.raw_data = f.read(length)
    del t.external_data[:]
    t.data_location = 0


def _check_tensor(t, where: str, budget: int) -> None:
    if t.data_location == 1:  # EXTERNAL, and not read in by load_model
        raise OnnxImportError(f"{where}: tensor {t.name!r} keeps its data in another file")
    if t.data_type not in _ITEMSIZE:
        raise OnnxImportError(f"{where}: tensor {t.name!r} has data type {t.data_type}, which tinygraph "
                              "does not read (numbers only)")
    if any(d < 0 for d in t.dims):
        raise OnnxImportError(f"{where}: tensor {t.name!r} has a negative dimension {list(t.dims)}")
    n = math.prod(t.dims)
    nbytes = n * _ITEMSIZE[t.data_type]
    if t.raw_data and nbytes > budget:
        raise OnnxImportError(f"{where}: tensor {t.name!r} declares shape {list(t.dims)} ({nbytes} bytes), "
                              f"more than the {budget} bytes the file holds")
    held = len(t.raw_data) if t.raw_data else len(getattr(t, _TYPED_FIELD[t.data_type])) * _ITEMSIZE[t.data_type]
    if held != nbytes:
        raise OnnxImportError(f"{where}: tensor {t.name!r} declares shape {list(t.dims)} ({nbytes} bytes) "
                              f"but holds {held} bytes of data")


def tensor_array(t, where: str, budget: int) -> np.ndarray:
    """The numpy array of TensorProto ``t``, after the size checks above."""
    from onnx import numpy_helper
    _check_tensor(t, where, budget)
    return numpy_helper.to_array(t)


def _walk_tensors(graph):
    for t in graph.initializer:
        yield t, f"initializer {t.name!r}"
    for i, node in enumerate(graph.node):
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t, f"{node.op_type} at position {i} (attribute {a.name!r})"
            for t in a.tensors:
                yield t, f"{node.op_type} at position {i} (attribute {a.name!r})"


def load_model(source):
    """An ``onnx.ModelProto`` from a path, bytes or a ModelProto, with every tensor size checked.

    Returns ``(model, budget)``: ``budget`` is the file's size in bytes, the bound every tensor
    (and every constant computed later) is held to.
    """
    onnx = require_onnx("from_onnx")
    base = None
    if isinstance(source, onnx.ModelProto):
        model = source
        budget = model.ByteSize()
    else:
        if isinstance(source, (bytes, bytearray)):
            data = bytes(source)
        else:
            base = os.path.dirname(os.path.abspath(os.fspath(source)))
            with open(os.fspath(source), "rb") as f:
                data = f.read()
        budget = len(data)
        try:
            model = onnx.load_from_string(data)
        except Exception as e:  # protobuf's DecodeError and friends: say which file, keep the cause
            raise OnnxImportError(f"from_onnx: not a readable ONNX model ({type(e).__name__}: {e})") from e
    graph = model.graph
    if len(graph.sparse_initializer):
        raise OnnxImportError("from_onnx: sparse initializers are not read")
    if len(model.functions):
        raise OnnxImportError(f"from_onnx: the model defines local functions "
                              f"{[f.name for f in model.functions]}; tinygraph reads plain operator graphs")
    for t, where in _walk_tensors(graph):
        if t.data_location == 1:
            _read_external(t, where, base)
            budget += len(t.raw_data)
        _check_tensor(t, where, budget)
    return model, budget
