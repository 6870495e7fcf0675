"""The Fisher matrix, empirical and sampled, as products: F v = Σ_n (w_n/m) g_n (g_nᵀ v).

g_n = J_nᵀ u_n is example n's gradient, u_n = ∂ℓ_n/∂z its loss gradient at the loss input z. Its
inner product with v needs only R{z} = J v (one R-forward): g_nᵀ v = u_n · R{z}_n. The sum over n is
then one ordinary backward of the rows δ_n = (w_n/m) u_n (u_n · R{z}_n). So a Fisher product costs an
R-forward and a backward, like a Gauss-Newton product, and no (N, n_params) array is formed.

- "fisher", the empirical Fisher: u_n from the data's targets (the gradient's outer products);
- "mc-fisher": u_n from targets drawn from the model's own predictive distribution at z (seeded):
  one Monte-Carlo sample of the true Fisher, whose expectation is the Gauss-Newton matrix for these
  losses (softmax/sigmoid cross-entropy; squared error as a unit-variance Gaussian).
"""
from __future__ import annotations

import numpy as np

from ..nodes import CrossEntropy, MeanSquaredError

__all__ = ["FISHER_KINDS", "fisher_product", "fisher_rows", "sample_targets"]

FISHER_KINDS = ("fisher", "mc-fisher")


def sample_targets(loss, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Targets drawn from the predictive distribution the loss defines at z (after its forward).

    Softmax cross-entropy: a class per row from p = softmax(z) (labels; last axis the classes);
    sigmoid cross-entropy: independent Bernoulli(p) per output; squared error: z + N(0, I).

    Raises
    ------
    TypeError
        Other losses (Huber, Hinge) define no distribution.
    """
    if isinstance(loss, CrossEntropy) and loss.kind == "categorical":
        p = loss.p.reshape(-1, loss.p.shape[-1])
        u = rng.random((p.shape[0], 1))
        labels = np.minimum((np.cumsum(p, axis=1) <= u).sum(axis=1), p.shape[1] - 1)
        return labels.reshape(loss.p.shape[:-1])
    if isinstance(loss, CrossEntropy):
        return (rng.random(loss.p.shape) < loss.p).astype(z.dtype)
    if isinstance(loss, MeanSquaredError):
        return z + rng.standard_normal(z.shape)
    raise TypeError(f"{loss.name}: {type(loss).__name__} defines no predictive distribution to sample "
                    "targets from; the Fisher kinds need CrossEntropy or MeanSquaredError")


def fisher_rows(model, kind: str, y, sample_weight, random_state) -> tuple:
    """(dz, c) after a forward pass: dz the loss gradient rows (w_n/m) u_n (a copy) and c the (N,)
    factors m/w_n (0 where w_n = 0) that turn dz_n · R{z}_n into u_n · R{z}_n."""
    loss, z = model.loss, model._values[model._loss_index]
    if kind == "mc-fisher":
        rng = np.random.default_rng(random_state)
        y = sample_targets(loss, z, rng)
    loss.forward(z, y, sample_weight)
    dz = loss.backward().copy()
    n = z.shape[0]
    if sample_weight is None:
        c = np.full(n, float(n))
    else:
        w = np.asarray(sample_weight, dtype=float)
        c = np.divide(w.sum(), w, out=np.zeros(n), where=w > 0)
    return dz, c


def fisher_product(model, dz: np.ndarray, c: np.ndarray, rz, out: np.ndarray) -> None:
    """Σ_n J_nᵀ dz_n c_n (dz_n · R{z}_n) into ``out``: one backward, the gradient's own."""
    n = dz.shape[0]
    if rz is None:
        out[...] = 0.0
        return
    s = c * np.einsum("nk,nk->n", dz.reshape(n, -1), rz.reshape(n, -1))
    delta = dz * s.reshape((n,) + (1,) * (dz.ndim - 1))
    model.grad[...] = 0.0  # nodes the backward does not reach keep zeros, not a stale gradient
    grads = [None] * len(model.nodes)
    grads[model._loss_index] = delta
    model._propagate(grads)
    np.copyto(out, model.grad)
