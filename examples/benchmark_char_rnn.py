"""Speed of the character LSTM's training step (examples/char_rnn.py), side by side with PyTorch.
=================================================================================================

One step of ``char_rnn``: ids (12, 64) → Embedding(65, 64) → LSTM(256, every step) → Dense(65) →
softmax cross-entropy on (12, 64) targets, forward, backward and AdamW update (clipnorm 1), float32,
one thread for BLAS and torch. Each round times a block of steps of each library back to back; the
figures are the best round's milliseconds per step, and the ratio tinygraph / PyTorch is the median
of the per-round ratios. PyTorch is optional (a missing one is skipped).

    python examples/benchmark_char_rnn.py            # the full run
    python examples/benchmark_char_rnn.py --quick    # a smoke run
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import tinygraph as tg

N, T, V, E, H = 12, 64, 65, 64, 256


def batch(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, V, (N, T))
    return X, rng.integers(0, V, (N, T))


def tinygraph_step(units: int):
    model = tg.Sequential([tg.Embedding(V, E), tg.LSTM(units, return_sequences=True), tg.Dense(V),
                           tg.Softmax(), tg.CrossEntropy()], input_shape=T, dtype="float32", random_state=0)
    opt = tg.optim.AdamW(1e-3, beta2=0.99, weight_decay=0.1, clipnorm=1.0)
    X, y, _ = model._check_data(*batch(), None)

    def step():
        _, g = model.loss_and_grad(model.theta, X, y, check_input=False, out=model.grad)
        opt.step(model.theta, g)
    return step


def torch_step(units: int):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm = torch.nn.Embedding(V, E), torch.nn.LSTM(E, units, batch_first=True)
            self.out = torch.nn.Linear(units, V)

        def forward(self, x):
            return self.out(self.lstm(self.emb(x))[0])

    net = Net()
    opt = torch.optim.AdamW(net.parameters(), 1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    X, y = (torch.from_numpy(a) for a in batch())

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X).view(-1, V), y.view(-1)).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    return step


def timed(step, n: int) -> float:
    step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1000


def main(rounds: int = 5, n: int = 10, units: int = H, peers: bool = True) -> dict:
    """Print and return {"tinygraph": ms, "pytorch": ms, "ratio"} (best round; median ratio)."""
    steps = {"tinygraph": tinygraph_step(units)}
    if peers:
        try:
            import torch
            torch.set_num_threads(1)
            steps["pytorch"] = torch_step(units)
        except ImportError:
            pass
    times = {k: [] for k in steps}
    with tg.blas_threads(1):
        for _ in range(rounds):
            for k, step in steps.items():
                times[k].append(timed(step, n))
    out = {k: min(v) for k, v in times.items()}
    if "pytorch" in times:
        out["ratio"] = statistics.median(a / b for a, b in zip(times["tinygraph"], times["pytorch"]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"char LSTM-{units} step ({N}x{T}, float32, one thread; load average {load:.1f}): ms per step, "
          f"best of {rounds} rounds of {n}")
    print("  " + ", ".join(f"{k} {v:.1f}" if k != "ratio" else f"tinygraph/pytorch {v:.2f}"
                           for k, v in out.items()))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 2 steps")
    args = parser.parse_args()
    main(rounds=2, n=2) if args.quick else main()
