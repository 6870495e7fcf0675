"""One handler per ONNX op: ``f(imp, node, args, attrs) -> outputs`` (``Importer`` in ``import_``).

``args`` are the op's inputs as values: numpy arrays (constants) or ``Tensor`` views of tinygraph
nodes. Ops on constants only are evaluated with numpy (the shape arithmetic of exporters); ops on
tensors add tinygraph nodes, with their weights taken from the constant inputs.
"""
from __future__ import annotations

import numpy as np

from ..nodes import (ELU, GELU, GRU, LSTM, Add, AvgPool2D, BatchNorm, Concat, Conv2D, Dense, Embedding,
                     Flatten, GlobalAvgPool2D, LayerNorm, LeakyReLU, LogSoftmax, MaxPool2D, ReLU, Sigmoid,
                     SimpleRNN, Slice, Softmax, Softplus, Tanh)
from .gates import from_onnx_blocks
from .import_ import BATCH, Tensor

__all__ = ["HANDLERS"]

_NUMPY_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
                11: np.float64}


def _const(imp, value, i: int = 0) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        imp.fail(f"input {i} must be a constant (weights, a shape), but it is computed from the model's inputs")
    return value


def _tensor(imp, value, i: int = 0) -> Tensor:
    if not isinstance(value, Tensor):
        imp.fail(f"input {i} must be computed from the model's inputs; constants are not read here")
    return value


def _only(imp, attrs: dict, allowed: dict) -> None:
    """Refuse any attribute outside ``allowed`` (name -> the values tinygraph supports, None: any)."""
    for k, v in attrs.items():
        if k not in allowed:
            imp.fail(f"attribute {k}={v!r} has no tinygraph counterpart")
        ok = allowed[k]
        if ok is not None and v not in ok:
            imp.fail(f"attribute {k}={v!r} is not supported (tinygraph supports {list(ok)})")


# ---- constants: numpy ---------------------------------------------------------------------------------

def _numpy(fn, n_out: int = 1):
    def handler(imp, node, args, attrs):
        if any(isinstance(a, Tensor) for a in args):
            imp.fail(f"{node.op_type} on the model's tensors has no tinygraph counterpart (only on constants)")
        out = fn(imp, [a for a in args], attrs)
        return [imp.constant(out, f"{node.op_type}'s result")]
    return handler


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
    return [_filled(imp, value, _const(imp, args[0]))]


def _expand(imp, node, args, attrs):
    x, shape = _const(imp, args[0]), _const(imp, args[1], 1)
    try:
        out = np.broadcast_shapes(x.shape, tuple(int(s) for s in shape))
    except ValueError:
        imp.fail(f"cannot expand {x.shape} to {tuple(shape)}")
    return [_filled(imp, x, out)]


def _cast(imp, node, args, attrs):
    x = args[0]
    if isinstance(x, Tensor):  # tinygraph computes in the model's dtype; token ids stay whole numbers
        return [x]
    to = attrs.get("to")
    if to not in _NUMPY_TYPES:
        imp.fail(f"cast to data type {to} is not supported")
    return [imp.constant(x.astype(_NUMPY_TYPES[to]))]


def _slice_args(imp, args, ndim):
    starts, ends = _const(imp, args[1], 1), _const(imp, args[2], 2)
    axes = _const(imp, args[3], 3) if len(args) > 3 and args[3] is not None else np.arange(len(starts))
    steps = _const(imp, args[4], 4) if len(args) > 4 and args[4] is not None else np.ones(len(starts), np.int64)
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
        return [imp.constant(np.take(data, _const(imp, index, 1), axis=axis))]
    index = _const(imp, index, 1)
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
    return imp.view(x, shape) if isinstance(x, Tensor) else x.reshape(shape)


def _reshape(imp, node, args, attrs):
    x, target = args[0], [int(s) for s in _const(imp, args[1], 1)]
    _only(imp, attrs, {"allowzero": None})
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
        axes = _const(imp, args[1], 1).tolist()
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
            return [imp.constant(fn(args[0], args[1]), f"{name}'s result")]
        if name == "Add":
            return _add_tensors(imp, args)
        imp.fail(f"{name} on the model's tensors has no tinygraph counterpart (only on constants)")
    return handler


