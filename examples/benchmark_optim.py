"""Speed of one optimizer update on a flat parameter vector, side by side with PyTorch CPU in one run.
===================================================================================================

One Adam update (lr 1e-3) of the parameters of the 784-256-256-10 net (269,322 values) and of the
784-1024-1024-10 net (1,863,690 values), float64 and float32, from a fixed gradient:
``opt.step(theta, grad)`` for tinygraph (the finite checks included), ``torch.optim.Adam.step()``
for PyTorch with its default implementation (``foreach``) on the same values as one tensor, both on
one thread. Rounds alternate the two libraries; the figure is the best over rounds of the mean of
a block of steps, in milliseconds, and the ratio tinygraph / PyTorch (below 1: tinygraph is faster).
``--cpu-time`` times by this thread's CPU time, which waiting for a core on a shared machine does
not inflate.

    python examples/benchmark_optim.py
    python examples/benchmark_optim.py --cpu-time --rounds 15
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

import tinygraph as tg

SIZES = {"784-256-256-10": 269_322, "784-1024-1024-10": 1_863_690}


def _block(step, n: int, clock) -> float:
    t0 = clock()
    for _ in range(n):
        step()
    return (clock() - t0) / n * 1e3


def _steps(n_params: int, dtype: str, peers: bool) -> dict:
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(n_params).astype(dtype)
    grad = (1e-3 * rng.standard_normal(n_params)).astype(dtype)
    opt, mine = tg.optim.Adam(1e-3), theta.copy()
    steps = {"tinygraph": lambda: opt.step(mine, grad)}
    if peers:
        try:
            import torch
        except ImportError:
            return steps
        torch.set_num_threads(1)
        p = torch.nn.Parameter(torch.from_numpy(theta.copy()))
        p.grad = torch.from_numpy(grad.copy())
        topt = torch.optim.Adam([p], lr=1e-3)
        steps["pytorch"] = topt.step
    return steps


def main(rounds: int = 7, n: int = 10, dtypes=("float64", "float32"), sizes=tuple(SIZES), peers: bool = True,
         cpu_time: bool = False) -> dict:
    """Print the table; return {(net, dtype): {"tinygraph": ms, "pytorch": ms, "ratio"}}."""
    clock = time.thread_time if cpu_time else time.perf_counter
    results = {}
    print(f"one Adam update, one thread, {'CPU' if cpu_time else 'wall'} ms: best of {rounds} rounds of "
          f"{n} steps; load average {os.getloadavg()[0]:.1f}")
    print(f"{'parameters of':18} {'dtype':8} {'tinygraph':>10} {'pytorch':>8} {'tg/torch':>9}")
    with contextlib.nullcontext() if not tg.parallel.threads.available() else tg.blas_threads(1):
        for size in sizes:
            for dtype in dtypes:
                steps = _steps(SIZES[size], dtype, peers)
                times = {k: [] for k in steps}
                for step in steps.values():
                    step()
                for _ in range(rounds):
                    for k, step in steps.items():
                        times[k].append(_block(step, n, clock))
                r = results[size, dtype] = {k: min(v) for k, v in times.items()}
                if "pytorch" in r:
                    r["ratio"] = r["tinygraph"] / r["pytorch"]
                peer = f"{r['pytorch']:8.3f} {r['ratio']:9.2f}" if "pytorch" in r else f"{'-':>8} {'-':>9}"
                print(f"{size:18} {dtype:8} {r['tinygraph']:10.3f} {peer}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true", help="time by this thread's CPU time")
    args = parser.parse_args()
    main(rounds=args.rounds, cpu_time=args.cpu_time)
