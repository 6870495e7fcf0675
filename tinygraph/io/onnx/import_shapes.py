"""Import handlers for constants, shape arithmetic and views (``imp``: the ``Importer`` of ``views``).

Ops whose inputs are all constants are evaluated with numpy (an exporter's shape arithmetic: the
batch size is ``BATCH`` in it); on tensors, Reshape/Flatten/Squeeze/Unsqueeze/Transpose change only
the view, and Slice/Gather become tinygraph Slice nodes (or a recurrent layer's last state).
"""
from __future__ import annotations

import numpy as np

from ...nodes import GRU, LSTM, Embedding, Flatten, SimpleRNN, Slice
from .views import BATCH, Tensor, const, only

__all__ = ["SHAPE_HANDLERS"]

_NUMPY_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
                11: np.float64}

def _shape(imp, node, args, attrs):
    x = args[0]
    shape = np.array(imp.shape(x) if isinstance(x, Tensor) else x.shape, dtype=np.int64)
    return [shape[attrs.get("start", 0):attrs.get("end", None)]]


def _constant(imp, node, args, attrs):
    from .read import tensor_array
    for a in node.attribute:
        if a.name == "value":
            return [tensor_array(a.t, imp.where, imp.budget)]
        if a.name == "sparse_value":
            imp.fail("sparse constants are not read")
    for k in ("value_float", "value_int"):
        if k in attrs:
            return [np.array(attrs[k], dtype=np.float32 if k == "value_float" else np.int64)]
    for k in ("value_floats", "value_ints"):
        if k in attrs:
            return [imp.constant(np.array(attrs[k], dtype=np.float32 if k == "value_floats" else np.int64))]
    imp.fail(f"a Constant with attributes {sorted(attrs)} is not read")


def _filled(imp, value, shape) -> np.ndarray:
    """``value`` broadcast to ``shape``: a zero-stride view, whatever the shape (the batch may be in it)."""
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        imp.fail(f"cannot fill a negative shape {shape}")
    return np.broadcast_to(value, shape)


def _constant_of_shape(imp, node, args, attrs):
    from onnx import numpy_helper
    value = np.zeros((), np.float32)
    for a in node.attribute:
        if a.name == "value":
            value = numpy_helper.to_array(a.t).reshape(())
    return [_filled(imp, value, const(imp, args[0]))]


def _expand(imp, node, args, attrs):
    x, shape = const(imp, args[0]), const(imp, args[1], 1)
    try:
        out = np.broadcast_shapes(x.shape, tuple(int(s) for s in shape))
    except ValueError:
        hint = "; was the file exported with a fixed batch size? (export with a dynamic batch axis)" \
            if BATCH in shape else ""
        imp.fail(f"cannot expand {x.shape} to {tuple('N' if s == BATCH else int(s) for s in shape)}{hint}")
    return [_filled(imp, x, out)]


def _cast(imp, node, args, attrs):
    x = args[0]
    if isinstance(x, Tensor):  # tinygraph computes in the model's dtype; token ids stay whole numbers
        return [x]
    to = attrs.get("to")
    if to not in _NUMPY_TYPES:
        imp.fail(f"cast to data type {to} is not supported")
    imp.small(x)
    return [imp.constant(x.astype(_NUMPY_TYPES[to]))]


def _slice_args(imp, args, ndim):
    starts, ends = const(imp, args[1], 1), const(imp, args[2], 2)
    axes = const(imp, args[3], 3) if len(args) > 3 and args[3] is not None else np.arange(len(starts))
    steps = const(imp, args[4], 4) if len(args) > 4 and args[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a) % ndim] = slice(int(s), int(e), int(st))
    return index


def _slice(imp, node, args, attrs):
    x = args[0]
    if not isinstance(x, Tensor):
        return [x[tuple(_slice_args(imp, args, x.ndim))]]
    shape = imp.shape(x)
    index = _slice_args(imp, args, len(shape))
    changed = [(a, s) for a, s in enumerate(index) if range(shape[a])[s] != range(shape[a])]
    if not changed:
        return [x]
    if len(changed) > 1:
        imp.fail("slices along several axes at once are not supported")
    a, s = changed[0]
    kept = range(shape[a])[s]
    d = x.dims[a]
    if d in (None, 0) or kept.step != 1 or not len(kept):
        imp.fail(f"slice {s} along axis {a} is not a non-empty, step-1 slice of a feature axis")
    sliced = imp.add(Slice(kept.start, kept.stop, axis=d), x.node)  # acts on the node's own axis d
    return [Tensor(sliced.node, x.dims)]


