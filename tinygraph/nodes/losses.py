"""Loss nodes: the end of a graph, where the backward pass starts.

A loss node reads one input ``x`` (N, K), or (N, T, K) for a sequence with a target per step, and
a target. ``forward(x, target, sample_weight)`` returns the weighted mean loss over the positions
(the N rows, or the N·T steps), Σ w l / Σ w (w = 1 by default, so the mean: PyTorch's
``cross_entropy`` on the flattened positions); ``backward()`` returns dL/dx. ``sample_weight`` is
(N,), or (N, T) for sequences (0 masks a padded step; an (N,) weight weighs each sequence's steps).
Curvature products: ``rforward(v, rx)`` returns R{L} = Σ dx · R{x}, ``rbackward()`` returns
H_L R{x} (H_L: the Hessian of L in x). ``check_target(target, N)`` turns a user's ``y`` into the
form ``forward`` reads, or raises naming the node. Targets are integer labels (N,) or (N, T), or
arrays of x's shape.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..validation import as_array
from .activations import Sigmoid, Softmax, sigmoid
from .node import Node

__all__ = ["CrossEntropy", "Hinge", "Huber", "Loss", "MeanSquaredError"]


@functools.lru_cache(maxsize=16)
def _row_index(n: int) -> np.ndarray:
    """0..n-1 (read-only), made once per batch size: picks each row's label entry z[n, y_n]."""
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


def _labels(t: np.ndarray, K: int, who: str, why: str) -> np.ndarray:
    """Integer class labels 0..K-1 as intp (floats holding integers accepted), else a named error."""
    if t.dtype.kind not in "biu":
        if t.dtype.kind != "f" or not np.array_equal(t, np.round(t)):
            raise TypeError(f"{who}: labels must be integers 0..{K - 1}, got dtype {t.dtype}")
        t = t.astype(np.intp)
    if t.size and (t.min() < 0 or t.max() >= K):
        raise ValueError(f"{who}: labels must lie in [0, {K - 1}] {why}, got range [{t.min()}, {t.max()}]")
    return t.astype(np.intp, copy=False)


class Loss(Node):
    """Base class of loss nodes: a loss gives ``forward``, ``backward`` and ``_curvature`` (H_L R{x}).

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        At build: inputs not of shape (N, K) or (N, T, K).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(3, 1), tg.MeanSquaredError()], random_state=0)
    >>> isinstance(model.nodes[-1], tg.Loss)
    True
    >>> loss, grad = model.loss_and_grad(model.theta, np.ones((4, 3)), np.zeros(4))
    >>> grad.shape == model.theta.shape
    True
    """

    def build(self, in_shape: tuple) -> tuple:
        # (N, C, H, W) would silently take W for the classes: only rows or sequences of steps.
        if len(in_shape) not in (1, 2):
            raise ValueError(f"{self.name}: expects inputs of shape (N, K) or (N, T, K), got (N, "
                             f"{', '.join(map(str, in_shape))}); flatten or pool the other axes first")
        return in_shape

    cached = ("x", "target", "weight", "p", "r", "rows", "rx")

    @property
    def sequence(self) -> bool:
        """True when the loss reads (N, T, K): one target per step."""
        return len(self.in_shapes[0]) == 2

    def rforward(self, v: np.ndarray, rx) -> float:
        self.rx = rx
        return 0.0 if rx is None else float(np.vdot(self.backward(), rx))

    def rbackward(self) -> np.ndarray:
        """H_L R{x} (x's shape) by the loss's ``_curvature(rx, out)``; 0 when no R{x} reaches the loss."""
        out = self.buffer("rdx", self.x.shape)
        if self.rx is None:
            out[...] = 0.0
            return out
        return self._curvature(self.rx, out)

    def _curvature(self, rx: np.ndarray, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} gives no Hessian product")

    def check_target(self, target, n: int) -> np.ndarray:
        shape = (n, *self.in_shapes[0])
        t = as_array(target, self.name, "y")
        if t.shape[:1] != (n,):
            raise ValueError(f"{self.name}: X has {n} rows but y has shape {t.shape}")
        if t.shape == shape[:-1] and shape[-1] == 1:
            t = t.reshape(shape)
        if t.shape != shape:
            raise ValueError(f"{self.name}: expects targets of shape {shape}, got {t.shape}")
        if t.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: targets must be numeric, got dtype {t.dtype}")
        t = t.astype(self.dtype, copy=False)
        if not np.isfinite(t).all():
            raise ValueError(f"{self.name}: targets contain NaN or inf")
        return t

    def _weights(self, sample_weight, x):
        """Per-position factor w / Σ w shaped (N, 1) or (N, T, 1) to broadcast against x, or the
        scalar 1/(number of positions). An (N,) weight on a sequence weighs each of its steps.
        ``x`` may also be the row count N (rows only: what custom losses written before passed)."""
        positions = (int(x),) if isinstance(x, (int, np.integer)) else x.shape[:-1]
        if sample_weight is None:
            return 1.0 / math.prod(positions)
        w = sample_weight
        if w.shape != positions:
            w = np.broadcast_to(w.reshape(w.shape + (1,) * (len(positions) - w.ndim)), positions)
        return (w / w.sum())[..., None].astype(self.dtype, copy=False)

    def _average(self, per_position: np.ndarray) -> float:
        """Σ w l / Σ w over positions with the factor ``forward`` stored from ``_weights``."""
        w = self.weight
        return float(per_position.sum() * w) if np.isscalar(w) else float(np.vdot(per_position, w))


