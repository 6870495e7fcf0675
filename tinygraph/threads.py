"""How many threads numpy's BLAS (the matrix products) may use, for one block of code.

On a small machine, and more so on a shared one, BLAS's extra threads often cost more than they
gain: OpenBLAS threads spin between matrix products while Python, the elementwise numpy work and
scipy run, and the products of a minibatch or of a small net are too small to split well. On the
2-core machines this project measures on, a second thread made a full-batch L-BFGS-B fit of the
784-25-10 net about 2× slower. ``tg.fit(..., threads=1)`` or ``with tg.blas_threads(1):`` limits
them; ``examples/benchmark.py`` measures 1 against 2 threads for each case and keeps the faster.
The thread count never changes which products are computed, only how they are split.
The same limit applies to the optimizers' blocked elementwise steps (``tinygraph.optim``).
"""
from __future__ import annotations

import contextlib

__all__ = ["blas_threads"]

limit: int | None = None  # the innermost blas_threads(n) in force; None: no limit


def available() -> bool:
    """Whether BLAS threads can be limited here (threadpoolctl is installed)."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit BLAS (and OpenMP) to ``n`` threads inside the block; ``None`` leaves them as they are.

    Needs threadpoolctl (``pip install threadpoolctl``; scikit-learn depends on it too).
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"threads must be a positive integer or None, got {n!r}")
    if not available():
        raise ImportError("limiting BLAS threads needs threadpoolctl: pip install threadpoolctl")
    from threadpoolctl import threadpool_limits
    global limit
    outer, limit = limit, int(n)
    try:
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        limit = outer