def _add_tensors(imp, args):
    t, c = (args[0], args[1]) if isinstance(args[0], Tensor) else (args[1], args[0])
    if isinstance(c, Tensor):
        if imp.shape(t) != imp.shape(c):
            imp.fail(f"adds tensors of different shapes {imp.shape(t)} and {imp.shape(c)} (no broadcasting)")
        return [imp.add(Add(), imp.as_node(t, "first input"), imp.as_node(c, "second input"))]
    dense = t.node
    if not t.open_bias or c.size != dense.n_out or c.shape[-1:] != (dense.n_out,):
        imp.fail("adding a constant to a tensor is read only as the bias of the MatMul just before it")
    imp.params[dense]["b"] = c.reshape(-1)
    return [Tensor(dense, t.dims)]


def _gemm(imp, node, args, attrs):
    _only(imp, attrs, {"alpha": None, "beta": None, "transA": (0,), "transB": (0, 1)})
    x, B = _tensor(imp, args[0]), _const(imp, args[1], 1)
    W = (B.T if attrs.get("transB", 0) else B) * np.asarray(attrs.get("alpha", 1.0), B.dtype)
    C = args[2] if len(args) > 2 and args[2] is not None else np.zeros(W.shape[1], W.dtype)
    b = np.broadcast_to(_const(imp, C, 2) * np.asarray(attrs.get("beta", 1.0), W.dtype), (W.shape[1],))
    if attrs.get("alpha", 1.0) == 1.0:
        W = B.T if attrs.get("transB", 0) else B  # the file's numbers as they are: bit for bit
    return [imp.add(Dense(*W.shape), imp.as_node(x), params={"W": W, "b": b})]


def _matmul(imp, node, args, attrs):
    x, W = args
    if isinstance(x, np.ndarray) and isinstance(W, np.ndarray):
        return [imp.constant(np.matmul(x, W))]
    x, W = _tensor(imp, x), _const(imp, W, 1)
    if W.ndim != 2:
        imp.fail(f"the weight of a MatMul must be 2-D, got shape {W.shape}")
    t = imp.add(Dense(*W.shape), imp.as_node(x), params={"W": W, "b": np.zeros(W.shape[1], W.dtype)})
    t.open_bias = imp.readers.get(node.output[0], 0) == 1
    return [t]


def _activation(make, allowed=None):
    def handler(imp, node, args, attrs):
        _only(imp, attrs, allowed or {})
        return [imp.add(make(attrs), imp.as_node(_tensor(imp, args[0])))]
    return handler


def _softmax(cls):
    def handler(imp, node, args, attrs):
        x = _tensor(imp, args[0])
        rank = len(imp.shape(x))
        if attrs.get("axis", -1) % rank != 1:
            imp.fail(f"{node.op_type} over axis {attrs.get('axis', -1)} of a rank-{rank} tensor; tinygraph's "
                     "normalises over axis 1")
        return [imp.add(cls(), imp.as_node(x))]
    return handler


def _conv(imp, node, args, attrs):
    _only(imp, attrs, {"group": (1,), "dilations": None, "strides": None, "pads": None, "kernel_shape": None,
                       "auto_pad": ("NOTSET",)})
    x, W = _tensor(imp, args[0]), _const(imp, args[1], 1)
    if W.ndim != 4 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        imp.fail(f"only 2-D convolutions without dilation are read (weight shape {W.shape})")
    b = _const(imp, args[2], 2) if len(args) > 2 and args[2] is not None else np.zeros(W.shape[0], W.dtype)
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    kh, kw = W.shape[2:]
    strides = tuple(attrs.get("strides", [1, 1]))
    if (top, bottom) == (bottom, top) and (left, right) == (right, left):
        padding = (top, left)
    elif (top, bottom, left, right) == ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2) and strides == (1, 1):
        padding = "same"
    else:
        imp.fail(f"pads {attrs['pads']} (top, left, bottom, right) are neither symmetric nor 'same'")
    conv = Conv2D(W.shape[0], (kh, kw), stride=strides, padding=padding)
    return [imp.add(conv, imp.as_node(x), params={"W": W, "b": b})]


