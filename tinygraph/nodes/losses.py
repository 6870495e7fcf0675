"""Loss nodes: the end of a graph, where the backward pass starts.

A loss node reads one input ``x`` (N, K) and a target. ``forward(x, target, sample_weight)``
returns the weighted mean loss over the N examples, Σ_n w_n l_n / Σ_n w_n (w = 1 by default, so the
mean); ``backward()`` returns dL/dx. Curvature products: ``rforward(v, rx)`` returns
R{L} = Σ dx · R{x}, ``rbackward()`` returns H_L R{x} (H_L: the Hessian of L in x).
``check_target(target, N)`` turns a user's ``y`` into the
form ``forward`` reads, or raises naming the node. Targets are integer labels (N,) or arrays (N, K).
"""
from __future__ import annotations

import functools

import numpy as np

from ..validation import as_array
from .activations import Sigmoid, Softmax, sigmoid
from .node import Node

__all__ = ["CrossEntropy", "Loss", "MeanSquaredError"]


@functools.lru_cache(maxsize=16)
def _row_index(n: int) -> np.ndarray:
    """0..n-1 (read-only), made once per batch size: picks each row's label entry z[n, y_n]."""
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


class Loss(Node):
    """Base class of loss nodes."""

    cached = ("x", "target", "weight", "p", "r", "rows", "rx")

    def rforward(self, v: np.ndarray, rx) -> float:
        self.rx = rx
        return 0.0 if rx is None else float(np.vdot(self.backward(), rx))

    def check_target(self, target, n: int) -> np.ndarray:
        K = self.in_shapes[0][0]
        t = as_array(target, self.name, "y")
        if t.shape[:1] != (n,):
            raise ValueError(f"{self.name}: X has {n} rows but y has shape {t.shape}")
        if t.ndim == 1 and K == 1:
            t = t.reshape(n, 1)
        if t.ndim != 2 or t.shape[1] != K:
            raise ValueError(f"{self.name}: expects targets of shape ({n}, {K}), got {t.shape}")
        if t.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: targets must be numeric, got dtype {t.dtype}")
        t = t.astype(self.dtype, copy=False)
        if not np.isfinite(t).all():
            raise ValueError(f"{self.name}: targets contain NaN or inf")
        return t

    def _weights(self, sample_weight, n: int):
        """Per-row factor w_n / Σ w as an (N, 1) column, or the scalar 1/N."""
        if sample_weight is None:
            return 1.0 / n
        return (sample_weight / sample_weight.sum()).reshape(n, 1).astype(self.dtype, copy=False)

    def _average(self, per_row: np.ndarray) -> float:
        """Σ_n w_n l_n / Σ w with the factor ``forward`` stored from ``_weights``."""
        w = self.weight
        return float(per_row.sum() * w) if np.isscalar(w) else float(per_row @ w[:, 0])


