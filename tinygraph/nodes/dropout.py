"""Dropout (contract, modes and randomness in ``tinygraph.nodes.node``)."""
from __future__ import annotations

import numpy as np

from .node import Node

__all__ = ["Dropout"]


class Dropout(Node):
    """Inverted dropout: zero each entry with probability ``rate`` in training, scale the rest.

    training:   y = x · m,  m = [u ≥ rate] / (1 - rate),  u ~ U[0, 1) from ``self.rng`` (one mask per step;
                float64 draws in any dtype, row r's mask is the same in any row block that holds it)
    evaluation: y = x (the identity)
    backward: dx = dy · m;   R{y} = m · R{x};   R{dx} = m · R{dy}  (linear in x: no second-order term)
    x, y, dy, dx: (N, *features).

    Parameters
    ----------
    rate : float in [0, 1), default 0.5
        The probability of zeroing an entry in training mode.
    name : str, optional
        The node's name in the graph.

    Raises
    ------
    ValueError
        ``rate`` outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 4), tg.Dropout(0.5), tg.Dense(4, 2), tg.Softmax(),
    ...                        tg.CrossEntropy()], random_state=0)
    >>> X = np.ones((3, 4))
    >>> bool(np.array_equal(model.forward(X), model.forward(X)))     # evaluation: no dropout
    True
    >>> y = np.array([0, 1, 0])
    >>> model.loss_value(model.theta, X, y) == model.loss_value(model.theta, X, y)  # same step, same mask
    True
    """

    stochastic = True
    cached = ("mask",)
    row_offset = 0  # rows of the whole batch before this pass's first row (row blocks set it)

    def __init__(self, rate: float = 0.5, *, name: str | None = None):
        super().__init__(name=name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.rate == 0.0:
            self.mask = None
            return x
        rng = getattr(self, "rng", None)
        if rng is None:
            raise RuntimeError(f"{self.name}: no random generator; a Graph seeds one before each "
                               "training-mode forward (or set node.rng yourself)")
        # One float64 uniform per entry, row after row, whatever the model's dtype: a block of rows
        # starting at row r (``row_offset``, set by the graph for row blocks) skips the r·F draws of
        # the rows before it, so every row gets the mask it gets in one pass over the whole batch.
        offset = self.row_offset
        if offset:
            rng.bit_generator.advance(int(offset) * (x.size // x.shape[0]))
        u = rng.random(out=self.buffer("u", x.shape, np.float64))
        mask = self.buffer("mask", x.shape)
        np.greater_equal(u, self.rate, out=mask)
        mask *= 1.0 / (1.0 - self.rate)
        self.mask = mask
        return np.multiply(x, mask, out=self.buffer("y", x.shape))

    def _apply(self, key: str, u):
        if u is None or self.mask is None:
            return u
        return np.multiply(u, self.mask, out=self.buffer(key, u.shape))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._apply("dx", dy)

    def rforward(self, v: np.ndarray, rx):
        return self._apply("ry", rx)

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        return self._apply("rdx", rdy)

    def get_config(self) -> dict:
        return {"rate": self.rate, "name": self.name}
