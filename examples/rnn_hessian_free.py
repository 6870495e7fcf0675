"""Hessian-free against Adam on a plain tanh RNN: the addition problem at growing T.
=================================================================================

The experiment of Martens & Sutskever (ICML 2011) at a small budget: SimpleRNN(units, tanh) →
Dense(1) → squared error on the addition problem (see ``models/recurrent.py``: predicting 1 always
gives MSE 0.167, solved is MSE < 0.01) for T = 30, 50, 100. Each method gets the same wall-clock
budget per T (evaluation of the held-out set excluded):

- Adam: lr 1e-3, batch 64, gradient clipped to norm 1;
- Hessian-free (``tg.HessianFree``): batches of 100, at most 10 CG iterations (Gauss-Newton
  products on the whole batch) per step, CG warm-started, Levenberg-Marquardt λ, and structural
  damping μ = 1/30 on the hidden states. Martens & Sutskever used large batches and long CG runs
  over hours; in a one-minute budget many cheap steps did better (at T = 30, 60 s: batch 1,000 with
  100 CG iterations on a quarter of it reached MSE 0.145, batch 500/30 CG 0.057, batch 200/20 CG
  0.019, batch 100/10 CG 0.010).

Prints a table of held-out MSE at the end of the budget and writes the curves to
examples/output/rnn_hessian_free.png (matplotlib).

    python examples/rnn_hessian_free.py                 # 60 s per method and T (about 6 minutes)
    python examples/rnn_hessian_free.py --budget 20

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 7 minutes at its full settings); this is the output of
``python examples/rnn_hessian_free.py``, recorded on a 2-core machine shared with other jobs (load
average 4-12), so the seconds are inflated and noisy::

    SimpleRNN(100, tanh), addition problem, 60 s of training per method and T, held-out MSE:
       T   Adam                     Hessian-free
      30   0.0113 (2,375 steps)     0.0001 (135 steps)
      50   0.0414 (1,498 steps)     0.0034 (84 steps)
     100   0.1622 (880 steps)       0.0339 (49 steps)
"""
# sphinx_gallery_thumbnail_path = "_static/gallery/rnn_hessian_free.png"
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models/ lives at the repository root
from models.recurrent import addition_problem, sequence_regressor

OUTPUT = Path(__file__).resolve().parent / "output"
METHODS = ("adam", "hessian-free")


def optimizer(method: str, model, structural_damping: float):
    if method == "adam":
        return tg.optim.Adam(1e-3, clipnorm=1.0), 64
    return tg.HessianFree(model, damping=1.0, cg_maxiter=10,
                          structural_damping=structural_damping), 100


def run(method: str, T: int, budget: float, units: int, n_train: int, n_test: int,
        structural_damping: float, dtype) -> dict:
    """One training run under a wall-clock budget; held-out MSE against training seconds."""
    Xtr, ytr = addition_problem(n_train, T, random_state=0, dtype=dtype)
    Xte, yte = addition_problem(n_test, T, random_state=1, dtype=dtype)
    model = sequence_regressor((T, 2), 1, cell="rnn", units=units, random_state=0, dtype=dtype)
    opt, batch_size = optimizer(method, model, structural_damping)
    curve, clock = [], {"spent": 0.0, "last": time.perf_counter(), "next": 0.0}

    def mse():
        return float(np.mean((model.predict(Xte) - yte) ** 2))

    curve.append((0.0, mse()))
    clock["last"] = time.perf_counter()

    def watch(info):
        now = time.perf_counter()
        clock["spent"] += now - clock["last"]
        if clock["spent"] >= clock["next"] or clock["spent"] >= budget:
            curve.append((clock["spent"], mse()))
            clock["next"] = clock["spent"] + budget / 30
        clock["last"] = time.perf_counter()  # evaluation time is not training time
        return clock["spent"] >= budget

    res = tg.fit(model, Xtr, ytr, opt, batch_size=batch_size, epochs=10**6, random_state=0,
                 callback=watch)
    return {"curve": np.array(curve), "mse": curve[-1][1], "steps": res.nit}


def main(Ts=(30, 50, 100), budget: float = 60.0, units: int = 100, n_train: int = 10_000,
         n_test: int = 1000, structural_damping: float = 1 / 30, dtype=np.float64, plot: bool = True,
         out_dir=None, threads: int | None = 1, verbose: bool = True) -> dict:
    """{(T, method): {"curve": (k, 2) seconds and held-out MSE, "mse": final, "steps"}}."""
    results = {}
    with tg.blas_threads(threads):
        for T in Ts:
            for method in METHODS:
                results[T, method] = r = run(method, T, budget, units, n_train, n_test,
                                             structural_damping, dtype)
                if verbose:
                    print(f"T={T:4d} {method:13s} held-out MSE {r['mse']:.4f} after {r['steps']} steps "
                          f"({budget:g} s)", flush=True)
    if verbose:
        print(table(results, budget))
    if plot:
        path = draw(results, Ts, budget, Path(out_dir or OUTPUT))
        if verbose:
            print("curves:", path)
    return results


def table(results: dict, budget: float) -> str:
    lines = [f"| T | Adam | Hessian-free |  (held-out MSE after {budget:g} s; 0.167 = predicting 1)",
             "|---|---|---|"]
    for T in sorted({T for T, _ in results}):
        lines.append(f"| {T} | {results[T, 'adam']['mse']:.4f} | {results[T, 'hessian-free']['mse']:.4f} |")
    return "\n".join(lines)


def draw(results: dict, Ts, budget: float, out_dir: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(Ts), figsize=(4 * len(Ts), 3.4), sharey=True, squeeze=False)
    for ax, T in zip(axes[0], Ts):
        for method in METHODS:
            c = results[T, method]["curve"]
            ax.plot(c[:, 0], c[:, 1], label=method)
        ax.axhline(1 / 6, color="grey", ls=":", lw=1, label="predict 1")
        ax.axhline(0.01, color="grey", ls="--", lw=1, label="solved")
        ax.set(title=f"T = {T}", xlabel="training seconds", yscale="log", xlim=(0, budget))
    axes[0][0].set_ylabel("held-out MSE")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Addition problem, tanh RNN: Adam vs Hessian-free, same wall-clock budget")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "rnn_hessian_free.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per method and T")
    args = parser.parse_args()
    main(budget=args.budget)