class CrossEntropy(Loss):
    """Cross-entropy after Sigmoid (binary, per output) or Softmax (categorical), fused with it.

    The graph hands this node the activation's *input* z (the logits), so logs never see 0:
    binary (the course cost):  l_n = Σ_k softplus(z_nk) - t_nk z_nk,   dz = w (sigmoid(z) - t)
    categorical:               l_n = logsumexp(z_n) - Σ_k t_nk z_nk,   dz = w (softmax(z) - t)
    (t one-hot for integer labels; fused deltas valid only for these two pairs.)
    R-backward (H_L R{z}, the Gauss-Newton matrix's middle factor, per row and times w):
        binary:       R{dz} = w p (1 - p) R{z}             (H_L = diag(p(1 - p)))
        categorical:  R{dz} = w p (R{z} - Σ_k p_k R{z}_k)  (H_L = diag(p) - p pᵀ)
    z, dz: (N, K); targets: labels (N,) in [0, K), or (N, K) probabilities.
    """

    kind: str | None = None

    def fuse(self, activation: Node) -> None:
        """Pick the cost for the activation in front of this node (called by the graph)."""
        if isinstance(activation, Sigmoid):
            self.kind = "binary"
        elif isinstance(activation, Softmax):
            self.kind = "categorical"
        else:
            raise TypeError(f"{self.name}: CrossEntropy must follow Sigmoid or Softmax, "
                            f"got {type(activation).__name__} ({activation.name})")

    def check_target(self, target, n: int) -> np.ndarray:
        t = as_array(target, self.name, "y")
        K = self.in_shapes[0][0]
        if t.ndim == 1 and K > 1 and t.shape == (n,):
            if t.dtype.kind not in "biu":
                if t.dtype.kind != "f" or not np.array_equal(t, np.round(t)):
                    raise TypeError(f"{self.name}: labels must be integers 0..{K - 1}, got dtype {t.dtype}")
                t = t.astype(np.intp)
            if t.min() < 0 or t.max() >= K:
                raise ValueError(f"{self.name}: labels must lie in [0, {K - 1}] for {K} outputs, "
                                 f"got range [{t.min()}, {t.max()}]")
            return t.astype(np.intp, copy=False)
        t = super().check_target(target, n)
        if t.min() < 0 or t.max() > 1:
            raise ValueError(f"{self.name}: target probabilities must lie in [0, 1], "
                             f"got range [{t.min()}, {t.max()}]")
        return t

    def forward(self, z: np.ndarray, target: np.ndarray, sample_weight=None) -> float:
        n = z.shape[0]
        self.x, self.target = z, target
        self.weight = self._weights(sample_weight, n)
        self.rows = rows = _row_index(n) if target.ndim == 1 else None
        if self.kind == "binary":
            self.p = sigmoid(z, self.buffer("p", z.shape))
            partition = np.logaddexp(0.0, z, out=self.buffer("l", z.shape)).sum(axis=1)
        else:
            zmax = np.maximum.reduce(z, axis=1, keepdims=True)  # the ufunc: no Python wrapper per step
            p = np.subtract(z, zmax, out=self.buffer("p", z.shape))
            np.exp(p, out=p)
            s = np.add.reduce(p, axis=1, keepdims=True)
            p /= s
            self.p = p
            partition = np.log(s[:, 0]) + zmax[:, 0]
        per_row = partition - (z[rows, target] if rows is not None else np.einsum("nk,nk->n", target, z))
        return self._average(per_row)

    def backward(self) -> np.ndarray:
        dz = self.buffer("dz", self.p.shape)
        np.copyto(dz, self.p)
        if self.rows is not None:
            dz[self.rows, self.target] -= 1.0
        else:
            dz -= self.target
        dz *= self.weight
        return dz

    def rbackward(self) -> np.ndarray:
        rdz = self.buffer("rdz", self.p.shape)
        if self.rx is None:
            rdz[...] = 0.0
            return rdz
        if self.kind == "binary":
            np.subtract(1.0, self.p, out=rdz)
            rdz *= self.p
            rdz *= self.rx
        else:
            np.multiply(self.p, self.rx, out=rdz)
            s = rdz.sum(axis=1, keepdims=True)
            np.subtract(self.rx, s, out=rdz)
            rdz *= self.p
        rdz *= self.weight
        return rdz


class MeanSquaredError(Loss):
    """Half the squared error, summed over outputs and averaged over examples.

    forward:  l_n = ½ Σ_k (x_nk - t_nk)²
    backward: dx = w (x - t)
    R-backward: R{dx} = w R{x}   (H_L = I)
    x, t, dx: (N, K); t may be (N,) when K = 1.
    """

    def forward(self, x: np.ndarray, target: np.ndarray, sample_weight=None) -> float:
        n = x.shape[0]
        self.weight = self._weights(sample_weight, n)
        r = np.subtract(x, target, out=self.buffer("r", x.shape))
        self.r = r
        return 0.5 * self._average(np.einsum("nk,nk->n", r, r))

    def backward(self) -> np.ndarray:
        return np.multiply(self.r, self.weight, out=self.buffer("dx", self.r.shape))

    def rbackward(self) -> np.ndarray:
        rdx = self.buffer("rdx", self.r.shape)
        if self.rx is None:
            rdx[...] = 0.0
            return rdx
        return np.multiply(self.rx, self.weight, out=rdx)
