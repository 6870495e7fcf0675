"""Normalisation: BatchNorm (statistics over the batch, running averages in ``state``) and
LayerNorm (statistics over each row's features). Contract, modes and state in ``tinygraph.nodes.node``.

Both standardise x over a group of entries and then scale and shift it:

    x̂ = (x - μ) s,   s = 1 / sqrt(σ² + eps),   y = γ x̂ + β      (μ, σ² the group's mean and biased variance)

The input gradient goes through the normalisation's Jacobian, which is symmetric; ``_jvp`` applies it:

    J u = s (u - mean(u) - x̂ mean(u x̂))        dx = J (γ dy),   dγ = Σ dy x̂,   dβ = Σ dy

R-operators (R{x̂} = J R{x}; R{s} = -s² mean(x̂ R{x})):
    R{y}  = γ R{x̂} + Vγ x̂ + Vβ
    R{dx} = J (γ R{dy}) + [second order] J (Vγ dy) + (R{s}/s) dx - s (R{x̂} mean(g x̂) + x̂ mean(g R{x̂})),  g = γ dy
    R{dγ} = Σ R{dy} x̂ + [second order] Σ dy R{x̂},   R{dβ} = Σ R{dy}
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from .node import Node

__all__ = ["BatchNorm", "LayerNorm"]


def _positive(who: str, name: str, value, upper: float | None = None) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and value > 0
    if not ok or upper is not None and value > upper or not np.isfinite(value):
        bound = f"in (0, {upper}]" if upper is not None else "a positive number"
        raise ValueError(f"{who}: {name} must be {bound}, got {value!r}")
    return float(value)


class _Normalization(Node):
    """Shared forward, backward and R-operators; subclasses set the axes in ``build``.

    ``_stat_axes``: the axes of x a group's statistics run over; ``_param_axes``: the axes the
    gradients of γ and β sum over; ``_gshape``: γ and β reshaped to broadcast against x.
    """

    cached = ("x_hat", "s", "rx_hat", "rx", "batch_mean", "batch_var")

    def __init__(self, eps: float = 1e-5, *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self.eps = _positive(type(self).__name__, "eps", eps)

    def init(self, rng: np.random.Generator, default=None) -> None:
        self.gamma[...] = 1.0
        self.beta[...] = 0.0

    def _batch_statistics(self) -> bool:
        """True when μ and σ² are those of the input itself (its Jacobian then couples the group)."""
        return True

    def _mean(self, a: np.ndarray) -> np.ndarray:
        """The mean over the statistics' axes, keepdims. Over the last axis alone (LayerNorm on
        (N, T, E)) it is a product with a ones/E vector: BLAS beats np.mean on many short rows."""
        if self._stat_axes == (a.ndim - 1,):
            return np.matmul(a, np.full(a.shape[-1], 1.0 / a.shape[-1], dtype=a.dtype))[..., None]
        return a.mean(axis=self._stat_axes, keepdims=True)

    def _standardize(self, x: np.ndarray) -> None:
        """x̂ and s from x's own statistics."""
        mean = self._mean(x)
        xc = np.subtract(x, mean, out=self.buffer("x_hat", x.shape))
        var = self._mean(np.multiply(xc, xc, out=self.buffer("sq", x.shape)))
        self.batch_mean, self.batch_var = mean, var
        self.s = 1.0 / np.sqrt(var + self.eps)
        xc *= self.s
        self.x_hat = xc

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._standardize(x)
        y = np.multiply(self.x_hat, self.gamma.reshape(self._gshape), out=self.buffer("y", x.shape))
        y += self.beta.reshape(self._gshape)
        return y

    def _jvp(self, key: str, u: np.ndarray) -> np.ndarray:
        """J u: s (u - mean(u) - x̂ mean(u x̂)) with batch statistics, s u with fixed ones."""
        out = self.buffer(key, u.shape)
        if not self._batch_statistics():
            return np.multiply(u, self.s, out=out)
        np.multiply(u, self.x_hat, out=out)
        proj = self._mean(out)
        np.multiply(self.x_hat, proj, out=out)
        np.subtract(u, out, out=out)
        out -= self._mean(u)
        out *= self.s
        return out

    def backward(self, dy: np.ndarray) -> np.ndarray:
        g = np.multiply(dy, self.x_hat, out=self.buffer("g", dy.shape))
        self.dgamma[...] = g.sum(axis=self._param_axes).reshape(self.dgamma.shape)
        self.dbeta[...] = dy.sum(axis=self._param_axes).reshape(self.dbeta.shape)
        if not self.need_dx:
            return None
        np.multiply(dy, self.gamma.reshape(self._gshape), out=g)
        return self._jvp("dx", g)

    def rforward(self, v: np.ndarray, rx):
        V = self.views(v)
        self.rx = rx
        self.rx_hat = None if rx is None else self._jvp("rx_hat", rx)
        ry = np.multiply(self.x_hat, V["gamma"].reshape(self._gshape), out=self.buffer("ry", self.x_hat.shape))
        ry += V["beta"].reshape(self._gshape)
        if self.rx_hat is not None:
            ry += self.rx_hat * self.gamma.reshape(self._gshape)
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        H, G = self.views(hv), self.gamma.reshape(self._gshape)
        t = rdy * self.x_hat
        if dy is not None and self.rx_hat is not None:
            t += dy * self.rx_hat
        H["gamma"][...] = t.sum(axis=self._param_axes).reshape(H["gamma"].shape)
        H["beta"][...] = rdy.sum(axis=self._param_axes).reshape(H["beta"].shape)
        if not self.need_dx:
            return None
        rdx = self._jvp("rdx", rdy * G)
        if dy is None:
            return rdx
        rdx += self._jvp("rtmp", dy * self.views(v)["gamma"].reshape(self._gshape))
        if self.rx_hat is not None and self._batch_statistics():
            g = dy * G
            dx = self._jvp("rtmp", g)
            rs_over_s = -self.s * (self.x_hat * self.rx).mean(axis=self._stat_axes, keepdims=True)
            rdx += rs_over_s * dx
            rdx -= self.s * (self.rx_hat * (g * self.x_hat).mean(axis=self._stat_axes, keepdims=True)
                             + self.x_hat * (g * self.rx_hat).mean(axis=self._stat_axes, keepdims=True))
        return rdx

    def get_config(self) -> dict:
        return {"eps": self.eps, **super().get_config()}


