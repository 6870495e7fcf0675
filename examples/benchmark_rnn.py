"""Speed of a recurrent training step (LSTM, GRU, SimpleRNN), side by side with PyTorch CPU in one run.
=====================================================================================================

The step of row-by-row MNIST: x (64, 28, 28) → LSTM(128) (or GRU, or a tanh SimpleRNN) → Dense(10) →
Softmax → CrossEntropy, forward + backward + Adam update, in float32 and float64, with BLAS (and
torch) on 1 thread and on every core. Each round times a block of steps of each library back to
back; the figure is the median over rounds of the milliseconds per step, and the ratio
tinygraph / PyTorch is the median of the per-round ratios (below 1: tinygraph is faster).
PyTorch is optional (a missing one is skipped).

    python examples/benchmark_rnn.py                               # LSTM (minutes on a shared machine)
    python examples/benchmark_rnn.py --cells LSTM GRU SimpleRNN --threads 1
    python examples/benchmark_rnn.py --quick                       # a smoke run

On a machine shared with other jobs, ``--cpu-time --threads 1`` times each library by the CPU time of
the one thread doing the work (``time.thread_time``), which waiting for a core does not inflate.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import tinygraph as tg

N, T, F, H, K = 64, 28, 28, 128, 10


TORCH_CELLS = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}


def tinygraph_step(dtype, cell="LSTM"):
    model = tg.Sequential([getattr(tg, cell)(H), tg.Dense(K), tg.Softmax(), tg.CrossEntropy()],
                          input_shape=(T, F), dtype=dtype, random_state=0)
    opt = tg.optim.Adam(1e-3)
    rng = np.random.default_rng(0)
    X, y = rng.random((N, T, F)).astype(dtype), rng.integers(0, K, N)
    X, y, _ = model._check_data(X, y, None)

    def step():
        _, g = model.loss_and_grad(model.theta, X, y, check_input=False, out=model.grad)
        opt.step(model.theta, g)
    return step


def torch_step(dtype, cell="LSTM"):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = getattr(torch.nn, TORCH_CELLS[cell])(F, H, batch_first=True)
            self.out = torch.nn.Linear(H, K)

        def forward(self, x):
            return self.out(self.lstm(x)[0][:, -1])

    tdtype = torch.float32 if dtype == "float32" else torch.float64
    net = Net().to(tdtype)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.random((N, T, F)).astype(dtype))
    y = torch.from_numpy(rng.integers(0, K, N))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(net(X), y).backward()
        opt.step()
    return step


CLOCK = time.perf_counter  # --cpu-time: time.thread_time, this thread's CPU time (one thread only)


def timed(step, n: int) -> float:
    step()
    t0 = CLOCK()
    for _ in range(n):
        step()
    return (CLOCK() - t0) / n * 1000


def run(threads: int, dtype: str, rounds: int, n: int, peers: bool = True, cell: str = "LSTM") -> dict:
    from threadpoolctl import threadpool_limits
    steps = {"tinygraph": tinygraph_step(dtype, cell)}
    try:
        if peers:
            import torch
            torch.set_num_threads(threads)
            steps["pytorch"] = torch_step(dtype, cell)
    except ImportError:
        pass
    times = {k: [] for k in steps}
    with threadpool_limits(limits=threads):
        for _ in range(rounds):
            for k, step in steps.items():
                times[k].append(timed(step, n))
    out = {k: statistics.median(v) for k, v in times.items()}
    out.update({k + " best": min(v) for k, v in times.items()})
    if "pytorch" in times:
        out["ratio"] = statistics.median(a / b for a, b in zip(times["tinygraph"], times["pytorch"]))
    return out


def main(rounds: int = 5, n: int = 20, dtypes=("float32", "float64"), thread_counts=None,
         peers: bool = True, cells=("LSTM",)) -> dict:
    """Print the table; return {(cell, dtype, threads): {"tinygraph": ms, "pytorch": ms, "ratio", and
    each library's "<name> best"}}. ``peers=False`` times tinygraph alone."""
    thread_counts = thread_counts or sorted({1, os.cpu_count() or 1})
    results = {}
    clock = "CPU" if CLOCK is time.thread_time else "wall"
    print(f"row-MNIST step, {H} units (batch {N}, T={T}): {clock} ms per step, median (best) of {rounds} rounds; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'cell':10} {'dtype':8} {'threads':>7} {'tinygraph':>15} {'pytorch':>15} {'tg/torch':>9}")
    for cell in cells:
        for dtype in dtypes:
            for threads in thread_counts:
                r = results[cell, dtype, threads] = run(threads, dtype, rounds, n, peers, cell)
                mine = f"{r['tinygraph']:7.1f} ({r['tinygraph best']:5.1f})"
                peer = (f"{r['pytorch']:7.1f} ({r['pytorch best']:5.1f})" if "pytorch" in r
                        else f"{'-':>15}")
                ratio = f"{r['ratio']:9.2f}" if "ratio" in r else f"{'-':>9}"
                print(f"{cell:10} {dtype:8} {threads:7d} {mine:>15} {peer:>15} {ratio}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 3 steps")
    parser.add_argument("--cells", nargs="+", default=["LSTM"], choices=sorted(TORCH_CELLS))
    parser.add_argument("--threads", nargs="+", type=int, default=None, help="BLAS thread counts")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this thread's CPU time (valid with --threads 1 only)")
    args = parser.parse_args()
    if args.cpu_time:
        if args.threads != [1]:
            parser.error("--cpu-time needs --threads 1: other threads' work is not counted")
        CLOCK = time.thread_time
    kw = dict(cells=args.cells, thread_counts=args.threads, dtypes=args.dtypes)
    main(rounds=2, n=3, **kw) if args.quick else main(rounds=args.rounds, **kw)
