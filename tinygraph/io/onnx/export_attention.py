"""Converters for the transformer nodes: MultiHeadAttention and PositionalEmbedding, as a
decomposition into standard operators (opset 17 and up; ONNX's own ``Attention`` op needs opset 23,
which few runtimes run yet).

MultiHeadAttention, per head h of d = E/h features, c = 1/√d:
    qkv = x W_qkvᵀ + b_qkv  → reshape (N, T, 3, h, d) → transpose (3, N, h, T, d) → q, k, v
    S = c (q kᵀ), masked entries set to the dtype's lowest number (exp of it minus the row's
    maximum is exactly 0), P = softmax over keys, rows with no allowed key set to 0 (as the node),
    O = P v → (N, T, E),  y = O W_oᵀ + b_o.
PositionalEmbedding: y = x + W[:T] (T fixed by the input's shape).
"""
from __future__ import annotations

import math

import numpy as np

from ...nodes import MultiHeadAttention, PositionalEmbedding

__all__ = ["ATTENTION_CONVERTERS"]


def _linear(ctx, node, x, W, b):
    y = ctx.op("MatMul", [x, ctx.constant(f"{node.name}.{W}T", ctx.param(node, W).T)])
    return ctx.op("Add", [y, ctx.constant(f"{node.name}.{b}", ctx.param(node, b))]) if node.bias else y


def _attention(ctx, node, inputs):
    E, T, h = node.E, node.T, node.num_heads
    d = E // h
    qkv = ctx.op("Reshape", [_linear(ctx, node, inputs[0], "W_qkv", "b_qkv"), ctx.ints(f"{node.name}.heads", [0, 0, 3, h, d])])
    qkv = ctx.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])
    q, k, v = (ctx.op("Gather", [qkv, ctx.ints(f"{node.name}.part", i)], axis=0) for i in range(3))
    S = ctx.op("Mul", [ctx.op("MatMul", [q, ctx.op("Transpose", [k], perm=[0, 1, 3, 2])]),
                       ctx.constant(f"{node.name}.scale", np.asarray(1.0 / math.sqrt(d), ctx.dtype))])
    allowed = None
    if node.causal:
        allowed = ctx.constant(f"{node.name}.causal", np.tri(T, dtype=bool))
    if len(inputs) > 1:  # the key mask (N, T): 1 where a key may be attended
        keys = ctx.op("Cast", [inputs[1]], to=9)  # BOOL
        keys = ctx.op("Unsqueeze", [keys, ctx.ints(f"{node.name}.axes", [1, 2])])  # (N, 1, 1, T)
        allowed = keys if allowed is None else ctx.op("And", [allowed, keys])
    if allowed is not None:
        lowest = ctx.constant(f"{node.name}.lowest", np.asarray(np.finfo(ctx.dtype).min, ctx.dtype))
        S = ctx.op("Where", [allowed, S, lowest])
    P = ctx.op("Softmax", [S], axis=-1)
    if len(inputs) > 1:  # a query with no allowed key attends to nothing: its row of P is 0
        any_key = ctx.op("ReduceMax", [ctx.op("Cast", [allowed], to=6), ctx.ints(f"{node.name}.last", [-1])],
                         keepdims=1)
        P = ctx.op("Where", [ctx.op("Cast", [any_key], to=9), P,
                             ctx.constant(f"{node.name}.zero", np.asarray(0.0, ctx.dtype))])
    O = ctx.op("Transpose", [ctx.op("MatMul", [P, v])], perm=[0, 2, 1, 3])  # (N, T, h, d)
    O = ctx.op("Reshape", [O, ctx.ints(f"{node.name}.merge", [0, 0, E])])
    return _linear(ctx, node, O, "W_o", "b_o")


def _positional(ctx, node, inputs):
    T = node.in_shapes[0][0]
    return ctx.op("Add", [inputs[0], ctx.constant(f"{node.name}.W", ctx.param(node, "W")[:T])])


ATTENTION_CONVERTERS = {MultiHeadAttention: _attention, PositionalEmbedding: _positional}
