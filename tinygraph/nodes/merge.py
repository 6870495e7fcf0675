"""Nodes with several inputs, for skip connections and branches (contract in ``tinygraph.nodes.node``)."""
from __future__ import annotations

from itertools import pairwise

import numpy as np

from .node import Node

__all__ = ["Add", "Concat"]


class Add(Node):
    """Elementwise sum of two or more inputs of one shape.

    forward:  y = Σ_i x_i
    backward: dx_i = dy for every i (the same read-only array)
    R-forward: R{y} = Σ_i R{x_i};  R-backward: R{dx_i} = R{dy}
    x_i, y, dy: (N, D).

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        At build: fewer than two inputs, or inputs of different shapes.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> x = tg.Input(4)
    >>> h = tg.Add()(tg.Dense(4, 3)(x), tg.Dense(4, 3)(x))
    >>> model = tg.Graph(x, tg.MeanSquaredError()(h), random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 3)
    >>> errors = tg.check_node_gradients(tg.Add(), (3,), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    n_inputs = None

    def build(self, *in_shapes: tuple) -> tuple:
        if len(in_shapes) < 2:
            raise ValueError(f"{self.name}: needs at least 2 inputs, got {len(in_shapes)}")
        for node, shape in zip(self.inputs, in_shapes):
            if shape != in_shapes[0]:
                raise ValueError(f"{self.name}: inputs must share one shape; "
                                 f"{self.inputs[0].name} gives {in_shapes[0]}, {node.name} gives {shape}")
        return in_shapes[0]

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        y = np.add(xs[0], xs[1], out=self.buffer("y", xs[0].shape))
        for x in xs[2:]:
            y += x
        return y

    def backward(self, dy: np.ndarray) -> tuple:
        return (dy,) * len(self.inputs)

    def rforward(self, v: np.ndarray, *rxs):
        rxs = [r for r in rxs if r is not None]
        if not rxs:
            return None
        ry = self.buffer("ry", rxs[0].shape)
        ry[...] = rxs[0]
        for r in rxs[1:]:
            ry += r
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> tuple:
        return (rdy,) * len(self.inputs)


class Concat(Node):
    """Concatenation along the feature axis.

    forward:  y = [x_1, x_2, ...]
    backward: dx_i = dy[:, offset_i : offset_i + D_i] (a view)
    R-forward: R{y} = [R{x_1}, R{x_2}, ...];  R-backward: R{dx_i} = R{dy}[:, offset_i : offset_i + D_i]
    x_i: (N, D_i), y and dy: (N, Σ D_i).

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        At build: fewer than two inputs, or an input not of shape (N, D_i).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> x = tg.Input(4)
    >>> h = tg.Concat()(tg.Dense(4, 3)(x), tg.Dense(4, 2)(x))
    >>> model = tg.Graph(x, tg.MeanSquaredError()(h), random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 5)
    >>> errors = tg.check_node_gradients(tg.Concat(), (3,), (2,))
    >>> max(errors.values()) < 1e-6
    True
    """

    n_inputs = None

    def build(self, *in_shapes: tuple) -> tuple:
        if len(in_shapes) < 2:
            raise ValueError(f"{self.name}: needs at least 2 inputs, got {len(in_shapes)}")
        if any(len(s) != 1 for s in in_shapes):
            raise ValueError(f"{self.name}: inputs must be (N, D) arrays, got feature shapes {in_shapes}")
        bounds = np.cumsum([0] + [s[0] for s in in_shapes])
        self.slices = tuple(slice(a, b) for a, b in pairwise(bounds))
        return (int(bounds[-1]),)

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=1, out=self.buffer("y", (xs[0].shape[0],) + self.out_shape))

    def backward(self, dy: np.ndarray) -> tuple:
        return tuple(dy[:, s] for s in self.slices)

    def rforward(self, v: np.ndarray, *rxs):
        if all(r is None for r in rxs):
            return None
        n = next(r for r in rxs if r is not None).shape[0]
        ry = self.buffer("ry", (n,) + self.out_shape)
        for r, s in zip(rxs, self.slices):
            ry[:, s] = 0.0 if r is None else r
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> tuple:
        return tuple(rdy[:, s] for s in self.slices)