def _pool(cls):
    def handler(imp, node, args, attrs):
        _only(imp, attrs, {"kernel_shape": None, "strides": None, "pads": None, "dilations": None,
                           "ceil_mode": (0,), "auto_pad": ("NOTSET",), "storage_order": (0,),
                           "count_include_pad": (0, 1)})
        if any(attrs.get("pads", [0])) or any(d != 1 for d in attrs.get("dilations", [1])):
            imp.fail(f"padded or dilated pooling is not supported (pads {attrs.get('pads')})")
        k = tuple(attrs["kernel_shape"])
        return [imp.add(cls(k, stride=tuple(attrs.get("strides", k))), imp.as_node(_tensor(imp, args[0])))]
    return handler


def _global_pool(imp, node, args, attrs):
    t = imp.add(GlobalAvgPool2D(), imp.as_node(_tensor(imp, args[0])))
    return [Tensor(t.node, (0, 1, None, None))]  # ONNX keeps (N, C, 1, 1)


def _batchnorm(imp, node, args, attrs):
    _only(imp, attrs, {"epsilon": None, "momentum": None, "training_mode": (0,), "spatial": (1,)})
    x = _tensor(imp, args[0])
    gamma, beta, mean, var = (_const(imp, a, i + 1) for i, a in enumerate(args[1:5]))
    bn = BatchNorm(momentum=1.0 - attrs.get("momentum", 0.9), eps=attrs.get("epsilon", 1e-5))
    return [imp.add(bn, imp.as_node(x), params={"gamma": gamma, "beta": beta},
                    states={"running_mean": mean, "running_var": var})]


def _layernorm(imp, node, args, attrs):
    _only(imp, attrs, {"axis": None, "epsilon": None, "stash_type": (1,)})
    x = _tensor(imp, args[0])
    shape = imp.shape(x)
    if attrs.get("axis", -1) % len(shape) != 1:
        imp.fail(f"LayerNormalization over axes from {attrs.get('axis', -1)} of a rank-{len(shape)} tensor; "
                 "tinygraph's LayerNorm normalises over every feature axis (axis 1)")
    gamma = np.broadcast_to(_const(imp, args[1], 1), shape[1:])
    beta = np.broadcast_to(_const(imp, args[2], 2), shape[1:]) if len(args) > 2 and args[2] is not None \
        else np.zeros(shape[1:], gamma.dtype)
    if len(node.output) > 1 and any(node.output[1:]):
        imp.fail("the mean and inverse standard deviation outputs are not supported")
    return [imp.add(LayerNorm(eps=attrs.get("epsilon", 1e-5)), imp.as_node(x), params={"gamma": gamma, "beta": beta})]


def _distinct(value: np.ndarray) -> np.ndarray:
    """The values of a broadcast view without its repeats (axes of stride 0 taken once)."""
    return value[tuple(0 if st == 0 and n > 1 else slice(None) for st, n in zip(value.strides, value.shape))]


def _zero_state(imp, value, i):
    if value is not None and (not isinstance(value, np.ndarray) or np.any(_distinct(value))):
        imp.fail(f"input {i} (an initial state) must be absent or zeros; tinygraph's recurrent layers start at 0")