class CrossEntropy(Loss):
    """Cross-entropy after Sigmoid (binary, per output) or Softmax (categorical), fused with it.

    The graph hands this node the activation's *input* z (the logits), so logs never see 0:
    binary (the course cost):  l_n = Σ_k softplus(z_nk) - t_nk z_nk,   dz = w (sigmoid(z) - t)
    categorical:               l_n = logsumexp(z_n) - Σ_k t_nk z_nk,   dz = w (softmax(z) - t)
    (t one-hot for integer labels; fused deltas valid only for these two pairs.)
    R-backward (H_L R{z}, the Gauss-Newton matrix's middle factor, per row and times w):
        binary:       R{dz} = w p (1 - p) R{z}             (H_L = diag(p(1 - p)))
        categorical:  R{dz} = w p (R{z} - Σ_k p_k R{z}_k)  (H_L = diag(p) - p pᵀ)
    z, dz: (N, K) or (N, T, K); targets: labels (N,) or (N, T) in [0, K), or probabilities of z's shape.
    Per step, the mean runs over all N·T positions: PyTorch's ``cross_entropy(z.view(-1, K), t.view(-1))``.

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    TypeError
        In a graph, not right after ``Sigmoid`` or ``Softmax``; labels not integers.
    ValueError
        Inputs not (N, K) or (N, T, K); labels outside [0, K); probabilities outside [0, 1]; targets of
        the wrong shape or with NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> X, y = np.ones((3, 4)), np.array([0, 2, 1])
    >>> theta = np.zeros_like(model.theta)          # uniform softmax: the loss is log 3
    >>> bool(abs(model.loss_value(theta, X, y) - np.log(3)) < 1e-12)
    True
    """

    kind: str | None = None

    def fuse(self, activation: Node) -> None:
        """Pick the cost for the activation in front of this node (called by the graph)."""
        if isinstance(activation, Sigmoid):
            self.kind = "binary"
        elif isinstance(activation, Softmax):
            if not activation.last_axis:  # the fused cost sums the classes over the last axis
                raise TypeError(f"{self.name}: CrossEntropy needs its Softmax over the last axis, "
                                f"{activation.name} has axis={activation.axis}")
            self.kind = "categorical"
        else:
            raise TypeError(f"{self.name}: CrossEntropy must follow Sigmoid or Softmax, "
                            f"got {type(activation).__name__} ({activation.name})")

    def check_target(self, target, n: int) -> np.ndarray:
        t = as_array(target, self.name, "y")
        *steps, K = self.in_shapes[0]
        if K > 1 and t.shape == (n, *steps):
            return _labels(t, K, self.name, f"for {K} outputs")
        t = super().check_target(target, n)
        if t.min() < 0 or t.max() > 1:
            raise ValueError(f"{self.name}: target probabilities must lie in [0, 1], "
                             f"got range [{t.min()}, {t.max()}]")
        return t

    def forward(self, z: np.ndarray, target: np.ndarray, sample_weight=None) -> float:
        self.x, self.target = z, target
        self.weight = self._weights(sample_weight, z)
        labels = target.ndim < z.ndim
        # labels pick z[position, t]: on the (N·T, K) view, one fancy index for rows and sequences
        self.rows = rows = _row_index(target.size) if labels else None
        if self.kind == "binary":
            self.p = sigmoid(z, self.buffer("p", z.shape))
            partition = np.logaddexp(0.0, z, out=self.buffer("l", z.shape)).sum(axis=-1)
        else:
            zmax = np.maximum.reduce(z, axis=-1, keepdims=True)  # the ufunc: no Python wrapper per step
            p = np.subtract(z, zmax, out=self.buffer("p", z.shape))
            np.exp(p, out=p)
            s = np.add.reduce(p, axis=-1, keepdims=True)
            p /= s
            self.p = p
            partition = np.log(s[..., 0]) + zmax[..., 0]
        if labels:
            picked = z.reshape(-1, z.shape[-1])[rows, target.reshape(-1)].reshape(target.shape)
        else:
            picked = np.einsum("...k,...k->...", target, z)
        return self._average(partition - picked)

    def backward(self) -> np.ndarray:
        dz = self.buffer("dz", self.p.shape)
        np.copyto(dz, self.p)
        if self.rows is not None:
            dz.reshape(-1, dz.shape[-1])[self.rows, self.target.reshape(-1)] -= 1.0
        else:
            dz -= self.target
        dz *= self.weight
        return dz

    def _curvature(self, rz: np.ndarray, rdz: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            np.subtract(1.0, self.p, out=rdz)
            rdz *= self.p
            rdz *= rz
        else:
            np.multiply(self.p, rz, out=rdz)
            s = rdz.sum(axis=-1, keepdims=True)
            np.subtract(rz, s, out=rdz)
            rdz *= self.p
        rdz *= self.weight
        return rdz


class MeanSquaredError(Loss):
    """Half the squared error, summed over outputs and averaged over examples.

    forward:  l_n = ½ Σ_k (x_nk - t_nk)²
    backward: dx = w (x - t)
    R-backward: R{dx} = w R{x}   (H_L = I)
    x, t, dx: (N, K) or (N, T, K); t may drop the last axis when K = 1.

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        Inputs not (N, K) or (N, T, K); targets of the wrong shape or with NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(3, 2), tg.MeanSquaredError()], random_state=0)
    >>> theta = np.zeros_like(model.theta)          # x = 0: l = (½(1 + 4) + ½(9 + 16)) / 2
    >>> float(model.loss_value(theta, np.ones((2, 3)), np.array([[1.0, 2.0], [3.0, 4.0]])))
    7.5
    """

    def forward(self, x: np.ndarray, target: np.ndarray, sample_weight=None) -> float:
        self.x, self.weight = x, self._weights(sample_weight, x)
        r = np.subtract(x, target, out=self.buffer("r", x.shape))
        self.r = r
        return 0.5 * self._average(np.einsum("...k,...k->...", r, r))

    def backward(self) -> np.ndarray:
        return np.multiply(self.r, self.weight, out=self.buffer("dx", self.r.shape))

    def _curvature(self, rx: np.ndarray, rdx: np.ndarray) -> np.ndarray:
        return np.multiply(rx, self.weight, out=rdx)


class Huber(Loss):
    """Huber loss: squared near the target, absolute beyond ``delta`` (robust to outliers in y).

    forward:  l_n = Σ_k h(r_nk),  r = x - t,  h(r) = ½ r² if |r| < δ else δ (|r| - ½δ)  (= c (r - ½c))
    backward: dx = w c,  c = clip(r, -δ, δ)
    R-backward: R{dx} = w [|r| < δ] R{x}   (H_L = diag([|r| < δ]))
    Summed over outputs and averaged over rows as ``MeanSquaredError`` (which it equals while every
    |r| < δ): PyTorch's ``huber_loss(x, t, delta=δ, reduction="sum") / N``, i.e. K × its mean.
    x, t, dx: (N, K) or (N, T, K); t may drop the last axis when K = 1.

    Parameters
    ----------
    delta : float, default 1.0
        δ, where the loss turns from squared to absolute (positive, finite; in units of y).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``delta`` not a positive finite number; inputs not (N, K) or (N, T, K); targets of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(3, 1), tg.Huber(delta=1.0)], random_state=0)
    >>> theta = np.zeros_like(model.theta)          # x = 0: (½ 0.5² + (3 - ½)) / 2
    >>> float(model.loss_value(theta, np.ones((2, 3)), np.array([0.5, 3.0])))
    1.3125
    """

    cached = Loss.cached + ("c",)

    def __init__(self, delta: float = 1.0, *, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        d = float(delta) if isinstance(delta, (int, float, np.number)) and not isinstance(delta, bool) else 0.0
        if not (np.isfinite(d) and d > 0):
            raise ValueError(f"Huber: delta must be a positive finite number, got {delta!r}")
        self.delta = d

    def forward(self, x: np.ndarray, target: np.ndarray, sample_weight=None) -> float:
        self.x, self.weight = x, self._weights(sample_weight, x)
        self.r = r = np.subtract(x, target, out=self.buffer("r", x.shape))
        self.c = c = np.clip(r, -self.delta, self.delta, out=self.buffer("c", x.shape))
        h = np.multiply(c, -0.5, out=self.buffer("h", x.shape))
        h += r
        return self._average(np.einsum("...k,...k->...", c, h))

    def backward(self) -> np.ndarray:
        return np.multiply(self.c, self.weight, out=self.buffer("dx", self.c.shape))

    def _curvature(self, rx: np.ndarray, rdx: np.ndarray) -> np.ndarray:
        inside = np.less(np.abs(self.r, out=rdx), self.delta, out=self.buffer("inside", rdx.shape, bool))
        np.multiply(rx, inside, out=rdx)
        rdx *= self.weight
        return rdx

    def get_config(self) -> dict:
        return {"delta": self.delta, **super().get_config()}


class Hinge(Loss):
    """Multiclass hinge loss of Crammer and Singer, as scikit-learn's ``hinge_loss``, on raw scores.

    forward (K > 1):  l_n = max(0, 1 + z_nm - z_ny),  m = argmax_{k≠y} z_nk  (the first on ties)
    forward (K = 1):  l_n = max(0, 1 - s_n z_n),  s_n = 2 y_n - 1 (labels 0/1 as -1/+1)
    backward: dz_nm = w [l_n > 0],  dz_ny = -w [l_n > 0]  (K = 1: dz_n = -w s_n [l_n > 0])
    R-backward: R{dz} = 0   (H_L = 0 almost everywhere: piecewise linear)
    z, dz: (N, K) or (N, T, K), the scores (no activation in front); targets: labels (N,) or (N, T)
    in [0, K) (0/1 if K = 1).
    ``predict`` gives argmax_k z (z > 0 if K = 1), ``score`` the accuracy.

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    TypeError
        Labels not integers.
    ValueError
        Inputs not (N, K) or (N, T, K); labels not of shape (N,) / (N, T) or outside [0, K)
        ([0, 1] when K = 1).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Hinge()], random_state=0)
    >>> theta = np.zeros_like(model.theta)          # all scores 0: every margin is 1
    >>> float(model.loss_value(theta, np.ones((2, 4)), np.array([0, 2])))
    1.0
    >>> model.predict(np.ones((2, 4))).shape
    (2,)
    """

    cached = Loss.cached + ("other", "active")

    def check_target(self, target, n: int) -> np.ndarray:
        t = as_array(target, self.name, "y")
        *steps, K = self.in_shapes[0]
        if K == 1 and t.shape == (n, *steps, 1):
            t = t[..., 0]
        if t.shape != (n, *steps):
            raise ValueError(f"{self.name}: expects labels of shape {(n, *steps)}, got {t.shape}")
        return _labels(t, max(K, 2), self.name, f"for {K} output{'s' if K > 1 else ''}")

    def forward(self, z: np.ndarray, target: np.ndarray, sample_weight=None) -> float:
        self.weight = self._weights(sample_weight, z)
        m, K = target.size, z.shape[-1]
        self.x, self.target, self.rows = z, target, _row_index(m)
        loss = self.buffer("l", (m,))  # per position, on the (N·T, K) view of a sequence
        t = target.reshape(-1)
        if K == 1:
            np.multiply(z.reshape(-1), 2.0 * t - 1.0, out=loss)
            np.subtract(1.0, loss, out=loss)
        else:
            rest = self.buffer("rest", (m, K))
            np.copyto(rest, z.reshape(m, K))
            rest[self.rows, t] = -np.inf
            self.other = np.argmax(rest, axis=1)
            np.subtract(rest[self.rows, self.other], z.reshape(m, K)[self.rows, t], out=loss)
            loss += 1.0
        np.maximum(loss, 0.0, out=loss)
        self.active = np.greater(loss, 0.0, out=self.buffer("active", (m,), bool))
        return self._average(loss)

    def backward(self) -> np.ndarray:
        z, rows, t = self.x, self.rows, self.target.reshape(-1)
        dz = self.buffer("dz", z.shape)
        dz[...] = 0.0
        flat = dz.reshape(-1, z.shape[-1])
        w = self.weight if np.isscalar(self.weight) else self.weight.reshape(-1)
        g = np.multiply(self.active, w, out=self.buffer("g", (t.size,)))
        if z.shape[-1] == 1:
            np.multiply(g, 1.0 - 2.0 * t, out=flat[:, 0])
        else:
            flat[rows, self.other] = g
            flat[rows, t] = -g
        return dz

    def _curvature(self, rz: np.ndarray, rdz: np.ndarray) -> np.ndarray:
        rdz[...] = 0.0
        return rdz
