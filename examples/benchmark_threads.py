"""Thread-safe inference costs nothing on one thread, and scales on several.

One run prints, side by side (median of several repeats):
- one thread: ``model.forward(X)`` (a non-blocking lock, then the model's own buffers) against
  what ``forward`` did before it was made thread-safe (check X, ``model._forward``, copy);
- ``threads`` threads calling ``forward`` at once (replicas for all but one), against the same
  number of calls made serially;
- one training step's ``loss_and_grad`` (it now holds the model, so a second trainer is refused)
  against the unguarded call it wraps (``model._loss_and_grad``).

    PYTHONPATH=. python examples/benchmark_threads.py
"""
from __future__ import annotations

import statistics
import threading
import time

import numpy as np

import tinygraph as tg
from tinygraph.validation import check_array


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(rows: int = 32, hidden: int = 64, calls: int = 2000, threads: int = 4, repeats: int = 5) -> dict:
    rng = np.random.default_rng(0)
    model = tg.Sequential([tg.Dense(hidden), tg.ReLU(), tg.Dense(hidden), tg.ReLU(), tg.Dense(10),
                           tg.Softmax(), tg.CrossEntropy()], n_features=20, random_state=0)
    X = rng.standard_normal((rows, 20))

    def bare():  # forward as it was before it was made thread-safe: check X, forward pass, copy
        for _ in range(calls):
            Xc = check_array(X, model.input.shape, model.dtype, who=model.input.name)
            model._forward(Xc, model._predict_plan, False)[model._out_index].copy()

    def safe():
        for _ in range(calls):
            model.forward(X)

    y = rng.integers(0, 10, rows)

    def step():
        for _ in range(calls):
            model.loss_and_grad(model.theta, X, y, check_input=False, out=model.grad)

    def step_before():
        for _ in range(calls):
            model._loss_and_grad(model.theta, X, y, None, True, False, model.grad, None)

    def concurrent():
        each = [threading.Thread(target=lambda: [model.forward(X) for _ in range(calls // threads)])
                for _ in range(threads)]
        for t in each:
            t.start()
        for t in each:
            t.join()

    with tg.blas_threads(1):
        out = {"bare_us": _median_time(bare, repeats) / calls * 1e6,
               "forward_us": _median_time(safe, repeats) / calls * 1e6,
               "threads_us": _median_time(concurrent, repeats) / calls * 1e6,
               "step_us": _median_time(step, repeats) / calls * 1e6,
               "step_before_us": _median_time(step_before, repeats) / calls * 1e6}
    print(f"one thread, per call: forward {out['forward_us']:.1f} µs, before {out['bare_us']:.1f} µs "
          f"(ratio {out['forward_us'] / out['bare_us']:.3f})")
    print(f"{threads} threads at once, per call: {out['threads_us']:.1f} µs (serial {out['forward_us']:.1f} µs)")
    print(f"one training step, per call: loss_and_grad {out['step_us']:.1f} µs, unguarded "
          f"{out['step_before_us']:.1f} µs (ratio {out['step_us'] / out['step_before_us']:.3f})")
    return out


if __name__ == "__main__":
    main()
