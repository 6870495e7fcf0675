"""A character-level GPT on tiny Shakespeare, trained by hand-written backprop (nanoGPT's CPU recipe).
======================================================================================================

nanoGPT's ``shakespeare_char`` on a CPU: the first 90% of the 1,115,394 characters for training,
the rest for validation, a 65-character vocabulary; 4 layers, 4 heads, E = 128, context 64,
batch 12, AdamW (lr 1e-3, β₂ = 0.99, weight decay 0.1 on the ≥2-D weights only), 100 linear
warm-up steps then cosine decay to 1e-4 at 2,000 iterations, gradient clipping at norm 1, no
dropout; float32. nanoGPT reports a validation loss of 1.88 for this recipe.

Each step samples 12 random windows of 65 characters (nanoGPT's ``get_batch``): X the first 64,
y the next character at every position; the loss is the mean cross-entropy over all 12·64
positions. The loop is explicit: ``model.loss_and_grad`` then ``Adam.step``, with the decoupled
weight decay applied first as PyTorch's AdamW does (θ ← θ(1 − lr·wd) on the masked weights).
Every 100 iterations, the mean loss of 20 random batches of each split; at the end, the
validation loss as the mean over 200 random batches of 12×64 (fixed seed), a 500-character
sample, and the loss curve (``--log run.json`` then ``--log run.json --plot curve.png``).

    python examples/char_gpt.py                     # the full recipe (minutes on two cores)
    python examples/char_gpt.py --iters 200         # a quick look
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models/ lives at the repository root
from models.gpt import DEFAULTS, RECIPE, gpt


class WarmupCosine:
    """nanoGPT's ``get_lr``: lr·(t+1)/(warmup+1) for t < warmup, then cosine from lr to min_lr at T."""

    def __init__(self, lr: float, min_lr: float, warmup: int, T: int):
        self.lr, self.min_lr, self.warmup, self.T = lr, min_lr, warmup, T

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return self.lr * (t + 1) / (self.warmup + 1)
        if t > self.T:
            return self.min_lr
        ratio = (t - self.warmup) / max(1, self.T - self.warmup)
        return self.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (self.lr - self.min_lr)


def encode(text: str) -> tuple:
    """(ids int64 array, the sorted characters): character k of the vocabulary is id k."""
    chars = sorted(set(text))
    lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    return lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)], chars


def get_batch(data: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator) -> tuple:
    """Random windows: X (B, T) and the next characters y (B, T)."""
    ix = rng.integers(0, len(data) - block_size, batch_size)
    windows = data[ix[:, None] + np.arange(block_size + 1)]
    return windows[:, :-1], windows[:, 1:]


def estimate_loss(model, data: np.ndarray, batches: int, batch_size: int, block_size: int,
                  seed: int = 1337) -> float:
    """The mean loss over ``batches`` random batches (the same ones for the same seed)."""
    rng = np.random.default_rng(seed)
    losses = [model.loss_value(model.theta, *get_batch(data, batch_size, block_size, rng))
              for _ in range(batches)]
    return float(np.mean(losses))


