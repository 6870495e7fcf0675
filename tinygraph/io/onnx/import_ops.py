"""One handler per ONNX op: ``f(imp, node, args, attrs) -> outputs`` (``Importer`` in ``import_``).

``args`` are the op's inputs as values: numpy arrays (constants) or ``Tensor`` views of tinygraph
nodes. Ops on constants only are evaluated with numpy (the shape arithmetic of exporters); ops on
tensors add tinygraph nodes, with their weights taken from the constant inputs.
"""
from __future__ import annotations

import inspect

import numpy as np

from ...nodes import (
    ELU,
    GELU,
    GRU,
    LSTM,
    Add,
    AvgPool2D,
    BatchNorm,
    Concat,
    Conv2D,
    Dense,
    GlobalAvgPool2D,
    LayerNorm,
    LeakyReLU,
    LogSoftmax,
    MaxPool2D,
    PositionalEmbedding,
    ReLU,
    Sigmoid,
    SimpleRNN,
    Softmax,
    Softplus,
    Tanh,
)
from .gates import from_onnx_blocks
from .import_shapes import SHAPE_HANDLERS
from .views import BATCH, Above, Tensor, const, decimal, only, tensor

__all__ = ["HANDLERS"]


def _add_tensors(imp, args):
    t, c = (args[0], args[1]) if isinstance(args[0], Tensor) else (args[1], args[0])
    if isinstance(c, Tensor):
        if imp.shape(t) != imp.shape(c):
            imp.fail(f"adds tensors of different shapes {imp.shape(t)} and {imp.shape(c)} (no broadcasting)")
        return [imp.add(Add(), imp.as_node(t, "first input"), imp.as_node(c, "second input"))]
    shape = imp.shape(t)
    if len(shape) == 3 and c.shape[-2:] == shape[1:] and c.size == shape[1] * shape[2]:
        # x + W[:T] on (N, T, E): a learned positional embedding (max_len = T)
        return [imp.add(PositionalEmbedding(shape[1]), imp.as_node(t), params={"W": c.reshape(shape[1:])})]
    dense = t.node
    if not t.open_bias or c.size != dense.n_out or c.shape[-1:] != (dense.n_out,):
        imp.fail("adding a constant to a tensor is read only as the bias of the MatMul just before it, or as "
                 "a positional embedding (a (T, E) table added to (N, T, E))")
    imp.params[dense]["b"] = c.reshape(-1)
    return [Tensor(dense, t.dims)]


def _gemm(imp, node, args, attrs):
    only(imp, attrs, {"alpha": None, "beta": None, "transA": (0,), "transB": (0, 1)})
    x, B = tensor(imp, args[0]), const(imp, args[1], 1)
    W = (B.T if attrs.get("transB", 0) else B) * np.asarray(attrs.get("alpha", 1.0), B.dtype)
    C = args[2] if len(args) > 2 and args[2] is not None else np.zeros(W.shape[1], W.dtype)
    b = np.broadcast_to(const(imp, C, 2) * np.asarray(attrs.get("beta", 1.0), W.dtype), (W.shape[1],))
    if attrs.get("alpha", 1.0) == 1.0:
        W = B.T if attrs.get("transB", 0) else B  # the file's numbers as they are: bit for bit
    return [imp.add(Dense(*W.shape), imp.as_node(x), params={"W": W, "b": b})]


def _matmul(imp, node, args, attrs):
    x, W = args
    if isinstance(x, np.ndarray) and isinstance(W, np.ndarray):
        imp.small(x, W)
        return [imp.constant(np.matmul(x, W))]
    x, W = tensor(imp, x), const(imp, W, 1)
    if W.ndim != 2:
        imp.fail(f"the weight of a MatMul must be 2-D, got shape {W.shape}")
    t = imp.add(Dense(*W.shape), imp.as_node(x), params={"W": W, "b": np.zeros(W.shape[1], W.dtype)})
    t.open_bias = imp.readers.get(node.output[0], 0) == 1
    return [t]


def _activation(make, allowed=None):
    def handler(imp, node, args, attrs):
        only(imp, attrs, allowed or {})
        return [imp.add(make(attrs), imp.as_node(tensor(imp, args[0])))]
    return handler


def _prelu(imp, node, args, attrs):
    slope = const(imp, args[1], 1)
    if slope.size != 1:
        imp.fail(f"PRelu with a slope of shape {slope.shape}; tinygraph's LeakyReLU has one slope")
    return [imp.add(LeakyReLU(float(slope.reshape(()))), imp.as_node(tensor(imp, args[0])))]


def _takes_axis(cls) -> bool:
    return "axis" in inspect.signature(cls.__init__).parameters


def _softmax(cls):
    def handler(imp, node, args, attrs):
        x = tensor(imp, args[0])
        rank = len(imp.shape(x))
        axis = attrs.get("axis", -1) % rank
        if axis == 0 or (axis != 1 and not _takes_axis(cls)):
            imp.fail(f"{node.op_type} over axis {attrs.get('axis', -1)} of a rank-{rank} tensor is not supported")
        if not _takes_axis(cls):
            return [imp.add(cls(), imp.as_node(x))]
        return [imp.add(cls(axis=-1 if axis == rank - 1 else axis), imp.as_node(x))]
    return handler


