"""One thread pool, kept between calls, for work split into contiguous runs of items.

The optimizers' blocked steps (``tinygraph.optim.optimizer``) and the row blocks of
``tinygraph.parallel.rows`` share it, so a program never holds two pools.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait

from . import threads

_pool: ThreadPoolExecutor | None = None
_CPUS = os.cpu_count() or 1  # once: the call takes ~10 µs, a sixth of a small net's Adam step


def _in_parallel(fn, items: list, k: int | None = None) -> list:
    """``[fn(x) for x in items]``, in contiguous runs on up to ``k`` threads (default: ``tg.blas_threads``'
    limit, all cores when unlimited): the first run here, the others in a pool kept between calls
    (the optimizers' blocked steps and ``tinygraph.parallel.rows``'s row blocks share it)."""
    global _pool
    k = 1 if len(items) < 2 else min(k or threads.limit or _CPUS, len(items))
    if k < 2:
        return [fn(x) for x in items]
    if _pool is None:  # _CPUS - 1 workers: a larger k queues its extra runs
        _pool = ThreadPoolExecutor(max(1, _CPUS - 1), thread_name_prefix="tinygraph-step")
    runs = [items[len(items) * i // k:len(items) * (i + 1) // k] for i in range(k)]
    futures = [_pool.submit(lambda run=run: [fn(x) for x in run]) for run in runs[1:]]
    try:
        out = [fn(x) for x in runs[0]]
    finally:
        wait(futures)  # never leave a thread writing into the state after we return or raise
    for f in futures:
        out += f.result()
    return out