def sample(model, chars: list, prompt: str = "\n", n: int = 500, temperature: float = 1.0,
           top_k: int | None = None, random_state=0) -> str:
    """Autoregressive sampling from the last ``block_size`` characters at each step."""
    rng = np.random.default_rng(random_state)
    T = model.input.shape[0]
    index = {c: i for i, c in enumerate(chars)}
    ids = [index[c] for c in prompt]
    for _ in range(n):
        context = np.array(ids[-T:])
        window = np.zeros((1, T), dtype=np.int64)
        window[0, :len(context)] = context  # causal: positions after the context do not matter
        logp = np.log(model.predict_proba(window)[0, len(context) - 1].astype(np.float64) + 1e-30)
        logp /= temperature
        if top_k is not None:
            logp[logp < np.sort(logp)[-top_k]] = -np.inf
        p = np.exp(logp - logp.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return "".join(chars[i] for i in ids)


def decay_mask(model) -> np.ndarray:
    """True on the weights of ≥2 dimensions (embeddings, attention and Dense matrices), as nanoGPT."""
    mask = np.zeros(model.n_params, dtype=bool)
    for node in model.nodes:
        for view in node.views(mask).values():
            view[...] = view.ndim >= 2
    return mask


def main(iters: int = RECIPE["max_iters"], n_layer: int = DEFAULTS["n_layer"], n_head: int = DEFAULTS["n_head"],
         n_embd: int = DEFAULTS["n_embd"], block_size: int = DEFAULTS["block_size"],
         batch_size: int = RECIPE["batch_size"], eval_interval: int = 100, eval_batches: int = 20,
         final_batches: int = 200, sample_chars: int = 500, threads: int | None = 1, dtype=np.float32,
         log: str | None = None, verbose: bool = True) -> dict:
    """Train and return {"val_loss", "train_loss", "history", "sample", "seconds", "ms_per_iter"}."""
    ids, chars = encode(tg.datasets.load_tinyshakespeare())
    n = int(0.9 * len(ids))
    train, val = ids[:n], ids[n:]
    model = gpt(len(chars), n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                random_state=0, dtype=dtype)
    lr = WarmupCosine(RECIPE["lr"], RECIPE["min_lr"], min(RECIPE["warmup_iters"], iters // 10), iters)
    opt = tg.optim.Adam(lr, beta2=RECIPE["beta2"], clipnorm=RECIPE["clipnorm"])
    decay, wd = decay_mask(model), RECIPE["weight_decay"]
    rng = np.random.default_rng(1)
    grad, history = model.grad, {"iter": [], "train_loss": [], "val_loss": [], "step_loss": []}
    if verbose:
        print(f"{model.n_params:,} parameters, {len(train):,} training and {len(val):,} validation characters")
    start = time.perf_counter()
    with tg.blas_threads(threads):
        for it in range(iters + 1):
            if it % eval_interval == 0 or it == iters:
                args = (eval_batches, batch_size, block_size)
                tr, va = estimate_loss(model, train, *args, seed=it), estimate_loss(model, val, *args, seed=it)
                history["iter"].append(it)
                history["train_loss"].append(tr)
                history["val_loss"].append(va)
                if verbose:
                    print(f"iter {it:5d}: train {tr:.4f}, val {va:.4f} ({time.perf_counter() - start:.0f} s)",
                          flush=True)
            if it == iters:
                break
            X, y = get_batch(train, batch_size, block_size, rng)
            loss, _ = model.loss_and_grad(model.theta, X, y, out=grad)
            history["step_loss"].append(loss)
            model.theta[decay] *= 1.0 - lr(opt.t) * wd  # AdamW's decoupled decay, before the step
            opt.step(model.theta, grad)
        seconds = time.perf_counter() - start
        val_loss = estimate_loss(model, val, final_batches, batch_size, block_size)
        train_loss = estimate_loss(model, train, final_batches, batch_size, block_size)
    text = sample(model, chars, n=sample_chars) if sample_chars else ""
    out = {"val_loss": val_loss, "train_loss": train_loss, "history": history, "sample": text,
           "seconds": seconds, "ms_per_iter": 1000 * seconds / max(iters, 1)}
    if verbose:
        print(f"validation loss {val_loss:.4f}, training loss {train_loss:.4f} (mean of {final_batches} "
              f"random batches of {batch_size}×{block_size}); {iters} iterations in {seconds:.0f} s")
        print(text)
    if log:
        Path(log).write_text(json.dumps(out, indent=1))
    return out


def plot(log: str, path: str) -> None:
    """Draw the loss curve of a saved run (matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = json.loads(Path(log).read_text())
    h = run["history"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = np.asarray(h.get("step_loss", []))
    if steps.size >= 50:  # each step's minibatch loss, averaged over 50 steps
        smooth = np.convolve(steps, np.ones(50) / 50, mode="valid")
        ax.plot(np.arange(50, steps.size + 1), smooth, color="#adb5bd", lw=1, label="minibatch (50-step mean)")
    ax.plot(h["iter"], h["train_loss"], "o-", ms=3, label="training")
    ax.plot(h["iter"], h["val_loss"], "o-", ms=3, label="validation")
    ax.axhline(1.88, color="gray", ls="--", lw=1, label="nanoGPT's 1.88")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.set_title(f"char GPT on tiny Shakespeare: validation {run['val_loss']:.3f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--iters", type=int, default=RECIPE["max_iters"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-interval", type=int, default=100)
    parser.add_argument("--log", help="write the run (history, losses, sample) to this JSON file")
    parser.add_argument("--plot", help="draw the loss curve of --log into this PNG")
    args = parser.parse_args()
    import os

    if os.environ.get("TINYGRAPH_GALLERY"):  # set by the docs build: small settings
        main(iters=50, n_layer=1, n_embd=32, eval_interval=25, final_batches=5, sample_chars=100)
    elif args.plot and args.log and Path(args.log).exists():
        plot(args.log, args.plot)
    else:
        main(iters=args.iters, threads=args.threads, eval_interval=args.eval_interval, log=args.log)
