"""One converter per built-in node: ``f(ctx, node, inputs) -> output name`` (``OnnxContext`` in ``export``).

Each writes the node's evaluation-mode forward with ONNX operators of the opset being written and
its parameters as initializers named after the node (``dense1.W``); the math is the node's own.
"""
from __future__ import annotations

import math

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
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    Input,
    LayerNorm,
    LeakyReLU,
    LogSoftmax,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    SimpleRNN,
    Slice,
    Softmax,
    Softplus,
    Tanh,
)
from .gates import to_onnx_blocks

__all__ = ["CONVERTERS"]


def _dense(ctx, node, inputs):
    W, b = ctx.constant(f"{node.name}.W", ctx.param(node, "W")), ctx.constant(f"{node.name}.b", ctx.param(node, "b"))
    if len(node.in_shapes[0]) == 1:
        return ctx.op("Gemm", [inputs[0], W, b])  # y = x W + b (W is (n_in, n_out): no transpose)
    return ctx.op("Add", [ctx.op("MatMul", [inputs[0], W]), b])  # sequences: every step, one W


def _unary(op_type, **attrs):
    return lambda ctx, node, inputs: ctx.op(op_type, inputs, **attrs)


def _float32_exact(ctx, value: float) -> bool:
    """ONNX float attributes are float32: in a float64 file, a slope that float32 rounds must travel as
    a tensor (a float32 file computes with the rounded slope anyway, as the float32 model does)."""
    return ctx.dtype == np.float32 or float(np.float32(value)) == value


def _leaky(ctx, node, inputs):
    if _float32_exact(ctx, node.negative_slope):
        return ctx.op("LeakyRelu", inputs, alpha=node.negative_slope)
    return ctx.op("PRelu", [inputs[0], _scalar(ctx, f"{node.name}.negative_slope", node.negative_slope)])


def _elu(ctx, node, inputs):
    if _float32_exact(ctx, node.alpha):
        return ctx.op("Elu", inputs, alpha=node.alpha)
    x = inputs[0]  # x if x > 0 else α (e^x - 1), with α in the tensors' own precision
    scaled = ctx.op("Mul", [ctx.op("Elu", [x], alpha=1.0), _scalar(ctx, f"{node.name}.alpha", node.alpha)])
    return ctx.op("Where", [ctx.op("Greater", [x, _scalar(ctx, f"{node.name}.zero", 0.0)]), x, scaled])


def _scalar(ctx, name, value):
    return ctx.constant(name, np.asarray(value, dtype=ctx.dtype))


def _softplus(ctx, node, inputs):
    if node.beta == 1.0 and node.threshold == 20.0:
        # ONNX's log(1 + e^x) everywhere: above the threshold it exceeds x by e^-x < 2e-9 (1e-10 of x)
        return ctx.op("Softplus", inputs)
    # log(1 + e^{βx}) / β below the threshold, x above it (PyTorch's Softplus, exactly)
    x = inputs[0]
    beta = _scalar(ctx, f"{node.name}.beta", node.beta)
    bx = ctx.op("Mul", [x, beta])
    soft = ctx.op("Div", [ctx.op("Softplus", [bx]), beta])
    above = ctx.op("Greater", [bx, _scalar(ctx, f"{node.name}.threshold", node.threshold)])
    return ctx.op("Where", [above, x, soft])


def _gelu(ctx, node, inputs):
    if ctx.opset >= 20:
        return ctx.op("Gelu", inputs, approximate=node.approximate)
    x = inputs[0]
    half = ctx.op("Mul", [x, _scalar(ctx, f"{node.name}.half", 0.5)])
    if node.approximate == "tanh":  # ½x (1 + tanh(√(2/π) (x + 0.044715 x³)))
        cube = ctx.op("Mul", [ctx.op("Mul", [x, x]), x])
        inner = ctx.op("Add", [x, ctx.op("Mul", [cube, _scalar(ctx, f"{node.name}.kappa", 0.044715)])])
        t = ctx.op("Tanh", [ctx.op("Mul", [inner, _scalar(ctx, f"{node.name}.c", math.sqrt(2 / math.pi))])])
    else:  # ½x (1 + erf(x/√2))
        t = ctx.op("Erf", [ctx.op("Mul", [x, _scalar(ctx, f"{node.name}.c", 1 / math.sqrt(2))])])
    return ctx.op("Mul", [half, ctx.op("Add", [t, _scalar(ctx, f"{node.name}.one", 1.0)])])


def _add(ctx, node, inputs):
    return ctx.op("Add", inputs) if len(inputs) == 2 else ctx.op("Sum", inputs)


def _slice(ctx, node, inputs):
    part, axis = node.index[-1], len(node.index) - 1
    return ctx.op("Slice", [inputs[0], ctx.ints(f"{node.name}.starts", [part.start]),
                            ctx.ints(f"{node.name}.ends", [part.stop]), ctx.ints(f"{node.name}.axes", [axis])])


def _conv(ctx, node, inputs):
    top, bottom, left, right = node.pads
    W, b = ctx.constant(f"{node.name}.W", ctx.param(node, "W")), ctx.constant(f"{node.name}.b", ctx.param(node, "b"))
    return ctx.op("Conv", [inputs[0], W, b], kernel_shape=list(node.kernel_size), strides=list(node.stride),
                  pads=[top, left, bottom, right])


def _pool(op_type):
    return lambda ctx, node, inputs: ctx.op(op_type, inputs, kernel_shape=list(node.pool_size),
                                            strides=list(node.stride))


