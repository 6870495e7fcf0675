"""Hessian-free against Adam on a small transformer: reversing a sequence of tokens.
====================================================================================

Sequences of T = 8 tokens from a vocabulary of 8; the target at position t is the token at position
T − 1 − t (every output needs attention to another position: a model without it scores 1/8 per
position). The model: Embedding(8, 32) + PositionalEmbedding → one pre-LayerNorm block with
non-causal 4-head attention and a GELU MLP → LayerNorm → Dense(8) → Softmax → per-position
cross-entropy (``block`` of ``models/gpt.py``, without the mask). Both methods get the same
wall-clock budget on 4,000 training sequences, float64:

- Adam: lr 3e-3, batch 64, gradient clipped to norm 1;
- Hessian-free (``tg.HessianFree``): batches of 500, at most 20 CG iterations of Gauss-Newton
  products (through the attention's R-operators) per step, Levenberg-Marquardt λ.

Prints the held-out per-position accuracy and loss of each at the end of the budget.

    python examples/transformer_hessian_free.py                # 60 s per method
    python examples/transformer_hessian_free.py --budget 20
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models/ lives at the repository root
from models.gpt import normal_init

METHODS = ("adam", "hessian-free")


def reversal(n: int, T: int = 8, V: int = 8, random_state=None) -> tuple:
    """X (n, T) random tokens; y (n, T) the same sequences reversed."""
    X = np.random.default_rng(random_state).integers(0, V, (n, T))
    return X, X[:, ::-1].copy()


def transformer(T: int = 8, V: int = 8, E: int = 32, heads: int = 4, random_state=0, dtype=np.float64):
    tokens = tg.Input(T, name="tokens")
    x = tg.PositionalEmbedding(T, init=normal_init(0.1), name="wpe")(
        tg.Embedding(V, E, init=normal_init(0.1), name="wte")(tokens))
    h = tg.MultiHeadAttention(heads, name="h0.attn")(tg.LayerNorm(name="h0.ln_1")(x))
    x = tg.Add(name="h0.add_1")(x, h)
    h = tg.Dense(4 * E, name="h0.mlp.c_fc")(tg.LayerNorm(name="h0.ln_2")(x))
    h = tg.Dense(E, name="h0.mlp.c_proj")(tg.GELU(name="h0.mlp.gelu")(h))
    x = tg.LayerNorm(name="ln_f")(tg.Add(name="h0.add_2")(x, h))
    out = tg.CrossEntropy()(tg.Softmax()(tg.Dense(V, name="head")(x)))
    return tg.Graph(tokens, out, random_state=random_state, dtype=dtype)


def run(method: str, budget: float, n_train: int, n_test: int) -> dict:
    Xtr, ytr = reversal(n_train, random_state=0)
    Xte, yte = reversal(n_test, random_state=1)
    model = transformer()
    if method == "adam":
        opt, batch_size = tg.optim.Adam(3e-3, clipnorm=1.0), 64
    else:
        opt, batch_size = tg.HessianFree(model, damping=1.0, cg_maxiter=20), 500
    clock = {"spent": 0.0, "last": time.perf_counter()}

    def watch(info):
        now = time.perf_counter()
        clock["spent"] += now - clock["last"]
        clock["last"] = now
        return clock["spent"] >= budget

    res = tg.fit(model, Xtr, ytr, opt, batch_size=batch_size, epochs=10**6, random_state=0, callback=watch)
    accuracy = float(np.mean(model.predict_proba(Xte).argmax(-1) == yte))
    return {"accuracy": accuracy, "loss": model.loss_value(model.theta, Xte, yte),
            "steps": res.nit, "seconds": clock["spent"]}


def main(budget: float = 60.0, n_train: int = 4000, n_test: int = 1000, threads: int | None = 1,
         verbose: bool = True) -> dict:
    """{method: {"accuracy", "loss", "steps", "seconds"}} on the held-out sequences."""
    with tg.blas_threads(threads):
        results = {m: run(m, budget, n_train, n_test) for m in METHODS}
    if verbose:
        print(f"| method | held-out accuracy per position | held-out loss | steps | "
              f"(budget {budget:g} s, chance 0.125) |\n|---|---|---|---|")
        for m, r in results.items():
            print(f"| {m} | {r['accuracy']:.3f} | {r['loss']:.3f} | {r['steps']} |")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    import os

    if os.environ.get("TINYGRAPH_GALLERY"):  # set by the docs build: small settings
        main(budget=3, n_train=500, n_test=200)
    else:
        main(budget=args.budget)
