"""Speed of a GPT training step, side by side with nanoGPT's own PyTorch model in one run.
=======================================================================================

The shakespeare-char CPU recipe's step: tokens (12, 64) → 4 blocks (4 heads, E = 128) → 65 logits
per position, mean cross-entropy, backward, gradient clipping at norm 1, AdamW; float32. The
PyTorch peer is nanoGPT's ``model.py`` architecture written inline below (pre-LayerNorm blocks,
``F.scaled_dot_product_attention`` with ``is_causal``, exact GELU, ``lm_head`` tied to ``wte``) with
``torch.optim.AdamW`` and ``clip_grad_norm_``. Each round times a block of steps of each library
back to back, at one thread and at every core; the figure is the median over rounds of the
milliseconds per step and the ratio tinygraph / PyTorch the median of the per-round ratios.
Then, at one thread, where tinygraph's step spends its time, by node type.

    python examples/benchmark_gpt.py            # the full run (minutes on a shared machine)
    python examples/benchmark_gpt.py --quick    # a smoke run
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models/ lives at the repository root
from models.gpt import gpt

V, B, T, L, H, E = 65, 12, 64, 4, 4, 128


def batch():
    rng = np.random.default_rng(0)
    return rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))


def tinygraph_step(model=None):
    model = model or gpt(V, n_layer=L, n_head=H, n_embd=E, block_size=T, random_state=0)
    opt = tg.optim.AdamW(1e-3, beta2=0.99, weight_decay=0.1, clipnorm=1.0)
    X, y = batch()
    X, y, _ = model._check_data(X, y, None)

    def step():
        _, g = model.loss_and_grad(model.theta, X, y, check_input=False, out=model.grad)
        opt.step(model.theta, g)
    return step


def torch_step():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(E), nn.LayerNorm(E)
            self.c_attn, self.attn_proj = nn.Linear(E, 3 * E), nn.Linear(E, E)
            self.c_fc, self.mlp_proj = nn.Linear(E, 4 * E), nn.Linear(4 * E, E)

        def forward(self, x):
            q, k, v = self.c_attn(self.ln_1(x)).split(E, dim=2)
            q, k, v = (a.view(B, T, H, E // H).transpose(1, 2) for a in (q, k, v))
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(att.transpose(1, 2).contiguous().view(B, T, E))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, E), nn.Embedding(T, E)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f, self.lm_head = nn.LayerNorm(E), nn.Linear(E, V, bias=False)
            self.lm_head.weight = self.wte.weight  # nanoGPT ties them
            for p in self.parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    torch.manual_seed(0)
    net = GPT()
    decay = [p for p in net.parameters() if p.dim() >= 2]
    rest = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    X, y = (torch.from_numpy(a) for a in batch())

    def step():
        opt.zero_grad(set_to_none=True)
        net(X, y).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    return step


def timed(step, n: int) -> float:
    step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1000


def run(threads: int, rounds: int, n: int, peers: bool = True) -> dict:
    steps = {"tinygraph": tinygraph_step()}
    if peers:
        try:
            import torch
            torch.set_num_threads(threads)
            steps["pytorch"] = torch_step()
        except ImportError:
            pass
    times = {k: [] for k in steps}
    with tg.blas_threads(threads):
        for _ in range(rounds):
            for k, step in steps.items():
                times[k].append(timed(step, n))
    out = {k: min(v) for k, v in times.items()}
    out.update({f"{k}_median": statistics.median(v) for k, v in times.items()})
    if "pytorch" in times:
        out["ratio"] = statistics.median(a / b for a, b in zip(times["tinygraph"], times["pytorch"]))
    return out


def breakdown(n: int = 10) -> dict:
    """Milliseconds per step by node type (forward + backward), and the optimizer step, at one thread."""
    model = gpt(V, n_layer=L, n_head=H, n_embd=E, block_size=T, random_state=0)
    spent = defaultdict(float)

    def timer(fn, label):
        def wrapped(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            spent[label] += time.perf_counter() - t0
            return out
        return wrapped

    for node in model.nodes:
        label = type(node).__name__
        node.forward, node.backward = timer(node.forward, label), timer(node.backward, label)
    step = tinygraph_step(model)  # the optimizer is timed as the remainder
    with tg.blas_threads(1):
        step()
        spent.clear()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        total = time.perf_counter() - t0
    out = {k: 1000 * v / n for k, v in spent.items()}
    out["rest (optimizer, loss, graph)"] = 1000 * (total - sum(spent.values())) / n
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def main(rounds: int = 5, n: int = 10, thread_counts=None, peers: bool = True) -> dict:
    """Print the table and the breakdown; return {threads: {...}, "breakdown": {...}}."""
    thread_counts = thread_counts or sorted({1, os.cpu_count() or 1})
    print(f"GPT step ({L} layers, {H} heads, E={E}, batch {B}×{T}, float32): ms per step, best of "
          f"{rounds} rounds of {n}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'threads':>7} {'tinygraph':>10} {'pytorch':>8} {'tg/torch (median)':>18}")
    results = {}
    for threads in thread_counts:
        r = results[threads] = run(threads, rounds, n, peers)
        torch_ms = f"{r['pytorch']:8.1f}" if "pytorch" in r else f"{'-':>8}"
        ratio = f"{r['ratio']:18.2f}" if "ratio" in r else f"{'-':>18}"
        print(f"{threads:7d} {r['tinygraph']:10.1f} {torch_ms} {ratio}")
    results["breakdown"] = breakdown(max(2, n))
    print("tinygraph at one thread, ms per step by node type (forward + backward):")
    for k, v in results["breakdown"].items():
        print(f"  {k:32} {v:7.1f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 2 steps")
    args = parser.parse_args()
    main(rounds=2, n=2) if args.quick else main()
