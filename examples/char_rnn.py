"""A character-level LSTM on tiny Shakespeare, trained on a stream of random windows.
====================================================================================

nanoGPT's shakespeare-char setting, with an LSTM in place of the transformer: the first 90% of the
1,115,394 characters train, the rest validate; 65 characters; batches of 12 windows of 64 characters,
each with a target per step (the next character at every position: y is x shifted by one).

    Embedding(65, 64) → LSTM(256, every step) → Dense(65) → Softmax → CrossEntropy on (N, T) targets

``tg.fit(model, batches, optimizer, steps=...)`` draws a fresh random batch every step from the long
token array (``batches(step)`` is seeded by the step, so a resumed run sees the same batches); AdamW
with nanoGPT's schedule (linear warm-up, then cosine decay to lr/10) and clipnorm 1. The validation
loss is nanoGPT's estimate: the mean over 200 random batches of 12×64 from the held-out 10% (drawn
once, with a fixed seed). At the end the model writes a sample, one character per LSTM step
(``tg.generate`` carries the state: O(1) per character).

    python examples/char_rnn.py                  # the full run (a few minutes on one core)
    python examples/char_rnn.py --steps 200      # a short one
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import tinygraph as tg


def encode(text: str) -> tuple[np.ndarray, list]:
    """Token ids (uint8) of ``text`` and the sorted characters they index (nanoGPT's vocabulary)."""
    chars = sorted(set(text))
    lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.uint8)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    return lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)], chars


def windows(data: np.ndarray, rng: np.random.Generator, batch_size: int, T: int) -> tuple:
    """nanoGPT's get_batch: ``batch_size`` random windows x and their next characters y, (N, T) each."""
    start = rng.integers(0, len(data) - T, batch_size)
    index = start[:, None] + np.arange(T)
    return data[index].astype(np.intp), data[index + 1].astype(np.intp)


def warmup_cosine(lr: float, warmup: int, decay_steps: int, lr_min: float):
    """nanoGPT's get_lr: linear warm-up to ``lr``, cosine decay to ``lr_min`` at ``decay_steps``."""
    def schedule(t: int) -> float:
        if t < warmup:
            return lr * (t + 1) / (warmup + 1)
        if t > decay_steps:
            return lr_min
        cosine = 0.5 * (1.0 + math.cos(math.pi * (t - warmup) / (decay_steps - warmup)))
        return lr_min + cosine * (lr - lr_min)
    return schedule


def build(n_chars: int, T: int, dim: int, units: int, dtype="float32", random_state=0):
    return tg.Sequential([tg.Embedding(n_chars, dim), tg.LSTM(units, return_sequences=True),
                          tg.Dense(n_chars), tg.Softmax(), tg.CrossEntropy()],
                         input_shape=T, dtype=dtype, random_state=random_state)


def main(steps: int = 2000, batch_size: int = 12, T: int = 64, dim: int = 64, units: int = 256,
         lr: float = 2e-3, eval_batches: int = 200, eval_every: int = 500, sample_chars: int = 500,
         text: str | None = None, dtype: str = "float32", seed: int = 1337, verbose: bool = True) -> dict:
    """Train, print the validation losses, the time and a sample; return them in a dict."""
    text = tg.datasets.load_tinyshakespeare() if text is None else text
    data, chars = encode(text)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    model = build(len(chars), T, dim, units, dtype, seed)
    rng = np.random.default_rng(seed)
    validation = [windows(val, rng, batch_size, T) for _ in range(eval_batches)]

    def batches(step: int) -> tuple:
        return windows(train, np.random.default_rng([seed, step]), batch_size, T)

    opt = tg.optim.AdamW(warmup_cosine(lr, min(100, steps // 10), steps, lr / 10), beta2=0.99,
                         weight_decay=0.1, clipnorm=1.0)
    every = min(eval_every, steps)
    t0, c0 = time.perf_counter(), time.process_time()
    result = tg.fit(model, batches, opt, steps=every, epochs=math.ceil(steps / every), maxiter=steps,
                    validation_data=validation, verbose=int(verbose))
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0  # CPU time: the load aside
    val_loss = float(result.history["val_loss"][-1])
    prompt = [chars.index("\n") if "\n" in chars else 0]  # nanoGPT's sample starts from a newline
    sampling = {}
    for stateful in (False, True):  # the whole window again, or one LSTM step per character (kept)
        t0 = time.perf_counter()
        ids = tg.generate(model, prompt, sample_chars, random_state=seed, stateful=stateful)
        sampling[stateful] = time.perf_counter() - t0
    sample = "".join(chars[i] for i in ids)
    if verbose:
        print(f"{model.n_params:,} parameters, {steps} steps of {batch_size}x{T}: validation loss "
              f"{val_loss:.4f} in {seconds:.1f} s ({seconds / steps * 1000:.1f} ms/step; CPU time "
              f"{cpu_seconds:.1f} s)")
        print(f"{sample_chars} characters sampled in {sampling[True]:.2f} s carrying the state, "
              f"{sampling[False]:.2f} s re-running the window")
        print(sample)
    return {"val_loss": val_loss, "seconds": seconds, "cpu_seconds": cpu_seconds, "sample": sample,
            "n_params": model.n_params, "history": result.history, "sample_seconds": sampling}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--units", type=int, default=256)
    args = parser.parse_args()
    with tg.blas_threads(1):
        main(steps=args.steps, units=args.units)
