"""Hidden-layer nodes: Dense and the elementwise activations (contract in ``tinygraph.node``)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .initializers import get_initializer
from .node import Node

__all__ = ["Dense", "Sigmoid", "Tanh", "ReLU", "Identity", "Softmax"]


class Dense(Node):
    """Fully connected layer.

    forward:  y = x W + b
    backward: dW = xᵀ dy,  db = Σ_n dy,  dx = dy Wᵀ
    x: (N, n_in), W: (n_in, n_out), b: (n_out,), y and dy: (N, n_out), dx like x.
    ``Dense(n_out)`` takes n_in from its input at build time.
    """

    cached = ("x",)
    regularized = ("W",)

    def __init__(self, n_in: int | None, n_out: int | None = None, *, init=None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        if n_out is None:
            n_in, n_out = None, n_in
        for label, n in (("n_in", n_in), ("n_out", n_out)):
            if n is not None and (int(n) != n or n < 1):
                raise ValueError(f"Dense: {label} must be a positive integer, got {n!r}")
        self.n_in = None if n_in is None else int(n_in)
        self.n_out = int(n_out)
        if init is not None:
            get_initializer(init)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 1:
            raise ValueError(f"{self.name}: expects inputs of shape (N, n_in), got (N, {in_shape})")
        if self.n_in is None:
            self.n_in = in_shape[0]
        elif in_shape[0] != self.n_in:
            raise ValueError(f"{self.name}: expects {self.n_in} input features, "
                             f"its input {self.inputs[0].name} gives {in_shape[0]}")
        self.params = (("W", (self.n_in, self.n_out)), ("b", (self.n_out,)))
        return (self.n_out,)

    def init(self, rng: np.random.Generator, default=None) -> None:
        scheme = default if self.init_scheme is None else self.init_scheme
        get_initializer(scheme)(rng, self.W, self.b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        y = self.buffer("y", (x.shape[0], self.n_out))
        np.matmul(x, self.W, out=y)
        y += self.b
        return y

    def backward(self, dy: np.ndarray):
        np.matmul(self.x.T, dy, out=self.dW)
        np.sum(dy, axis=0, out=self.db)
        if not self.need_dx:  # the first layer: skipping dx saves an N×n_in product per step
            return None
        return np.matmul(dy, self.W.T, out=self.buffer("dx", self.x.shape))

    def get_config(self) -> dict:
        init = self.init_scheme if isinstance(self.init_scheme, str) else None
        return {"n_in": self.n_in, "n_out": self.n_out, "init": init,
                **super().get_config()}


class Sigmoid(Node):
    """Logistic function.

    forward:  y = 1 / (1 + exp(-x))   (scipy's expit: no overflow at ±1000)
    backward: dx = dy · y (1 - y)
    x, y, dy, dx: (N, D).  Before ``CrossEntropy`` the loss reads x and fuses the two.
    """

    cached = ("y",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = expit(x, out=self.buffer("y", x.shape))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.subtract(1.0, self.y, out=self.buffer("dx", dy.shape))
        dx *= self.y
        dx *= dy
        return dx


class Tanh(Node):
    """Hyperbolic tangent.

    forward:  y = tanh(x)
    backward: dx = dy · (1 - y²)
    x, y, dy, dx: (N, D).
    """

    cached = ("y",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = np.tanh(x, out=self.buffer("y", x.shape))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.multiply(self.y, self.y, out=self.buffer("dx", dy.shape))
        np.subtract(1.0, dx, out=dx)
        dx *= dy
        return dx


class ReLU(Node):
    """Rectified linear unit.

    forward:  y = max(x, 0)
    backward: dx = dy · [x > 0]
    x, y, dy, dx: (N, D).
    """

    cached = ("mask",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = np.greater(x, 0.0, out=self.buffer("mask", x.shape, bool))
        return np.maximum(x, 0.0, out=self.buffer("y", x.shape))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.multiply(dy, self.mask, out=self.buffer("dx", dy.shape))


class Identity(Node):
    """Identity (a linear output for regression).

    forward: y = x;  backward: dx = dy.   x, y, dy, dx: (N, D).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy


class Softmax(Node):
    """Softmax over the feature axis.

    forward:  y_k = exp(x_k - max x) / Σ_j exp(x_j - max x)
    backward: dx = y · (dy - Σ_k dy_k y_k)
    x, y, dy, dx: (N, K).  Before ``CrossEntropy`` the loss reads x and fuses the two.
    """

    cached = ("y",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.buffer("y", x.shape)
        np.subtract(x, x.max(axis=1, keepdims=True), out=y)
        np.exp(y, out=y)
        y /= y.sum(axis=1, keepdims=True)
        self.y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.multiply(dy, self.y, out=self.buffer("dx", dy.shape))
        s = dx.sum(axis=1, keepdims=True)
        np.subtract(dy, s, out=dx)
        dx *= self.y
        return dx