class BatchNorm(_Normalization):
    """Batch normalisation over the batch (and spatial) axes, per feature or channel (PyTorch's
    BatchNorm1d/2d: x (N, C) or (N, C, H, W); γ, β of shape (C,)).

    On a 3-D input the channel axis is ambiguous, so it must be named: ``axis=1`` treats x as
    (N, C, L) (PyTorch's BatchNorm1d), ``axis=-1`` as a sequence (N, T, E) normalised per feature E
    over all N·T positions (BatchNorm1d applied to x.transpose(1, 2)).

    training: μ, σ² (biased) of the batch per channel; after an accepted step ``update_state``
              sets running_mean ← (1 - momentum) running_mean + momentum μ and running_var likewise
              with the *unbiased* batch variance (as PyTorch).
    evaluation: μ = running_mean, σ² = running_var: an affine map, dx = γ s dy.
    forward: y = γ (x - μ) / sqrt(σ² + eps) + β; backward and R-operators: see the module docstring of
    ``tinygraph.nodes.normalization`` (J = s I in evaluation mode).

    Parameters
    ----------
    momentum : float in (0, 1], default 0.1
        Weight of the batch in the running averages (PyTorch's convention).
    eps : float, default 1e-5
        Added to the variance.
    axis : {None, 1, -1}, default None
        The channel axis of x: None is 1 for (N, C) and (N, C, H, W) and must be chosen for
        (N, T, E); -1 normalises each feature of the last axis over all other axes.
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes γ and β (the running statistics still update).

    Raises
    ------
    ValueError
        ``momentum``, ``eps`` or ``axis`` out of range; a 3-D input without ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.BatchNorm(), tg.ReLU(), tg.Dense(3, 2), tg.Softmax(),
    ...                        tg.CrossEntropy()], random_state=0)
    >>> model.state.size                      # running mean and variance of 3 features, not in theta
    6
    >>> X, y = np.random.default_rng(0).standard_normal((50, 4)), np.arange(50) % 2
    >>> res = tg.fit(model, X, y, tg.optim.SGD(0.1), batch_size=10, epochs=1, random_state=0)
    >>> bool(model.nodes[2].running_var.min() > 0)
    True
    """

    couples_rows = True
    legacy_config: ClassVar[dict] = {"axis": 1}  # files saved before ``axis`` existed used the channel axis 1

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5, *, axis: int | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(eps, name=name, trainable=trainable)
        self.momentum = _positive("BatchNorm", "momentum", momentum, upper=1.0)
        if axis not in (None, 1, -1) or isinstance(axis, bool):
            raise ValueError(f"BatchNorm: axis must be None, 1 or -1, got {axis!r}")
        self.axis = axis

    def build(self, in_shape: tuple) -> tuple:
        ndim = len(in_shape) + 1
        if self.axis is None and ndim == 3:
            raise ValueError(
                f"{self.name}: on a 3-D input (N, {in_shape[0]}, {in_shape[1]}) the channel axis is "
                f"ambiguous; pass axis=-1 to normalise each of the {in_shape[1]} features over N and the "
                f"{in_shape[0]} steps (a sequence (N, T, E)), or axis=1 to normalise each of the "
                f"{in_shape[0]} channels of (N, C, L) (PyTorch's BatchNorm1d)")
        if self.axis == -1 and ndim > 2:
            C = in_shape[-1]
            self._stat_axes = self._param_axes = tuple(range(ndim - 1))
            self._gshape = (1,) * (ndim - 1) + (C,)
        else:
            C = in_shape[0]
            self._stat_axes = self._param_axes = (0,) + tuple(range(2, ndim))
            self._gshape = (1, C) + (1,) * (ndim - 2)
        self._channels = C
        self.params = (("gamma", (C,)), ("beta", (C,)))
        self.states = (("running_mean", (C,)), ("running_var", (C,)))
        return in_shape

    def reset_state(self) -> None:
        self.running_mean[...] = 0.0
        self.running_var[...] = 1.0

    def _batch_statistics(self) -> bool:
        return self.training

    def _standardize(self, x: np.ndarray) -> None:
        if self.training:
            m = x.size // self._channels
            if m < 2:
                raise ValueError(f"{self.name}: training mode needs more than 1 value per channel to "
                                 f"estimate a variance, got input shape {x.shape}")
            self._count = m
            return super()._standardize(x)
        self.s = 1.0 / np.sqrt(self.running_var.reshape(self._gshape) + self.eps)
        xc = np.subtract(x, self.running_mean.reshape(self._gshape), out=self.buffer("x_hat", x.shape))
        xc *= self.s
        self.x_hat = xc

    def update_state(self, momentum: float | None = None) -> None:
        mean = getattr(self, "batch_mean", None)
        if mean is None:
            return
        m = self.momentum if momentum is None else momentum
        unbiased = self.batch_var.reshape(-1) * (self._count / (self._count - 1))
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean.reshape(-1)
        self.running_var *= 1.0 - m
        self.running_var += m * unbiased
        self.batch_mean = None  # each batch's statistics enter once

    def get_config(self) -> dict:
        return {"momentum": self.momentum, "axis": self.axis, **super().get_config()}


