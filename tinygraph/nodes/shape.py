"""Nodes that only change the feature shape (contract in ``tinygraph.nodes.node``)."""
from __future__ import annotations

import math

import numpy as np

from .node import Node, feature_shape

__all__ = ["Flatten", "Reshape"]


class Reshape(Node):
    """The features of each example laid out in a new shape (row-major order, as ``np.reshape``).

    forward: y = x.reshape(N, *shape);  backward: dx = dy.reshape(x.shape)
    R{y} = R{x}.reshape(N, *shape);  R{dx} = R{dy}.reshape(x.shape)
    x, dx: (N, *in_shape); y, dy: (N, *shape). One entry of ``shape`` may be -1 (inferred).
    Views, not copies, when the arrays are contiguous.

    Parameters
    ----------
    shape : int or tuple of int
        The new feature shape (no batch axis); one entry may be -1, inferred from the size.
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``shape`` with a non-positive entry other than one -1; at build, a shape whose size differs
        from the input's.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Reshape((2, -1))], input_shape=6)
    >>> model.forward(np.ones((5, 6))).shape
    (5, 2, 3)
    """

    def __init__(self, shape: int | tuple, *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if dims.count(-1) > 1:
            raise ValueError(f"Reshape: at most one entry of shape may be -1, got {shape!r}")
        if -1 in dims:
            feature_shape([1 if d == -1 else d for d in dims], "Reshape")
            self.shape = tuple(int(d) for d in dims)
        else:
            self.shape = feature_shape(dims, "Reshape")

    def build(self, in_shape: tuple) -> tuple:
        size, known = math.prod(in_shape), math.prod(d for d in self.shape if d != -1)
        out = tuple(size // known if d == -1 else d for d in self.shape)
        if math.prod(out) != size:
            raise ValueError(f"{self.name}: cannot reshape features of shape {in_shape} ({size} values) "
                             f"to {self.shape}")
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], *self.out_shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(dy.shape[0], *self.in_shapes[0])

    def rforward(self, v: np.ndarray, rx):
        return None if rx is None else self.forward(rx)

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        return self.backward(rdy)

    def get_config(self) -> dict:
        return {"shape": list(self.shape), **super().get_config()}


class Flatten(Reshape):
    """All features of an example in one axis: (N, C, H, W) -> (N, C·H·W), as PyTorch's ``Flatten``.

    forward: y = x.reshape(N, -1);  backward: dx = dy.reshape(x.shape);  likewise R{y}, R{dx}.

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Flatten()], input_shape=(3, 4, 4))
    >>> model.forward(np.ones((2, 3, 4, 4))).shape
    (2, 48)
    """

    def __init__(self, *, name: str | None = None, trainable: bool = True):
        super().__init__(-1, name=name, trainable=trainable)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}