def _conv(imp, node, args, attrs):
    only(imp, attrs, {"group": (1,), "dilations": None, "strides": None, "pads": None, "kernel_shape": None,
                       "auto_pad": ("NOTSET",)})
    x, W = tensor(imp, args[0]), const(imp, args[1], 1)
    if W.ndim != 4 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        imp.fail(f"only 2-D convolutions without dilation are read (weight shape {W.shape})")
    b = const(imp, args[2], 2) if len(args) > 2 and args[2] is not None else np.zeros(W.shape[0], W.dtype)
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
        only(imp, attrs, {"kernel_shape": None, "strides": None, "pads": None, "dilations": None,
                           "ceil_mode": (0,), "auto_pad": ("NOTSET",), "storage_order": (0,),
                           "count_include_pad": (0, 1)})
        if any(attrs.get("pads", [0])) or any(d != 1 for d in attrs.get("dilations", [1])):
            imp.fail(f"padded or dilated pooling is not supported (pads {attrs.get('pads')})")
        k = tuple(attrs["kernel_shape"])
        return [imp.add(cls(k, stride=tuple(attrs.get("strides", k))), imp.as_node(tensor(imp, args[0])))]
    return handler


def _global_pool(imp, node, args, attrs):
    t = imp.add(GlobalAvgPool2D(), imp.as_node(tensor(imp, args[0])))
    return [Tensor(t.node, (0, 1, None, None))]  # ONNX keeps (N, C, 1, 1)


def _reduce_mean(imp, node, args, attrs):
    """The mean over H and W of (N, C, H, W) (PyTorch's AdaptiveAvgPool2d(1), as its exporter writes it)."""
    only(imp, attrs, {"axes": None, "keepdims": (0, 1), "noop_with_empty_axes": (0,)})
    x = tensor(imp, args[0])
    rank = len(imp.shape(x))
    axes = attrs.get("axes", None if len(args) < 2 or args[1] is None else const(imp, args[1], 1).tolist())
    if rank != 4 or axes is None or sorted(a % rank for a in axes) != [2, 3]:
        imp.fail(f"ReduceMean over axes {axes} of a rank-{rank} tensor; only the spatial mean of (N, C, H, W) "
                 "(a global average pool) is read")
    t = imp.add(GlobalAvgPool2D(), imp.as_node(x))
    return [Tensor(t.node, (0, 1, None, None) if attrs.get("keepdims", 1) else (0, 1))]


def _greater(imp, node, args, attrs):
    x, c = args
    if isinstance(x, np.ndarray) and isinstance(c, np.ndarray):
        imp.small(x, c)
        return [imp.constant(np.greater(x, c), "Greater's result")]
    if isinstance(x, Tensor) and isinstance(c, np.ndarray) and c.size == 1:
        return [Above(x, float(c.reshape(())))]
    imp.fail("Greater on the model's tensors is read only as x > threshold (PyTorch's Softplus)")


def _where(imp, node, args, attrs):
    """Where(x > threshold, x, Softplus(x)): PyTorch's Softplus (β = 1) with its threshold."""
    cond, a, b = args
    if not any(isinstance(v, (Tensor, Above)) for v in args):
        imp.small(cond, a, b)
        return [imp.constant(np.where(cond, a, b), "Where's result")]
    if (isinstance(cond, Above) and a == cond.tensor and isinstance(b, Tensor) and isinstance(b.node, Softplus)
            and b.node.beta == 1.0 and b.node.inputs[0] is imp.as_node(a)):
        b.node.threshold = decimal(cond.threshold)
        return [b]
    imp.fail("Where on the model's tensors is read only as PyTorch's Softplus: Where(x > t, x, Softplus(x))")


def _batchnorm(imp, node, args, attrs):
    only(imp, attrs, {"epsilon": None, "momentum": None, "training_mode": (0,), "spatial": (1,)})
    x = tensor(imp, args[0])
    gamma, beta, mean, var = (const(imp, a, i + 1) for i, a in enumerate(args[1:5]))
    options = {"axis": 1} if _takes_axis(BatchNorm) and len(imp.shape(x)) == 3 else {}  # (N, C, L)
    bn = BatchNorm(momentum=decimal(1.0 - decimal(attrs.get("momentum", 0.9))), eps=decimal(attrs.get("epsilon", 1e-5)),
                   **options)
    return [imp.add(bn, imp.as_node(x), params={"gamma": gamma, "beta": beta},
                    states={"running_mean": mean, "running_var": var})]