class LayerNorm(_Normalization):
    """Layer normalisation of each position over its last axis (``axis=-1``, PyTorch's
    ``nn.LayerNorm(E)`` on (N, T, E): γ, β of shape (E,)), or of each row over all its feature
    axes (``axis=None``: normalized_shape = the feature shape, γ, β of the feature shape). The same
    in both modes. On (N, F) the two are one and the same.

    forward: y = γ (x - μ) / sqrt(σ² + eps) + β, μ and σ² (biased) over the normalised axes.
    x, y, dy, dx: (N, *features); backward and R-operators in the module docstring of
    ``tinygraph.nodes.normalization``.

    The default is the last axis, what a transformer (and PyTorch) user expects; files saved
    before ``axis`` existed load with ``axis=None``, the behaviour they were trained with.

    Parameters
    ----------
    eps : float, default 1e-5
        Added to the variance.
    axis : {-1, None}, default -1
        Normalise over the last axis only, or over all feature axes.
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes γ and β.

    Raises
    ------
    ValueError
        ``eps`` not a positive number; ``axis`` neither -1 nor None.

    Examples
    --------
    >>> import tinygraph as tg
    >>> errors = tg.check_node_gradients(tg.LayerNorm(), (6,))
    >>> all(e < 1e-6 for e in errors.values())
    True
    >>> model = tg.Sequential([tg.LayerNorm()], input_shape=(5, 8))    # (N, T, E): γ, β of shape (E,)
    >>> model.nodes[1].gamma.shape
    (8,)
    """

    legacy_config: ClassVar[dict] = {"axis": None}  # files saved before ``axis`` existed normalised all feature axes

    def __init__(self, eps: float = 1e-5, *, axis: int | None = -1, name: str | None = None,
                 trainable: bool = True):
        super().__init__(eps, name=name, trainable=trainable)
        if axis not in (-1, None) or isinstance(axis, bool):
            raise ValueError(f"LayerNorm: axis must be -1 (the last axis) or None (all feature axes), "
                             f"got {axis!r}")
        self.axis = axis

    def build(self, in_shape: tuple) -> tuple:
        ndim = len(in_shape) + 1
        if self.axis == -1:
            self._stat_axes = (ndim - 1,)
            self._param_axes = tuple(range(ndim - 1))
            self._gshape = (1,) * (ndim - 1) + (in_shape[-1],)
            shape = (in_shape[-1],)
        else:
            self._stat_axes = tuple(range(1, ndim))
            self._param_axes = (0,)
            self._gshape = (1,) + tuple(in_shape)
            shape = tuple(in_shape)
        self.params = (("gamma", shape), ("beta", shape))
        return in_shape

    def get_config(self) -> dict:
        return {"axis": self.axis, **super().get_config()}