def _gather(imp, node, args, attrs):
    data, index = args[0], args[1]
    axis = attrs.get("axis", 0)
    if isinstance(data, np.ndarray) and isinstance(index, Tensor):
        if axis != 0 or data.ndim != 2:
            imp.fail("a Gather reading token ids must take rows (axis 0) of a 2-D table")
        ids = imp.as_node(index, "index")
        return [imp.add(Embedding(*data.shape), ids, params={"W": data})]
    if isinstance(data, np.ndarray):
        imp.small(data, index)
        return [imp.constant(np.take(data, const(imp, index, 1), axis=axis))]
    index = const(imp, index, 1)
    if index.ndim != 0:
        imp.fail("a Gather on the model's tensors must take one index (a scalar), as x[:, -1]")
    shape = imp.shape(data)
    axis %= len(shape)
    d, i = data.dims[axis], int(index) % shape[axis]
    if d in (None, 0):
        imp.fail(f"cannot take index {int(index)} along axis {axis} (the batch or an inserted axis)")
    rnn = data.node
    if (isinstance(rnn, (SimpleRNN, LSTM, GRU)) and rnn.return_sequences and d == 1 and i == shape[axis] - 1
            and data.sole and imp.readers.get(node.input[0], 0) == 1):
        rnn.return_sequences = False  # x[:, -1] of a recurrent layer's outputs: its last state, no copy
        imp.shapes[rnn] = (BATCH, rnn.units)
        dims = tuple(None if k is None else (k if k < 1 else k - 1) for j, k in enumerate(data.dims) if j != axis)
        return [Tensor(rnn, dims)]
    picked = imp.add(Slice(i, i + 1, axis=d), data.node)
    return [Tensor(picked.node, tuple(k for j, k in enumerate(data.dims) if j != axis))]


def _view_op(imp, x, shape):
    if isinstance(x, Tensor):
        return imp.view(x, shape)
    if [s for s in x.shape if s != 1] != [s for s in shape if s != 1]:
        imp.small(x)  # a real reshape of a filled view would copy it
    return x.reshape(shape)


def _reshape(imp, node, args, attrs):
    x, target = args[0], [int(s) for s in const(imp, args[1], 1)]
    only(imp, attrs, {"allowzero": None})
    old = imp.shape(x) if isinstance(x, Tensor) else x.shape
    if not attrs.get("allowzero", 0):
        target = [old[k] if s == 0 else s for k, s in enumerate(target)]
    if -1 in target:
        k = target.index(-1)
        rest = int(np.prod([s for j, s in enumerate(target) if j != k], dtype=object))
        target[k] = int(np.prod(old, dtype=object)) // max(rest, 1)
    return [_view_op(imp, x, tuple(target))]


def _flatten(imp, node, args, attrs):
    x = args[0]
    shape = imp.shape(x) if isinstance(x, Tensor) else x.shape
    axis = attrs.get("axis", 1) % max(len(shape), 1)
    lead, rest = int(np.prod(shape[:axis], dtype=object)), int(np.prod(shape[axis:], dtype=object))
    if isinstance(x, Tensor) and axis == 1 and x.dims == tuple(range(len(shape))) and len(shape) > 2:
        return [imp.add(Flatten(), x.node)]
    return [_view_op(imp, x, (lead, rest))]


def _axes(imp, args, attrs, ndim):
    axes = attrs.get("axes")
    if axes is None and len(args) > 1 and args[1] is not None:
        axes = const(imp, args[1], 1).tolist()
    return None if axes is None else [int(a) % ndim for a in axes]


def _squeeze(imp, node, args, attrs):
    x = args[0]
    shape = imp.shape(x) if isinstance(x, Tensor) else x.shape
    axes = _axes(imp, args, attrs, len(shape))
    axes = [a for a, s in enumerate(shape) if s == 1] if axes is None else axes
    return [_view_op(imp, x, tuple(s for a, s in enumerate(shape) if a not in axes))]


def _unsqueeze(imp, node, args, attrs):
    x = args[0]
    shape = list(imp.shape(x) if isinstance(x, Tensor) else x.shape)
    axes = sorted(_axes(imp, args, attrs, len(shape) + len(args[1] if len(args) > 1 else attrs["axes"])))
    for a in axes:
        shape.insert(a, 1)
    return [_view_op(imp, x, tuple(shape))]


def _transpose(imp, node, args, attrs):
    x = args[0]
    if not isinstance(x, Tensor):
        return [np.transpose(x, attrs.get("perm"))]
    perm = attrs.get("perm", list(range(len(x.dims)))[::-1])
    return [Tensor(x.node, tuple(x.dims[p] for p in perm), x.sole and imp.readers.get(node.input[0], 0) == 1)]


def _identity(imp, node, args, attrs):
    return [args[0]]


def _dropout(imp, node, args, attrs):
    if len(node.output) > 1 and node.output[1]:
        imp.fail("the Dropout mask output is not supported (evaluation mode has none)")
    return [args[0]]


def _binary(fn, name):
    def handler(imp, node, args, attrs):
        if isinstance(args[0], np.ndarray) and isinstance(args[1], np.ndarray):
            imp.small(*args)
            return [imp.constant(fn(args[0], args[1]), f"{name}'s result")]
        imp.fail(f"{name} on the model's tensors has no tinygraph counterpart (only on constants)")
    return handler


SHAPE_HANDLERS = {
    "Constant": _constant,
    "Shape": _shape,
    "ConstantOfShape": _constant_of_shape,
    "Expand": _expand,
    "Cast": _cast,
    "Slice": _slice,
    "Gather": _gather,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": _transpose,
    "Identity": _identity,
    "Dropout": _dropout,
    "Sub": _binary(np.subtract, "Sub"),
    "Mul": _binary(np.multiply, "Mul"),
    "Div": _binary(lambda a, b: a // b if a.dtype.kind in "iu" else a / b, "Div"),
    "Equal": _binary(np.equal, "Equal"),
}