def _layernorm(imp, node, args, attrs):
    only(imp, attrs, {"axis": None, "epsilon": None, "stash_type": (1,)})
    x = tensor(imp, args[0])
    shape = imp.shape(x)
    axis = attrs.get("axis", -1) % len(shape)
    if axis == len(shape) - 1 and _takes_axis(LayerNorm):
        options, normalized = {"axis": -1}, shape[-1:]  # each position over its last axis (PyTorch's)
    elif axis == 1:
        options, normalized = ({"axis": None} if _takes_axis(LayerNorm) else {}), shape[1:]
    else:
        imp.fail(f"LayerNormalization over axes from {attrs.get('axis', -1)} of a rank-{len(shape)} tensor; "
                 "tinygraph's LayerNorm normalises over the last axis or over every feature axis")
    gamma = np.broadcast_to(const(imp, args[1], 1), normalized)
    beta = np.broadcast_to(const(imp, args[2], 2), normalized) if len(args) > 2 and args[2] is not None \
        else np.zeros(normalized, gamma.dtype)
    if len(node.output) > 1 and any(node.output[1:]):
        imp.fail("the mean and inverse standard deviation outputs are not supported")
    ln = LayerNorm(eps=decimal(attrs.get("epsilon", 1e-5)), **options)
    return [imp.add(ln, imp.as_node(x), params={"gamma": gamma, "beta": beta})]


def _distinct(value: np.ndarray) -> np.ndarray:
    """The values of a broadcast view without its repeats (axes of stride 0 taken once)."""
    return value[tuple(0 if st == 0 and n > 1 else slice(None) for st, n in zip(value.strides, value.shape))]


def _zero_state(imp, value, i):
    if value is not None and (not isinstance(value, np.ndarray) or np.any(_distinct(value))):
        imp.fail(f"input {i} (an initial state) must be absent or zeros; tinygraph's recurrent layers start at 0")


_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def _recurrent(op):
    def handler(imp, node, args, attrs):
        only(imp, attrs, {"hidden_size": None, "direction": ("forward",), "layout": (0,), "input_forget": (0,),
                           "linear_before_reset": (1,) if op == "GRU" else (0,), "activations": None})
        acts = attrs.get("activations")
        if op == "RNN":
            if acts not in (None, ["Tanh"], ["Relu"]):
                imp.fail(f"activations {acts} (tinygraph's SimpleRNN: ['Tanh'] or ['Relu'])")
        elif acts not in (None, _DEFAULT_ACTS[op]):
            imp.fail(f"activations {acts} (tinygraph's {op}: {_DEFAULT_ACTS[op]})")
        x = tensor(imp, args[0])
        full = imp.shapes[x.node]
        if len(full) != 3 or x.dims != (1, 0, 2):
            imp.fail(f"the input must be a (N, T, F) sequence seen time-major (T, N, F), got {imp._shape_text(x)}")
        W, R = const(imp, args[1], 1)[0], const(imp, args[2], 2)[0]
        H = attrs["hidden_size"]
        G = W.shape[0]
        B = const(imp, args[3], 3)[0] if len(args) > 3 and args[3] is not None else np.zeros(2 * G, W.dtype)
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
        imp.small(*args)
        return [imp.constant(np.concatenate(args, axis=axis))]
    if not all(isinstance(a, Tensor) for a in args):
        imp.fail("concatenates constants with the model's tensors")
    if axis % len(imp.shape(args[0])) != 1 or any(len(imp.shape(a)) != 2 for a in args):
        imp.fail("tinygraph's Concat joins (N, D) tensors along axis 1")
    return [imp.add(Concat(), *[imp.as_node(a, f"input {i}") for i, a in enumerate(args)])]


def _add(imp, node, args, attrs):
    if isinstance(args[0], np.ndarray) and isinstance(args[1], np.ndarray):
        imp.small(*args)
        return [imp.constant(np.add(args[0], args[1]), "Add's result")]
    return _add_tensors(imp, args)


def _sum(imp, node, args, attrs):
    return [imp.add(Add(), *[imp.as_node(tensor(imp, a, i), f"input {i}") for i, a in enumerate(args)])]


HANDLERS = {
    **SHAPE_HANDLERS,
    "Concat": _concat,
    "Add": _add,
    "Sum": _sum,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Relu": _activation(lambda a: ReLU()),
    "Sigmoid": _activation(lambda a: Sigmoid()),
    "Tanh": _activation(lambda a: Tanh()),
    "LeakyRelu": _activation(lambda a: LeakyReLU(decimal(a.get("alpha", 0.01))), {"alpha": None}),
    "PRelu": _prelu,
    "Elu": _activation(lambda a: ELU(decimal(a.get("alpha", 1.0))), {"alpha": None}),
    "Softplus": _activation(lambda a: Softplus()),
    "Gelu": _activation(lambda a: GELU(a.get("approximate", "none")), {"approximate": ("none", "tanh")}),
    "Softmax": _softmax(Softmax),
    "LogSoftmax": _softmax(LogSoftmax),
    "Conv": _conv,
    "MaxPool": _pool(MaxPool2D),
    "AveragePool": _pool(AvgPool2D),
    "GlobalAveragePool": _global_pool,
    "ReduceMean": _reduce_mean,
    "Greater": _greater,
    "Where": _where,
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layernorm,
    "RNN": _recurrent("RNN"),
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
}
