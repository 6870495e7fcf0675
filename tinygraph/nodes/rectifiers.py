"""ReLU's smooth and leaky relatives: LeakyReLU, ELU, Softplus, GELU (contract in ``tinygraph.nodes.node``).

Each is elementwise over any shape (N, *features) and keeps its slope f'(x) from ``forward``, so
backward is one product and the R-operators need only f''(x) (see ``_Pointwise``).
Exponentials are taken of x clipped to ``_floor`` (−354 in float64, −43 in float32): e^floor is the
square root of the smallest normal number, so the tails come out tiny but normal and their products
with gradients never underflow (no floating-point warning at ±1000); the values lost are below 1e-150.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .node import Node

__all__ = ["ELU", "GELU", "LeakyReLU", "Softplus"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715  # the cubic term of GELU's tanh approximation (Hendrycks & Gimpel; PyTorch)


def _floor(dtype) -> float:
    """log of the square root of the smallest normal number of ``dtype``: −354 (float64), −43 (float32)."""
    return 0.5 * math.log(np.finfo(dtype).tiny)


def _real(value, who: str, label: str, positive: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or isinstance(value, bool) or (positive and v <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"{who}: {label} must be {kind}, got {value!r}")
    return v


# Abramowitz & Stegun 7.1.26, the erf of PyTorch's vectorised float32 kernel:
# erfc(z) = t P(t) e^{-z²} + ε, t = 1 / (1 + p z), z ≥ 0, |ε| < 1.5e-7 (and shrinking with e^{-z²})
_AS_P = 0.3275911
_AS = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _gauss_float32(c: np.ndarray, cdf: np.ndarray, pdf: np.ndarray, t: np.ndarray) -> None:
    """Φ(c) into ``cdf`` and φ(c) into ``pdf`` for float32 c, sharing one exponential (scipy's ndtr
    runs a scalar loop, 10× slower); ``t`` is scratch.

    Φ(-|c|) = ½ erfc(|c|/√2) = t P(t) φ(c) √(π/2) with the coefficients prescaled; then Φ(c) is
    |[c > 0] − Φ(-|c|)| (Φ(-|c|) ≤ ½). Within 1e-7 absolute (PyTorch's own float32 error).
    """
    np.abs(c, out=t)
    t *= _AS_P / math.sqrt(2.0)
    t += 1.0
    np.reciprocal(t, out=t)
    scale = 0.5 / _INV_SQRT_2PI  # φ = e^{-c²/2}/√(2π), so ½ erfc = (√(π/2) P) t φ
    np.multiply(t, _AS[-1] * scale, out=cdf)
    for coef in _AS[-2::-1]:
        cdf += coef * scale
        cdf *= t
    np.square(c, out=pdf)
    pdf *= -0.5
    np.exp(pdf, out=pdf)
    pdf *= _INV_SQRT_2PI
    cdf *= pdf
    np.greater(c, 0.0, out=t)  # the boolean lands in t as 0.0/1.0: no masked select
    np.subtract(t, cdf, out=cdf)
    np.abs(cdf, out=cdf)


class _Pointwise(Node):
    """An elementwise y = f(x) that keeps its slope f'(x) from forward.

    backward:   dx = dy · f'(x)
    R-forward:  R{y} = f'(x) R{x}
    R-backward: R{dx} = R{dy} · f'(x) + dy · f''(x) R{x}
    ``forward`` sets ``self.slope``; ``_curvature(out)`` writes f''(x) into ``out`` (None: f'' = 0).
    """

    cached = ("slope", "rx", "mask", "c")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.multiply(dy, self.slope, out=self.buffer("dx", dy.shape))

    def rforward(self, v: np.ndarray, rx):
        self.rx = rx
        return None if rx is None else np.multiply(rx, self.slope, out=self.buffer("ry", rx.shape))

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        rdx = np.multiply(rdy, self.slope, out=self.buffer("rdx", rdy.shape))
        if dy is not None and self.rx is not None:
            t = self._curvature(self.buffer("rtmp", rdy.shape))
            if t is not None:
                t *= dy
                t *= self.rx
                rdx += t
        return rdx

    def _curvature(self, out: np.ndarray):
        return None


class LeakyReLU(_Pointwise):
    """Leaky rectified linear unit (PyTorch's ``LeakyReLU``).

    forward:  y = x if x > 0 else a·x     (a = ``negative_slope``)
    backward: dx = dy · (1 if x > 0 else a)
    R-forward: R{y} = R{x} · y';  R-backward: R{dx} = R{dy} · y'   (f'' = 0 almost everywhere)
    x, y, dy, dx: (N, *features).

    Parameters
    ----------
    negative_slope : float, default 0.01
        The slope a for x ≤ 0 (any finite number).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``negative_slope`` not a finite number.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.LeakyReLU(0.1)], input_shape=3)
    >>> model.forward(np.array([[-1.0, 0.0, 2.0]]))
    array([[-0.1,  0. ,  2. ]])
    >>> errors = tg.check_node_gradients(tg.LeakyReLU(0.1), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def __init__(self, negative_slope: float = 0.01, *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self.negative_slope = _real(negative_slope, "LeakyReLU", "negative_slope")

    def forward(self, x: np.ndarray) -> np.ndarray:
        # Selects by mask (np.where, copyto(where=)) cost 9 ms per million values; arithmetic on the
        # boolean mask 0.3–0.8 ms. max(mask, a) is exact for 0 ≤ a ≤ 1, the usual case.
        a = self.negative_slope
        mask = np.greater(x, 0.0, out=self.buffer("mask", x.shape, bool))
        s = self.slope = self.buffer("slope", x.shape)
        if 0.0 <= a <= 1.0:
            np.maximum(mask, a, out=s)
        else:
            np.multiply(mask, 1.0 - a, out=s)
            s += a
        return np.multiply(x, s, out=self.buffer("y", x.shape))

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope, **super().get_config()}


class ELU(_Pointwise):
    """Exponential linear unit (PyTorch's ``ELU``).

    forward:  y = x if x > 0 else α (e^x − 1)        (as expm1: exact near 0)
    backward: dx = dy · (1 if x > 0 else α e^x)
    R-backward: f'' = 0 if x > 0 else α e^x
    x, y, dy, dx: (N, *features).

    Parameters
    ----------
    alpha : float, default 1.0
        α: y tends to −α as x → −∞ (any finite number).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``alpha`` not a finite number.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.ELU()], input_shape=2)
    >>> model.forward(np.array([[-1000.0, 2.0]]))
    array([[-1.,  2.]])
    >>> errors = tg.check_node_gradients(tg.ELU(alpha=0.5), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def __init__(self, alpha: float = 1.0, *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self.alpha = _real(alpha, "ELU", "alpha")

    def forward(self, x: np.ndarray) -> np.ndarray:
        # y = α expm1(min(x, 0)) + max(x, 0) and y' = α e^{min(x, 0)} + [x > 0] (1 - α): no selects
        # (y' as 1 + expm1 would lose its relative precision far left, where e^x ≪ 1)
        self.mask = mask = np.greater(x, 0.0, out=self.buffer("mask", x.shape, bool))
        self.slope = s = np.clip(x, _floor(self.dtype), 0.0, out=self.buffer("slope", x.shape))
        y, t = self.buffer("y", x.shape), self.buffer("c", x.shape)
        if self.dtype == np.float32:
            # numpy's expm1 has no vector loop (25 ms per million float32 values): 2u / (1 - u) with
            # u = tanh(n/2) is within 2 ulp of it for n ≤ 0 (no cancellation: 1 - u ≥ 1), in 4 ms
            np.multiply(s, 0.5, out=y)
            np.tanh(y, out=y)
            np.subtract(1.0, y, out=t)
            y *= 2.0
            y /= t
        else:
            np.expm1(s, out=y)
        y *= self.alpha
        # clip with both bounds is numpy's fast loop (max(x, 0) is 4× slower)
        y += np.clip(x, 0.0, np.finfo(self.dtype).max, out=t)
        np.exp(s, out=s)
        if self.alpha != 1.0:
            s *= self.alpha
            s += np.multiply(mask, 1.0 - self.alpha, out=t)
        return y

    def _curvature(self, out: np.ndarray) -> np.ndarray:
        """f'' = y' - [x > 0]: α e^x on the left, 0 on the right."""
        return np.subtract(self.slope, self.mask, out=out)

    def get_config(self) -> dict:
        return {"alpha": self.alpha, **super().get_config()}


class Softplus(_Pointwise):
    """Smooth ReLU, PyTorch's ``Softplus`` exactly: linear above ``threshold`` (in βx).

    forward:  y = log(1 + e^{βx}) / β  if βx ≤ threshold, else y = x
    backward: dx = dy · σ(βx)  (1 above the threshold)
    R-backward: f'' = β σ(βx) (1 − σ(βx))  (0 above the threshold)
    At the default threshold 20 the switch changes y by 2e-9 and y' by 2e-9.
    x, y, dy, dx: (N, *features).

    Parameters
    ----------
    beta : float, default 1.0
        β, the sharpness (positive, finite); y tends to ReLU as β grows.
    threshold : float, default 20.0
        Above this value of βx, y = x (positive, finite).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``beta`` or ``threshold`` not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Softplus()], input_shape=2)
    >>> model.forward(np.array([[0.0, 1000.0]])).round(4).tolist()      # log 2, then linear
    [[0.6931, 1000.0]]
    >>> errors = tg.check_node_gradients(tg.Softplus(beta=2.0), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0, *, name: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self.beta = _real(beta, "Softplus", "beta", positive=True)
        self.threshold = _real(threshold, "Softplus", "threshold", positive=True)

    def forward(self, x: np.ndarray) -> np.ndarray:
        z = np.multiply(x, self.beta, out=self.buffer("slope", x.shape))
        linear = np.greater(z, self.threshold, out=self.buffer("mask", x.shape, bool))
        np.clip(z, _floor(self.dtype), self.threshold, out=z)
        e = np.exp(z, out=z)
        # log1p(e) = log(u) - ((u - 1) - e) / u with u = 1 + e: within 1 ulp (2 in float32), and numpy's
        # log has a vector loop where log1p has none (3.3 against 20 ms per million float32 values)
        u = np.add(e, 1.0, out=self.buffer("c", x.shape))
        y = np.log(u, out=self.buffer("y", x.shape))
        t = np.subtract(u, 1.0, out=self.buffer("t", x.shape))
        t -= e
        t /= u
        y -= t
        y /= self.beta
        e /= u
        if linear.any():  # usually none: a masked copy costs 9 ms per million values
            np.copyto(y, x, where=linear)
            np.copyto(e, 1.0, where=linear)
        self.slope = e
        return y

    def _curvature(self, out: np.ndarray) -> np.ndarray:
        np.subtract(1.0, self.slope, out=out)
        out *= self.slope
        out *= self.beta
        return out

    def get_config(self) -> dict:
        return {"beta": self.beta, "threshold": self.threshold, **super().get_config()}


class GELU(_Pointwise):
    """Gaussian error linear unit (PyTorch's ``GELU``), exact or with the tanh approximation.

    exact:  y = x Φ(x),  y' = Φ(x) + x φ(x),  y'' = φ(x) (2 − x²)   (Φ, φ: the normal cdf, pdf)
    "tanh": y = ½x (1 + t),  t = tanh(u),  u = √(2/π) (x + 0.044715 x³),  s = 1 − t²
            y' = ½(1 + t) + ½x s u',  y'' = s u' − x t s u'² + ½x s u''
    backward: dx = dy · y';  R{y} = y' R{x};  R{dx} = R{dy} · y' + dy · y'' R{x}
    Derivatives use x clipped where φ reaches e^floor (|x| ≤ 26.6 in float64): beyond, y' is 0 or 1.
    x, y, dy, dx: (N, *features).

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        The exact form (with the normal cdf Φ) or the tanh approximation.
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``approximate`` neither "none" nor "tanh".

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.GELU(approximate="tanh"), tg.Dense(3, 1),
    ...                        tg.MeanSquaredError()], random_state=0)
    >>> model.forward(np.ones((2, 4))).shape
    (2, 1)
    >>> errors = tg.check_node_gradients(tg.GELU(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    """

    def __init__(self, approximate: str = "none", *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        bound = math.sqrt(-2.0 * _floor(self.dtype))
        self.c = c = np.clip(x, -bound, bound, out=self.buffer("c", x.shape))
        y = self.buffer("y", x.shape)
        s = self.slope = self.buffer("slope", x.shape)
        if self.approximate == "tanh":
            t = self._tanh(c, self.buffer("t", x.shape))
            np.add(t, 1.0, out=y)
            y *= 0.5
            np.multiply(c, 0.5, out=s)
            s *= self._spread("s", t)
            s *= self._du(self.buffer("du", x.shape))
            s += y
            y *= x
            return y
        y = np.clip(x, -bound, np.finfo(self.dtype).max, out=y)  # far left y is then
        # -26.6 Φ(-26.6) ≈ -2e-155 (float64), not x Φ(-26.6); clip with two bounds is numpy's fast one
        phi = self.buffer("phi", x.shape)
        if self.dtype == np.float32:
            _gauss_float32(c, s, phi, self.buffer("t", x.shape))
        else:
            ndtr(c, out=s)
            self._phi(phi)
        y *= s
        phi *= c
        s += phi
        return y

    def _phi(self, out: np.ndarray) -> np.ndarray:
        np.multiply(self.c, self.c, out=out)
        out *= -0.5
        np.exp(out, out=out)
        out *= _INV_SQRT_2PI
        return out

    def _tanh(self, c: np.ndarray, out: np.ndarray) -> np.ndarray:
        """tanh(√(2/π) (c + κc³))."""
        np.multiply(c, c, out=out)
        out *= _KAPPA
        out += 1.0
        out *= c
        out *= _SQRT_2_OVER_PI
        return np.tanh(out, out=out)

    def _du(self, out: np.ndarray) -> np.ndarray:
        """u' = √(2/π) (1 + 3κc²)."""
        np.multiply(self.c, self.c, out=out)
        out *= 3.0 * _KAPPA
        out += 1.0
        out *= _SQRT_2_OVER_PI
        return out

    def _spread(self, key: str, t: np.ndarray) -> np.ndarray:
        """s = 1 − t²."""
        s = np.multiply(t, t, out=self.buffer(key, t.shape))
        return np.subtract(1.0, s, out=s)

    def _curvature(self, out: np.ndarray) -> np.ndarray:
        c = self.c
        if self.approximate == "tanh":
            t = self._tanh(c, self.buffer("t", c.shape))
            s = self._spread("s", t)
            du = self._du(self.buffer("du", c.shape))
            # s u' (1 − x t u') + ½ x s u'', with u'' = 6κ √(2/π) x
            np.multiply(c, t, out=out)
            out *= du
            np.subtract(1.0, out, out=out)
            out *= du
            out += (3.0 * _KAPPA * _SQRT_2_OVER_PI) * c * c
            out *= s
            return out
        self._phi(out)
        out *= 2.0 - c * c
        return out

    def get_config(self) -> dict:
        return {"approximate": self.approximate, **super().get_config()}
