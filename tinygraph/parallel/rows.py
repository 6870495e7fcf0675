"""One loss and gradient split over row blocks that run on threads at once (``n_jobs``).

The loss is a weighted mean over rows, so for row blocks k with weight sums m_k (their row
counts, or sample-weight sums) and M = Σ_k m_k:

    L = Σ_k (m_k / M) L_k + penalty(M),        ∇L = Σ_k (m_k / M) ∇L_k + ∇penalty(M)

Block k runs on a *replica* of the model: the same nodes, their parameter views bound to the one
shared ``theta``, but a gradient vector and activation buffers of its own, made once and kept;
the first block runs on the calling thread, the others on the thread pool the optimizers' blocked
steps use.
numpy releases the GIL inside matrix products and elementwise loops, so the blocks keep every
core busy, and, with BLAS held to one thread (``tg.fit(n_jobs=...)`` does it for the whole fit,
``with tg.blas_threads(1):`` around your own loop: switching it on every call costs more than it
saves), no BLAS thread spins between products while Python and scipy work. The result equals
the one-thread sum up to rounding; the blocks' gradients are added in a fixed order.

Randomness belongs to rows, not to blocks: a block starting at row a draws its dropout masks as
rows a.. of the one-pass stream (``Dropout.row_offset``), so blocks change only the rounding of
the sums, never a mask. ``serial_blocks()`` runs the same blocks one after another on the calling
thread (``tg.fit`` does on a busy machine): the same result, no thread waiting for a core.
"""
from __future__ import annotations

import contextlib
import copy
import os
import threading
from itertools import pairwise

import numpy as np

from .pool import _in_parallel

__all__ = ["check_n_jobs", "replica", "row_blocks", "serial_blocks"]

_local = threading.local()


@contextlib.contextmanager
def serial_blocks(serial: bool = True):
    """Inside the block, this thread's row blocks run one after another: same blocks, same result."""
    outer = getattr(_local, "serial", False)
    _local.serial = serial
    try:
        yield
    finally:
        _local.serial = outer


def check_n_jobs(n_jobs, who: str = "loss_and_grad") -> int:
    """scikit-learn's convention: None or 1 -> 1, -1 -> every core, -2 -> all but one, ..."""
    if n_jobs is None or type(n_jobs) is int and n_jobs == 1:  # asked on every minibatch step: be quick
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"{who}: n_jobs must be a non-zero integer or None, got {n_jobs!r}")
    return int(n_jobs) if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))


def replica(model):
    """A copy of the model with buffers, caches and ``grad`` of its own, bound to the model's own
    ``theta`` and ``state``: what every replica shares with the model is bound here alone."""
    rep = copy.deepcopy(model)  # through __getstate__: no activations, no buffers, no replicas
    rep.theta, rep.state = model.theta, model.state  # views into the model's own arrays
    rep._bind()
    return rep


def _replicas(model, n: int) -> list:
    """``n`` replicas for the row blocks, kept on the model."""
    reps = getattr(model, "_parallel", None)
    if reps is None or len(reps) < n or reps[0].theta is not model.theta or reps[0].state is not model.state:
        reps = model._parallel = [replica(model) for _ in range(n)]
    for rep in reps:
        rep.noise_seed, rep.noise_step = model.noise_seed, model.noise_step
    return reps


def row_blocks(model, X, y, sample_weight, n_jobs: int) -> float:
    """The data loss, and its gradient in ``model.grad``, over checked data by row blocks on
    ``n_jobs`` threads (``Graph.loss_and_grad(n_jobs=...)`` adds the l2 term).

    ``model.theta`` must already hold the point. Blocks whose weights are all 0 are skipped.
    """
    n = X.shape[0]
    n_jobs = min(n_jobs, n)
    bounds = np.linspace(0, n, n_jobs + 1).astype(int)
    blocks = []
    for a, b in pairwise(bounds):
        sw = None if sample_weight is None else sample_weight[a:b]
        m = float(b - a) if sw is None else float(sw.sum())
        if m > 0:
            blocks.append((slice(a, b), sw, m))
    replicas, errors = _replicas(model, n_jobs), np.geterr()
    for rep, (rows, _, _) in zip(replicas, blocks):
        rep._row_offset = int(rows.start)  # its rows' own dropout masks, as in one pass

    def block(job):
        replica, (rows, sw, _) = job
        with np.errstate(**errors):  # numpy's error state is per thread: take the caller's
            return replica.loss_and_grad(model.theta, X[rows], y[rows], sample_weight=sw, regularize=False,
                                         check_input=False, out=replica.grad)[0]
    # the first block on this thread, the others on the pool of the optimizers' blocked steps
    losses = _in_parallel(block, list(zip(replicas, blocks)), k=1 if getattr(_local, "serial", False) else n_jobs)
    total = sum(m for _, _, m in blocks)
    loss, grad = 0.0, model.grad
    for i, (replica, value, (_, _, m)) in enumerate(zip(replicas, losses, blocks)):
        loss += value * (m / total)
        if i == 0:
            np.multiply(replica.grad, m / total, out=grad)
        else:
            grad += np.multiply(replica.grad, m / total, out=replica.grad)
    return loss
