"""How many threads numpy's BLAS (the matrix products) may use, for one block of code.

BLAS's extra threads often cost more than they gain: OpenBLAS threads spin between products while
Python, the elementwise work and scipy run, and a product that is narrow in any dimension (a
25-unit layer, a small batch) splits badly. Worse, scipy ships an OpenBLAS of its own whose threads
wake for L-BFGS-B's vector operations and fight numpy's for the cores. Measured on 2 cores: the
README's Quick start (scipy's L-BFGS-B on the 784-25-10 net, 8,000 rows) took 2.5 s for 50
iterations with every BLAS at 1 thread, 4.3 s with numpy's at 2 and scipy's at 1, 9.4–12.7 s
with scipy's at 2 (numpy's default); a 784-256-256-10 Adam step at batch 128 was 25% faster with
numpy's at 2 threads.

``auto_threads(model, rows)`` picks the count from the model's matrix products at that batch size
and the cores this process may run on: 1 when the largest product is narrow in any dimension or
small, or when other processes keep a core busy (the load average less our own share); else it
*measures*: that very product, timed at 1 thread and at every core (best of three, interleaved),
every core when that is at least 10% faster. The choice is kept per product shape for a minute.
Both tests are needed on a shared machine: under load (3.5 on 2 cores) the 784-256-256-10 Adam
epoch took 0.5 s at 1 thread and 5–6.5 s at 2, and a timing taken in a quiet second, alone, once
chose 2 threads for an epoch that then ran 5× slower than on one.
``tg.fit`` (and the estimators, the scipy bridge) use it unless ``threads=`` says otherwise;
``with tg.blas_threads(n):`` sets numpy's BLAS to ``n`` threads and any other BLAS or OpenMP
library (scipy's) to 1 inside the block. The libraries are found once (threadpoolctl takes
milliseconds to look) and set directly, so a block costs microseconds.
The thread count never changes which products are computed, only how they are split.
The same limit applies to the optimizers' blocked elementwise steps (``tinygraph.optim``).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import numpy as np

__all__ = ["auto_row_blocks", "auto_threads", "blas_threads", "busy_cores", "cores"]

limit: int | None = None  # the innermost blas_threads(n) in force; None: no limit

# Below _MIN_MACS multiply-adds a product stays on one thread (1797×64×32 lost from a second one).
# Without a timing, a product splits well when every dimension is at least _MIN_DIM as well
# (128×784×256 gained 25–40% from a second thread; 8000×784×25 lost under load, gained idle).
_MIN_DIM = 64
_MIN_MACS = 1 << 22
_PROBE_MACS = 1 << 25  # the timed product keeps at most this many multiply-adds (~1 ms at 1 thread)
_PROBE_TTL = 60.0  # seconds a measured choice is kept
_probed: dict = {}  # (m, k, n, dtype, n_cores) -> (threads, time of the measurement)
_controller = None
_modules_seen = 0


def available() -> bool:
    """Whether BLAS threads can be limited here (threadpoolctl is installed)."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def cores() -> int:
    """The number of cores this process may run on (its affinity mask, e.g. under ``taskset``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _libraries() -> list:
    """threadpoolctl's controllers of the loaded BLAS/OpenMP libraries, looked up again only after
    new modules were imported (a new library may have come with them)."""
    global _controller, _modules_seen
    if _controller is None or len(sys.modules) != _modules_seen:
        from threadpoolctl import ThreadpoolController
        _controller, _modules_seen = ThreadpoolController(), len(sys.modules)
    return _controller.lib_controllers


def _targets(libs: list, n: int) -> list:
    """Thread counts: ``n`` for numpy's BLAS (a wheel bundles it under ``numpy.libs``; every BLAS when
    none is numpy's own, e.g. one shared MKL), 1 for any other BLAS or OpenMP library (scipy's)."""
    numpys = [lib.user_api == "blas" and "numpy" in lib.filepath for lib in libs]
    if not any(numpys):
        numpys = [lib.user_api == "blas" for lib in libs]
    return [n if mine else 1 for mine in numpys]


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Hold numpy's BLAS to ``n`` threads, and any other BLAS or OpenMP library to 1, inside the
    block; ``None`` leaves them as they are.

    Needs threadpoolctl (``pip install threadpoolctl``; scikit-learn depends on it too).

    Parameters
    ----------
    n : int or None
        Threads for numpy's BLAS inside the block (>= 1); None changes nothing. The previous
        counts are restored on leaving the block, also after an exception.

    Raises
    ------
    ValueError
        ``n`` is not a positive integer or None.
    ImportError
        threadpoolctl is not installed (and ``n`` is not None).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> with tg.blas_threads(1):
    ...     float((np.ones((64, 64)) @ np.ones((64, 64)))[0, 0])
    64.0
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"threads must be a positive integer or None, got {n!r}")
    if not available():
        raise ImportError("limiting BLAS threads needs threadpoolctl: pip install threadpoolctl")
    global limit
    libs = _libraries()
    saved = [(lib, lib.num_threads) for lib in libs]
    outer, limit = limit, int(n)
    try:
        for lib, k in zip(libs, _targets(libs, int(n))):
            lib.set_num_threads(k)
        yield
    finally:
        limit = outer
        for lib, k in saved:
            lib.set_num_threads(k)


def _products(model, rows: int):
    """(m, k, n) of each node's main product at ``rows`` examples: its largest parameter as a k×n
    matrix, n its output features (Dense: rows × n_in × n_out; a convolution: rows·H·W × C_in·kh·kw × C_out)."""
    for node in model.nodes:
        if not node.params or not node.out_shape:
            continue
        size = max(math.prod(shape) for _, shape in node.params)
        out = node.out_shape
        n = out[-1] if len(out) == 1 or size % out[0] else out[0]
        yield rows * math.prod(out) // n, size // n, n


def busy_cores() -> float:
    """Cores kept busy by other processes: the 1-minute load average less this process's own share.

    Our share is estimated as our average CPU use since start (CPU seconds per second) weighted by how
    much of the load average's 1-minute window we have been running, so that neither a script that
    just started nor a long run of our own counts as someone else's work.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average
        return 0.0
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            elapsed = float(f.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
        cpu = sum(os.times()[:2])
        own = cpu / max(elapsed, 1e-3) * (1.0 - math.exp(-max(elapsed, 0.0) / 60.0))
    except (OSError, ValueError, IndexError, AttributeError):
        own = 1.0  # no /proc: assume our one running thread
    return max(0.0, load - own)


def auto_threads(model, rows, n_cores: int | None = None, busy: float | None = None) -> int:
    """BLAS threads for evaluations of ``model`` on ``rows`` examples (an int, or the data X itself).

    1 when the model's largest matrix product is small (< 4M multiply-adds), or when other
    processes keep a core busy (``busy_cores()`` >= 0.5). Else, by default, that product is timed at 1 thread and at every core (``cores()``), best of three
    rounds, and every core is chosen when at least 10% faster (the choice is kept per shape for a
    minute): a second thread gains at most ~1.5× on such products, but a thread that waits for a
    core another process holds made a minibatch epoch 5–10× slower on a loaded 2-core machine.
    Given ``busy`` (or without threadpoolctl), no timing: every core when ``busy`` < 0.5 and every
    dimension of the product is at least 64, else 1.
    ``with tg.blas_threads(tg.auto_threads(model, X)):`` around ``scipy.optimize.minimize(
    model.loss_and_grad, ...)`` does what ``tg.fit`` does itself.

    Parameters
    ----------
    model : Graph
        The model whose matrix products are sized (each node's largest parameter).
    rows : int or array-like
        The examples per evaluation (the batch size), or the data X (its first axis; the first
        input's for a tuple or dict).
    n_cores : int, optional
        Cores to use (default ``cores()``: this process's affinity mask).
    busy : float, optional
        Cores kept busy by other processes: decide by this number instead of timing the product
        (as without threadpoolctl, where ``busy_cores()`` from the load average is used).

    Returns
    -------
    int
        ``n_cores`` or 1.

    Examples
    --------
    >>> import tinygraph as tg
    >>> small = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()])
    >>> tg.auto_threads(small, 32, n_cores=2)
    1
    >>> big = tg.Sequential([tg.Dense(784, 256), tg.Tanh(), tg.Dense(256, 10), tg.Softmax(), tg.CrossEntropy()])
    >>> tg.auto_threads(big, 128, n_cores=2, busy=0.0)
    2
    """
    n_cores = cores() if n_cores is None else n_cores
    if n_cores < 2:
        return 1
    if not isinstance(rows, (int, np.integer)):
        rows = _n_rows(rows)
    m, k, n = max(_products(model, int(rows)), key=math.prod, default=(0, 0, 0))
    if m * k * n < _MIN_MACS:
        return 1
    if (busy_cores() if busy is None else busy) >= 0.5:
        return 1
    if busy is not None or not available():  # no timing: the rule of thumb on the narrowest dimension
        return n_cores if min(m, k, n) >= _MIN_DIM else 1
    # Timed, narrow products too: on an idle 2-core machine 8000×784×25 (the Quick start) ran
    # L-BFGS-B 1.4× faster on two threads, though the rule of thumb says one.
    return _probe(m, k, n, getattr(model, "dtype", np.float64), n_cores)


def _probe(m: int, k: int, n: int, dtype, n_cores: int) -> int:
    """``n_cores`` if an m×k by k×n product (at most ``_PROBE_MACS``) runs at least 10% faster on
    ``n_cores`` BLAS threads than on one, else 1; best of three rounds, kept ``_PROBE_TTL`` seconds."""
    key = (m, k, n, np.dtype(dtype).name, n_cores)
    hit = _probed.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < _PROBE_TTL:
        return hit[0]
    m = max(_MIN_DIM, min(m, _PROBE_MACS // (k * n)))
    a, b = np.ones((m, k), dtype), np.ones((k, n), dtype)
    out = np.empty((m, n), dtype)
    best = {1: math.inf, n_cores: math.inf}
    for i in range(3):
        for count in best:
            with blas_threads(count):
                t0 = time.perf_counter()
                np.matmul(a, b, out=out)  # the first round wakes the threads: the minimum drops it
                best[count] = min(best[count], time.perf_counter() - t0)
        if i and best[n_cores] > 2.0 * best[1]:  # a core is taken (under load: 100× slower): stop here
            break
    choice = n_cores if best[n_cores] < 0.9 * best[1] else 1
    _probed[key] = (choice, time.monotonic())
    return choice


def auto_row_blocks(model, rows, n_cores: int | None = None, busy: float | None = None) -> int:
    """Row blocks (``n_jobs``) for full-batch evaluations of ``model`` on ``rows`` examples: every core
    when the products are too narrow for BLAS threads (``auto_threads`` gives 1), the batch is large
    (at least 512 rows per core), no node couples the rows (BatchNorm) and the other cores are idle;
    else 1. Measured: L-BFGS-B on 8,000 digits with 784-25-10, 4.5 s with two blocks against 8.1 s
    with one thread (BLAS cannot split a product 25 columns wide).

    Examples
    --------
    >>> import tinygraph as tg
    >>> net = tg.Sequential([tg.Dense(784, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(), tg.CrossEntropy()])
    >>> tg.threads.auto_row_blocks(net, 8000, n_cores=2, busy=0.0), tg.threads.auto_row_blocks(net, 128, n_cores=2, busy=0.0)
    (2, 1)
    """
    n_cores = cores() if n_cores is None else n_cores
    rows = rows if isinstance(rows, (int, np.integer)) else _n_rows(rows)
    if n_cores < 2 or rows < 512 * n_cores or any(node.couples_rows for node in model.nodes):
        return 1
    if auto_threads(model, rows, n_cores, busy=0.0) > 1:
        return 1
    busy = busy_cores() if busy is None else busy
    return n_cores if busy < 0.5 else 1


def _n_rows(X) -> int:
    """The examples in X: an array's first axis; for several inputs (a tuple or dict), the first's."""
    if isinstance(X, dict):
        X = next(iter(X.values()))
    elif isinstance(X, tuple):
        X = X[0]
    return int(np.shape(X)[0])