_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def _recurrent(op):
    def handler(imp, node, args, attrs):
        _only(imp, attrs, {"hidden_size": None, "direction": ("forward",), "layout": (0,), "input_forget": (0,),
                           "linear_before_reset": (1,) if op == "GRU" else (0,), "activations": None})
        acts = attrs.get("activations")
        if op == "RNN":
            if acts not in (None, ["Tanh"], ["Relu"]):
                imp.fail(f"activations {acts} (tinygraph's SimpleRNN: ['Tanh'] or ['Relu'])")
        elif acts not in (None, _DEFAULT_ACTS[op]):
            imp.fail(f"activations {acts} (tinygraph's {op}: {_DEFAULT_ACTS[op]})")
        x = _tensor(imp, args[0])
        full = imp.shapes[x.node]
        if len(full) != 3 or x.dims != (1, 0, 2):
            imp.fail(f"the input must be a (N, T, F) sequence seen time-major (T, N, F), got {imp._shape_text(x)}")
        W, R = _const(imp, args[1], 1)[0], _const(imp, args[2], 2)[0]
        H = attrs["hidden_size"]
        G = W.shape[0]
        B = _const(imp, args[3], 3)[0] if len(args) > 3 and args[3] is not None else np.zeros(2 * G, W.dtype)
        if len(args) > 4 and args[4] is not None:
            imp.fail("sequence_lens is not supported (every sequence has the full length)")
        for i in (5, 6):
            _zero_state(imp, args[i] if len(args) > i else None, i)
        if len(args) > 7 and args[7] is not None:
            imp.fail("peephole weights (input P) are not supported")
        params = {"W_ih": from_onnx_blocks(W, op), "W_hh": from_onnx_blocks(R, op),
                  "b_ih": from_onnx_blocks(B[:G], op), "b_hh": from_onnx_blocks(B[G:], op)}
        if op == "RNN":
            cell = SimpleRNN(H, "relu" if acts == ["Relu"] else "tanh", return_sequences=True)
        else:
            cell = (LSTM if op == "LSTM" else GRU)(H, return_sequences=True)
        t = imp.add(cell, x.node, params=params)
        y_sole = imp.readers.get(node.output[0], 0) == 1 and not any(imp.readers.get(n, 0) for n in node.output[1:])
        Y = Tensor(t.node, (1, None, 0, 2), y_sole)  # ONNX's Y: (T, 1, N, H)
        y_read, h_read = (imp.readers.get(n, 0) if n else 0 for n in (list(node.output) + ["", ""])[:2])
        if any(imp.readers.get(n, 0) for n in node.output[2:] if n):
            imp.fail("the cell state output Y_c is not supported")
        if h_read and y_read:
            imp.fail("reading both Y and Y_h of a recurrent op is not supported")
        if h_read:
            cell.return_sequences = False
            imp.shapes[cell] = (BATCH, H)
            return [None, Tensor(cell, (None, 0, 1))]  # Y_h: (1, N, H)
        return [Y]
    return handler


def _concat(imp, node, args, attrs):
    axis = attrs["axis"]
    if all(isinstance(a, np.ndarray) for a in args):
        return [imp.constant(np.concatenate(args, axis=axis))]
    if not all(isinstance(a, Tensor) for a in args):
        imp.fail("concatenates constants with the model's tensors")
    if axis % len(imp.shape(args[0])) != 1 or any(len(imp.shape(a)) != 2 for a in args):
        imp.fail("tinygraph's Concat joins (N, D) tensors along axis 1")
    return [imp.add(Concat(), *[imp.as_node(a, f"input {i}") for i, a in enumerate(args)])]


HANDLERS = {
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
    "Concat": _concat,
    "Add": _binary(np.add, "Add"),
    "Sub": _binary(np.subtract, "Sub"),
    "Mul": _binary(np.multiply, "Mul"),
    "Div": _binary(lambda a, b: a // b if a.dtype.kind in "iu" else a / b, "Div"),
    "Equal": _binary(np.equal, "Equal"),
    "Where": _numpy(lambda imp, a, attrs: np.where(*a)),
    "Sum": lambda imp, node, args, attrs: [imp.add(Add(), *[imp.as_node(_tensor(imp, a, i), f"input {i}")
                                                             for i, a in enumerate(args)])],
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Relu": _activation(lambda a: ReLU()),
    "Sigmoid": _activation(lambda a: Sigmoid()),
    "Tanh": _activation(lambda a: Tanh()),
    "LeakyRelu": _activation(lambda a: LeakyReLU(a.get("alpha", 0.01)), {"alpha": None}),
    "Elu": _activation(lambda a: ELU(a.get("alpha", 1.0)), {"alpha": None}),
    "Softplus": _activation(lambda a: Softplus()),
    "Gelu": _activation(lambda a: GELU(a.get("approximate", "none")), {"approximate": ("none", "tanh")}),
    "Softmax": _softmax(Softmax),
    "LogSoftmax": _softmax(LogSoftmax),
    "Conv": _conv,
    "MaxPool": _pool(MaxPool2D),
    "AveragePool": _pool(AvgPool2D),
    "GlobalAveragePool": _global_pool,
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layernorm,
    "RNN": _recurrent("RNN"),
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
}
