"""Dropout (contract, modes and randomness in ``tinygraph.nodes.node``)."""
from __future__ import annotations

import numpy as np

from .node import Node

__all__ = ["Dropout"]


class Dropout(Node):
    """Inverted dropout: zero each entry with probability ``rate`` in training, scale the rest.

    training:   y = x · m,  m = [u ≥ rate] / (1 - rate),  u ~ U[0, 1) from ``self.rng`` (one mask per step)
    evaluation: y = x (the identity)
    backward: dx = dy · m;   R{y} = m · R{x};   R{dx} = m · R{dy}  (linear in x: no second-order term)
    x, y, dy, dx: (N, *features).
    """

    stochastic = True
    cached = ("mask",)

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
        mask = self.buffer("mask", x.shape)
        rng.random(out=mask)
        np.greater_equal(mask, self.rate, out=mask)
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