def _global_pool(ctx, node, inputs):
    return ctx.op("Flatten", [ctx.op("GlobalAveragePool", inputs)], axis=1)  # (N, C, 1, 1) -> (N, C)


def _reshape(ctx, node, inputs):
    # 0 copies the batch dimension from the input: the batch axis stays symbolic
    return ctx.op("Reshape", [inputs[0], ctx.ints(f"{node.name}.shape", [0, *node.out_shape])])


def _flatten(ctx, node, inputs):
    return ctx.op("Flatten", inputs, axis=1)


def _batchnorm(ctx, node, inputs):
    args = [ctx.constant(f"{node.name}.gamma", ctx.param(node, "gamma")),
            ctx.constant(f"{node.name}.beta", ctx.param(node, "beta")),
            ctx.constant(f"{node.name}.running_mean", ctx.state(node, "running_mean")),
            ctx.constant(f"{node.name}.running_var", ctx.state(node, "running_var"))]
    ndim = len(node.in_shapes[0]) + 1
    if getattr(node, "axis", None) == -1 and ndim > 2:  # channels last: ONNX's are axis 1
        perm = [0, ndim - 1, *range(1, ndim - 1)]
        back = [0, *range(2, ndim), 1]
        x = ctx.op("Transpose", inputs, perm=perm)
        return ctx.op("Transpose", [ctx.op("BatchNormalization", [x, *args], epsilon=node.eps)], perm=back)
    return ctx.op("BatchNormalization", [inputs[0], *args], epsilon=node.eps)


def _layernorm(ctx, node, inputs):
    # over every feature axis (axis None, or a LayerNorm without the option): ONNX's axis=1; else the last
    axis = -1 if getattr(node, "axis", None) == -1 else 1
    return ctx.op("LayerNormalization", [inputs[0], ctx.constant(f"{node.name}.gamma", ctx.param(node, "gamma")),
                                         ctx.constant(f"{node.name}.beta", ctx.param(node, "beta"))],
                  axis=axis, epsilon=node.eps)


def _over_axis(op_type):
    return lambda ctx, node, inputs: ctx.op(op_type, inputs, axis=getattr(node, "axis", 1))


def _dropout(ctx, node, inputs):
    return inputs[0]  # evaluation mode: the identity, no operator at all


def _embedding(ctx, node, inputs):
    table = ctx.constant(f"{node.name}.W", ctx.param(node, "W"))
    x = node.inputs[0]
    is_tokens = isinstance(x, Input) and all(
        isinstance(n, Embedding) for n in ctx.model.nodes if x in n.inputs)
    index = inputs[0] if is_tokens else ctx.op("Cast", inputs, to=7)  # 7: INT64 (float ids from a layer)
    return ctx.op("Gather", [table, index], axis=0)


def _recurrent(op_type):
    def convert(ctx, node, inputs):
        H = node.units
        W = to_onnx_blocks(ctx.param(node, "W_ih"), op_type)[None]
        R = to_onnx_blocks(ctx.param(node, "W_hh"), op_type)[None]
        B = np.concatenate([to_onnx_blocks(ctx.param(node, "b_ih"), op_type),
                            to_onnx_blocks(ctx.param(node, "b_hh"), op_type)])[None]
        attrs = {"hidden_size": H}
        if op_type == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch's n = tanh(W_in x + b_in + r (W_hn h + b_hn))
        if op_type == "RNN":
            attrs["activations"] = ["Tanh" if node.activation == "tanh" else "Relu"]
        xt = ctx.op("Transpose", inputs, perm=[1, 0, 2])  # ONNX's recurrent ops are time-major
        args = [xt, ctx.constant(f"{node.name}.W", W), ctx.constant(f"{node.name}.R", R),
                ctx.constant(f"{node.name}.B", B)]
        Y, Y_h = ctx.op(op_type, args, n_outputs=2, **attrs)
        ctx.nodes[-1].output[1 if node.return_sequences else 0] = ""  # name only the output read
        if node.return_sequences:  # Y: (T, 1, N, H) -> (N, T, H)
            return ctx.op("Transpose", [ctx.op("Squeeze", [Y, ctx.ints(f"{node.name}.axes", [1])])], perm=[1, 0, 2])
        return ctx.op("Squeeze", [Y_h, ctx.ints(f"{node.name}.axes", [0])])  # Y_h: (1, N, H) -> (N, H)
    return convert


CONVERTERS = {
    Dense: _dense,
    Identity: _unary("Identity"),
    ReLU: _unary("Relu"),
    Sigmoid: _unary("Sigmoid"),
    Tanh: _unary("Tanh"),
    Softmax: _over_axis("Softmax"),
    LogSoftmax: _over_axis("LogSoftmax"),
    LeakyReLU: _leaky,
    ELU: _elu,
    Softplus: _softplus,
    GELU: _gelu,
    Add: _add,
    Concat: _unary("Concat", axis=1),
    Slice: _slice,
    Conv2D: _conv,
    MaxPool2D: _pool("MaxPool"),
    AvgPool2D: _pool("AveragePool"),
    GlobalAvgPool2D: _global_pool,
    Flatten: _flatten,
    Reshape: _reshape,
    BatchNorm: _batchnorm,
    LayerNorm: _layernorm,
    Dropout: _dropout,
    Embedding: _embedding,
    SimpleRNN: _recurrent("RNN"),
    LSTM: _recurrent("LSTM"),
    GRU: _recurrent("GRU"),
}
