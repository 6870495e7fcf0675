"""The values of an ONNX import: constants, and ``Tensor`` views of tinygraph nodes.

The ONNX graph is walked once, in its (topological) order. Every value is either a constant (a
numpy array: initializers, ``Constant`` and the shape arithmetic exporters write) or a ``Tensor``:
the output of a tinygraph node seen through a view. A view (``dims``) says, for each axis of the
ONNX tensor, which axis of the node's output it is (0: the batch), or None for an inserted axis of
size 1, so transposes, squeezes and the reshapes around ONNX's time-major recurrent ops cost no
node; a node is added only where tinygraph computes something. The batch size is symbolic: in
shape arithmetic it is the number ``BATCH`` (a prime no real dimension reaches), so a shape that
keeps the batch axis is recognised, one that merges it with another axis is refused, and a
constant filled to a shape with the batch in it (``Expand``, ``ConstantOfShape``) stays a
zero-stride view, never allocated. Any op or attribute without a tinygraph counterpart is refused
with its name and position (``OnnxImportError``).

Handlers: ``import_shapes`` (constants and views), ``import_ops`` (layers); the walk: ``import_``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...nodes import Flatten, Node, Reshape
from .read import OnnxImportError

__all__ = ["BATCH", "MAX_CONSTANT", "Above", "Importer", "Tensor", "const", "decimal", "only", "tensor"]

BATCH = 2_147_483_647  # 2**31 - 1: the batch size in shape arithmetic
MAX_CONSTANT = 1 << 24  # elements a computed constant may have (the shape arithmetic needs a few)


@dataclass
class Tensor:
    """An ONNX tensor that is ``node``'s output (N, *features) seen through ``dims`` (see the module doc)."""

    node: Node
    dims: tuple
    sole: bool = False  # the only reader of the node's output so far (a recurrent node may still change)
    open_bias: bool = False  # a MatMul's Dense whose bias a following Add may still fill


@dataclass
class Above:
    """``Greater(t, threshold)`` of a tensor: read only as the switch of PyTorch's Softplus (see ``Where``)."""

    tensor: Tensor
    threshold: float


@dataclass
class Importer:
    """The walk's state: values by ONNX name, node shapes, parameters waiting for the graph's theta."""

    budget: int
    values: dict = field(default_factory=dict)
    shapes: dict = field(default_factory=dict)  # node -> (BATCH, *out_shape)
    params: dict = field(default_factory=dict)  # node -> {name: array}
    states: dict = field(default_factory=dict)  # node -> {name: array}
    readers: dict = field(default_factory=dict)  # ONNX name -> how many ops (and outputs) read it
    where: str = ""

    def fail(self, message: str):
        raise OnnxImportError(f"{self.where}: {message}")

    def shape(self, t: Tensor) -> tuple:
        full = self.shapes[t.node]
        return tuple(1 if d is None else full[d] for d in t.dims)

    def add(self, node: Node, *inputs: Node, params=None, states=None) -> Tensor:
        """Wire ``node`` to ``inputs``, work out its output shape (its own ``build``) and keep its weights."""
        node(*inputs)
        try:
            out = node.build(*[self.shapes[x][1:] for x in inputs])
        except ValueError as e:
            self.fail(str(e))
        self.shapes[node] = (BATCH, *out)
        if params:
            self.params[node] = params
        if states:
            self.states[node] = states
        return Tensor(node, tuple(range(len(out) + 1)))

    def as_node(self, t: Tensor, what: str = "input") -> Node:
        """The node whose output *is* tensor ``t`` (batch first, axes in order); a Reshape when the view
        only adds or drops axes of size 1."""
        full = self.shapes[t.node]
        axes = [d for d in t.dims if d is not None]
        kept = all(d in axes or full[d] == 1 for d in range(len(full)))
        if not (axes and axes[0] == 0 and axes == sorted(axes) and kept):
            self.fail(f"its {what} has its axes permuted (shape {self._shape_text(t)}, batch axis at position "
                      f"{t.dims.index(0) if 0 in t.dims else None}); tinygraph nodes read batch-first tensors "
                      "and there is no transpose node")
        shape = self.shape(t)
        if shape == full:
            return t.node
        return self.add(Reshape(shape[1:]), t.node).node

    def _shape_text(self, t: Tensor) -> str:
        return "(" + ", ".join("N" if s == BATCH else str(s) for s in self.shape(t)) + ")"

    def view(self, t: Tensor, shape: tuple) -> Tensor:
        """``t`` reshaped to ``shape`` (ints, ``BATCH`` for the batch): a new view when only axes of size 1
        come or go, else a Reshape node on a batch-first tensor."""
        shape = tuple(int(s) for s in shape)
        old = self.shape(t)
        if math.prod(shape) != math.prod(old):
            self.fail(f"cannot reshape {self._shape_text(t)} to {shape}")
        big_old = [(d, s) for d, s in zip(t.dims, old) if s != 1]
        big_new = [s for s in shape if s != 1]
        if [s for _, s in big_old] == big_new:
            moved, dims = iter(d for d, _ in big_old), []
            for s in shape:
                dims.append(next(moved) if s != 1 else None)
            return Tensor(t.node, tuple(dims), t.sole)  # a bias is read only right after its MatMul
        if shape.count(BATCH) != 1 or shape[0] != BATCH or any(s % BATCH == 0 for s in shape[1:]):
            self.fail(f"the reshape to {tuple('N' if s == BATCH else s for s in shape)} moves or merges the batch "
                      "axis")
        node = self.as_node(t)
        return self.add(Flatten() if len(shape) == 2 else Reshape(shape[1:]), node)

    def small(self, *values) -> None:
        """Refuse to compute on a constant that is large (a filled view of a crafted or batch-sized
        shape): checked *before* numpy would allocate its result."""
        for v in values:
            if isinstance(v, np.ndarray) and v.size > MAX_CONSTANT:
                self.fail(f"computes on a constant of shape {tuple('N' if s == BATCH else s for s in v.shape)}; "
                          "constants that depend on the batch size or are that large are not computed")

    def constant(self, value, what: str = "a constant") -> np.ndarray:
        """A computed constant, refused when it would be large (a crafted shape, or one with the batch)."""
        value = np.asarray(value)
        if value.size > MAX_CONSTANT or value.nbytes > max(self.budget, 1 << 16) * 8:
            self.fail(f"{what} would have shape {value.shape}; constants that depend on the batch size or "
                      "exceed the file's own size are not computed")
        return value


def const(imp, value, i: int = 0) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        imp.fail(f"input {i} must be a constant (weights, a shape), but it is computed from the model's inputs")
    return value


def tensor(imp, value, i: int = 0) -> Tensor:
    if not isinstance(value, Tensor):
        imp.fail(f"input {i} must be computed from the model's inputs; constants are not read here")
    return value


def only(imp, attrs: dict, allowed: dict) -> None:
    """Refuse any attribute outside ``allowed`` (name -> the values tinygraph supports, None: any)."""
    for k, v in attrs.items():
        if k not in allowed:
            imp.fail(f"attribute {k}={v!r} has no tinygraph counterpart")
        ok = allowed[k]
        if ok is not None and v not in ok:
            imp.fail(f"attribute {k}={v!r} is not supported (tinygraph supports {list(ok)})")


def decimal(value: float) -> float:
    """A float attribute as the number it was written from: ONNX stores them as float32, so 1e-5
    arrives as 9.99999974e-06; the shortest decimal that float32 rounds the same way is 1e-05."""
    return float(str(np.float32(value)))
