"""Taking part of a feature axis: the inverse of ``Concat`` (contract in ``tinygraph.nodes.node``).

One X can carry several kinds of feature side by side (an image's 784 pixels and a side feature);
``Slice`` nodes route each part to its own branch, e.g. ``Slice(0, 784)(x)`` and ``Slice(784, 785)(x)``.
"""
from __future__ import annotations

import numpy as np

from .node import Node

__all__ = ["Slice"]


class Slice(Node):
    """Entries ``start:stop`` of one feature axis (``axis`` counts the batch axis: 1 is the first
    feature axis, -1 the last).

    forward:  y = x[:, start:stop]                 (along ``axis``; a copy in the node's buffer)
    backward: dx = 0 outside the slice, dx[:, start:stop] = dy
    R-forward: R{y} = R{x}[:, start:stop];  R-backward: R{dx}[:, start:stop] = R{dy}, 0 elsewhere
    x, dx: (N, ..., D, ...); y, dy: (N, ..., stop - start, ...).

    Parameters
    ----------
    start, stop : int
        The entries kept, as a Python slice ``start:stop`` (negative values count from the end).
    axis : int, default 1
        The axis of x, counting the batch axis: 1, 2, ... or negative from the end; never 0.
    name : str, optional
        The node's name in the graph (default: the class name and a number).

    Raises
    ------
    TypeError
        ``start``, ``stop`` or ``axis`` not an int.
    ValueError
        ``axis`` 0 (the batch axis); at build, an axis the input lacks or a slice that
        keeps nothing.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Slice(1, 3)], input_shape=5)
    >>> model.forward(np.arange(10.0).reshape(2, 5))
    array([[1., 2.],
           [6., 7.]])
    >>> errors = tg.check_node_gradients(tg.Slice(0, 2, axis=-1), (3, 4))
    >>> max(errors.values()) < 1e-6
    True
    """

    def __init__(self, start: int, stop: int, axis: int = 1, *, name: str | None = None):
        super().__init__(name=name)
        for what, v in (("start", start), ("stop", stop), ("axis", axis)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Slice: {what} must be an int, got {v!r}")
        if axis == 0:
            raise ValueError("Slice: axis 0 is the batch axis; slice a feature axis (1, 2, ... or -1)")
        self.start_index, self.stop_index, self.axis = int(start), int(stop), int(axis)

    def build(self, in_shape: tuple) -> tuple:
        a = self.axis - 1 if self.axis > 0 else len(in_shape) + self.axis
        if not 0 <= a < len(in_shape):
            raise ValueError(f"{self.name}: axis {self.axis} does not exist in inputs of shape "
                             f"(N, {', '.join(map(str, in_shape))})")
        kept = range(in_shape[a])[self.start_index:self.stop_index]
        if not kept:
            raise ValueError(f"{self.name}: {self.start_index}:{self.stop_index} takes nothing from "
                             f"axis {self.axis} of size {in_shape[a]}")
        self.index = (slice(None),) * (a + 1) + (slice(kept.start, kept.stop),)
        return in_shape[:a] + (len(kept),) + in_shape[a + 1:]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        y = self.buffer("y", (x.shape[0],) + self.out_shape)
        np.copyto(y, x[self.index])
        return y

    def _scatter(self, d: np.ndarray, key: str) -> np.ndarray:
        dx = self.buffer(key, self.x_shape)
        dx[...] = 0.0
        dx[self.index] = d
        return dx

    def backward(self, dy: np.ndarray):
        return self._scatter(dy, "dx") if self.need_dx else None

    def rforward(self, v: np.ndarray, rx):
        if rx is None:
            return None
        ry = self.buffer("ry", rx.shape[:1] + self.out_shape)
        np.copyto(ry, rx[self.index])
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        return self._scatter(rdy, "rdx") if self.need_dx else None

    def get_config(self) -> dict:
        return {"start": self.start_index, "stop": self.stop_index, "axis": self.axis, "name": self.name}
