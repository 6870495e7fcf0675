"""Elementwise activations, Softmax and LogSoftmax (contract in ``tinygraph.nodes.node``)."""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import expit

from .node import Node

__all__ = ["Identity", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh", "sigmoid"]


def sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) into ``out``, with no overflow or underflow at any finite x.

    float64: scipy's expit (nothing faster here). float32: numpy's vectorised exp beats expit, so x is
    clipped to ±87 (e^87 and e^-87 are normal float32 numbers) and the formula applied in place:
    2–2.5× faster (4000×25: 0.20 vs 0.45 ms), the same values up to float32 rounding except below
    1.7e-38, where it stops instead of reaching 0.

    Parameters
    ----------
    x : ndarray of float
        Any shape.
    out : ndarray
        Of x's shape and dtype; may be x itself.

    Returns
    -------
    ndarray
        ``out``, holding σ(x).

    Examples
    --------
    >>> import numpy as np
    >>> from tinygraph.nodes.activations import sigmoid
    >>> x = np.array([-1000.0, 0.0, 1000.0])
    >>> sigmoid(x, np.empty_like(x))
    array([0. , 0.5, 1. ])
    """
    if x.dtype != np.float32:
        return expit(x, out=out)
    np.clip(x, -87.0, 87.0, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


class _Smooth(Node):
    """An elementwise y = f(x) whose slope y' and bend y''/y' are functions of y (Sigmoid, Tanh).

    backward:   dx = dy · y'
    R-forward:  R{y} = y' R{x}
    R-backward: R{dx} = R{dy} · y' + dy · (y''/y') R{y}
    Subclasses give ``forward``, ``_slope(key, u) = y' · u`` and ``_bend(out) = y''/y'``.
    """

    cached = ("y", "ry")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._slope("dx", dy)

    def rforward(self, v: np.ndarray, rx):
        self.ry = None if rx is None else self._slope("ry", rx)
        return self.ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        rdx = self._slope("rdx", rdy)
        if dy is not None and self.ry is not None:
            t = self._bend(self.buffer("rtmp", rdy.shape))
            t *= dy
            t *= self.ry
            rdx += t
        return rdx


class Sigmoid(_Smooth):
    """Logistic function.

    forward:  y = 1 / (1 + exp(-x))   (``sigmoid``: no overflow at ±1000)
    backward: dx = dy · y (1 - y)
    R-forward:  R{y} = y (1 - y) R{x}
    R-backward: R{dx} = R{dy} · y (1 - y) + dy · (1 - 2y) R{y}
    x, y, dy, dx: (N, D).  Before ``CrossEntropy`` the loss reads x and fuses the two.

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
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Sigmoid(), tg.CrossEntropy()], random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 3)
    >>> errors = tg.check_node_gradients(tg.Sigmoid(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = sigmoid(x, self.buffer("y", x.shape))
        return self.y

    def _bend(self, out: np.ndarray) -> np.ndarray:
        """y''/y' = 1 - 2y."""
        np.multiply(self.y, -2.0, out=out)
        out += 1.0
        return out

    def _slope(self, key: str, u: np.ndarray) -> np.ndarray:
        out = np.subtract(1.0, self.y, out=self.buffer(key, u.shape))
        out *= self.y
        out *= u
        return out


class Tanh(_Smooth):
    """Hyperbolic tangent.

    forward:  y = tanh(x)
    backward: dx = dy · (1 - y²)
    R-forward:  R{y} = (1 - y²) R{x}
    R-backward: R{dx} = R{dy} · (1 - y²) - 2 dy · y R{y}
    x, y, dy, dx: (N, D).

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
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.MeanSquaredError()], random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 3)
    >>> errors = tg.check_node_gradients(tg.Tanh(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = np.tanh(x, out=self.buffer("y", x.shape))
        return self.y

    def _bend(self, out: np.ndarray) -> np.ndarray:
        """y''/y' = -2y."""
        return np.multiply(self.y, -2.0, out=out)

    def _slope(self, key: str, u: np.ndarray) -> np.ndarray:
        out = np.multiply(self.y, self.y, out=self.buffer(key, u.shape))
        np.subtract(1.0, out, out=out)
        out *= u
        return out


class ReLU(Node):
    """Rectified linear unit.

    forward:  y = max(x, 0)
    backward: dx = dy · [x > 0]
    R-forward: R{y} = R{x} · [x > 0];  R-backward: R{dx} = R{dy} · [x > 0]  (y'' = 0 almost everywhere)
    x, y, dy, dx: (N, D).

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
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.ReLU(), tg.MeanSquaredError()], random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 3)
    >>> errors = tg.check_node_gradients(tg.ReLU(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    cached = ("mask",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = np.greater(x, 0.0, out=self.buffer("mask", x.shape, bool))
        return np.maximum(x, 0.0, out=self.buffer("y", x.shape))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.multiply(dy, self.mask, out=self.buffer("dx", dy.shape))

    def rforward(self, v: np.ndarray, rx):
        return None if rx is None else np.multiply(rx, self.mask, out=self.buffer("ry", rx.shape))

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        return np.multiply(rdy, self.mask, out=self.buffer("rdx", rdy.shape))


class Identity(Node):
    """Identity (a linear output for regression).

    forward: y = x;  backward: dx = dy;  R{y} = R{x};  R{dx} = R{dy}.   x, y, dy, dx: (N, D).

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
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Identity(), tg.MeanSquaredError()], random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 3)
    >>> errors = tg.check_node_gradients(tg.Identity(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy

    def rforward(self, v: np.ndarray, rx):
        return rx

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        return rdy


class _OverAxis(Node):
    """Softmax and LogSoftmax: the axis they normalise, checked at build (never the batch axis)."""

    # Files written before ``axis`` existed normalised axis 1 (the only feature axis of (N, K), the
    # channels of (N, C, H, W)): they rebuild that way.
    legacy_config: ClassVar[dict] = {"axis": 1}
    axis = 1  # the same for pickles of before: they restore no ``axis`` of their own

    def __init__(self, axis: int = -1, *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def build(self, in_shape: tuple) -> tuple:
        ndim = len(in_shape) + 1
        if not (-ndim < self.axis < 0 or 0 < self.axis < ndim):
            raise ValueError(f"{self.name}: axis {self.axis} is not a feature axis of inputs (N, "
                             f"{', '.join(map(str, in_shape))})")
        return in_shape

    @property
    def last_axis(self) -> bool:
        """True when it normalises the last axis (what CrossEntropy reads)."""
        return self.axis == -1 or bool(self.in_shapes) and self.axis == len(self.in_shapes[0])

    def get_config(self) -> dict:
        return {"axis": self.axis, **super().get_config()}


class Softmax(_OverAxis):
    """Softmax over one axis, the last by default: the classes of (N, K), each step's of (N, T, K).

    forward:  y_k = exp(x_k - max x) / Σ_j exp(x_j - max x)
    backward: dx = y · (dy - Σ_k dy_k y_k)
    R-forward:  R{y} = y · (R{x} - Σ_k y_k R{x}_k)
    R-backward: R{dx} = y · (R{dy} - Σ_k R{dy}_k y_k) + R{y} · (dy - s) - y Σ_k dy_k R{y}_k,
                s = Σ_k dy_k y_k
    x, y, dy, dx: (N, *, K), sums over ``axis`` (PyTorch's ``softmax(dim=axis)``).  Before
    ``CrossEntropy`` (which needs the last axis) the loss reads x and fuses the two.

    Parameters
    ----------
    axis : int, default -1
        The axis the probabilities sum over (a feature axis: not 0).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> p = model.forward(np.ones((2, 4)))
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((2, 3), True)
    >>> errors = tg.check_node_gradients(tg.Softmax(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    cached = ("y", "ry")

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.buffer("y", x.shape)
        np.subtract(x, x.max(axis=self.axis, keepdims=True), out=y)
        np.exp(y, out=y)
        y /= y.sum(axis=self.axis, keepdims=True)
        self.y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.multiply(dy, self.y, out=self.buffer("dx", dy.shape))
        s = dx.sum(axis=self.axis, keepdims=True)
        np.subtract(dy, s, out=dx)
        dx *= self.y
        return dx

    def rforward(self, v: np.ndarray, rx):
        self.ry = None if rx is None else self._jvp("ry", rx)
        return self.ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        rdx = self._jvp("rdx", rdy)
        if dy is not None and self.ry is not None:
            s = np.sum(dy * self.y, axis=self.axis, keepdims=True)
            rs = np.sum(dy * self.ry, axis=self.axis, keepdims=True)
            t = np.subtract(dy, s, out=self.buffer("rtmp", dy.shape))
            t *= self.ry
            rdx += t
            np.multiply(self.y, rs, out=t)
            rdx -= t
        return rdx

    def _jvp(self, key: str, u: np.ndarray) -> np.ndarray:
        """y · (u - Σ_k u_k y_k): the softmax Jacobian (symmetric) times u."""
        out = np.multiply(u, self.y, out=self.buffer(key, u.shape))
        s = out.sum(axis=self.axis, keepdims=True)
        np.subtract(u, s, out=out)
        out *= self.y
        return out


class LogSoftmax(_OverAxis):
    """Log of the softmax over one axis, the last by default (PyTorch's ``LogSoftmax(dim=-1)``).

    forward:  y = x - max x - log Σ_j exp(x_j - max x);  p = exp(y) (the softmax) is kept
    backward: dx = dy - p Σ_k dy_k
    R-forward:  R{y} = R{x} - Σ_k p_k R{x}_k
    R-backward: R{dx} = R{dy} - p Σ_k R{dy}_k - p R{y} Σ_k dy_k
    x, y, dy, dx: (N, *, K), sums over ``axis``.

    Parameters
    ----------
    axis : int, default -1
        The axis the probabilities sum over (a feature axis: not 0).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.LogSoftmax()], random_state=0)
    >>> logp = model.forward(np.ones((2, 4)))
    >>> logp.shape, bool(np.allclose(np.exp(logp).sum(axis=1), 1.0))
    ((2, 3), True)
    >>> errors = tg.check_node_gradients(tg.LogSoftmax(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    cached = ("p", "ry")

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.subtract(x, x.max(axis=self.axis, keepdims=True), out=self.buffer("y", x.shape))
        # exp of x - max clipped at -354: the tail is 1e-154, not an underflow (no warning at ±1000)
        p = np.maximum(y, 0.5 * np.log(np.finfo(self.dtype).tiny), out=self.buffer("p", x.shape))
        np.exp(p, out=p)
        s = p.sum(axis=self.axis, keepdims=True)
        p /= s
        y -= np.log(s)
        self.p = p
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._jvp("dx", dy)

    def rforward(self, v: np.ndarray, rx):
        if rx is None:
            self.ry = None
            return None
        ry = self.ry = self.buffer("ry", rx.shape)
        np.subtract(rx, np.sum(self.p * rx, axis=self.axis, keepdims=True), out=ry)
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        rdx = self._jvp("rdx", rdy)
        if dy is not None and self.ry is not None:
            t = np.multiply(self.p, self.ry, out=self.buffer("rtmp", dy.shape))
            t *= dy.sum(axis=self.axis, keepdims=True)
            rdx -= t
        return rdx

    def _jvp(self, key: str, u: np.ndarray) -> np.ndarray:
        """u - p Σ_k u_k: the transposed Jacobian times u."""
        out = np.multiply(self.p, u.sum(axis=self.axis, keepdims=True), out=self.buffer(key, u.shape))
        return np.subtract(u, out, out=out)
