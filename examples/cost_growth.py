"""How the cost of an epoch grows with the batch size and with the hidden width, next to the matmul bound.
=======================================================================================================

Left: 784-256-256-10 (ReLU, softmax cross-entropy, Adam) for batch sizes 32…2048. Right: 784-w-w-10
at batch 128 for widths w = 64…2048. Float32, one BLAS thread for both tinygraph and the bound. To
keep the run short each point trains on ``rows`` rows (6,000 by default, a tenth of an MNIST epoch)
and the time is scaled up to 60,000 rows; the bound is the matrix-product FLOPs of that epoch divided
by the rate measured on the same shapes (``examples/benchmark.py``). Small batches and narrow nets pay
per-step overhead (Python, elementwise passes, the optimizer); wide nets and large batches approach
the bound.

    python examples/cost_growth.py           # writes docs/cost_growth.png
"""
# sphinx_gallery_thumbnail_path = "_static/gallery/cost_growth.png"
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import matmul_flops, matmul_rate, mlp, synthetic_mnist

EPOCH_ROWS = 60000
BATCHES = (32, 64, 128, 256, 512, 1024, 2048)
WIDTHS = (64, 128, 256, 512, 1024, 2048)


def epoch_seconds(sizes, batch, X, y, threads=1, repeats=2) -> float:
    """Seconds of one Adam epoch over X (best of ``repeats``), scaled to EPOCH_ROWS rows."""
    model = mlp(sizes, X.dtype)
    opt = tg.optim.Adam(1e-3)
    tg.fit(model, X[:batch], y[:batch], opt, batch_size=batch, epochs=1, threads=threads)  # buffers
    best = np.inf
    for seed in range(repeats):
        t0 = time.perf_counter()
        tg.fit(model, X, y, opt, batch_size=batch, epochs=1, random_state=seed, threads=threads)
        best = min(best, time.perf_counter() - t0)
    return best * EPOCH_ROWS / X.shape[0]


def bound_seconds(sizes, batch, dtype, threads=1) -> float:
    return matmul_flops(sizes, EPOCH_ROWS) / matmul_rate(sizes, batch, dtype, threads, seconds=0.1)


def sweep(points, make, X, y):
    rows = []
    for p in points:
        sizes, batch = make(p)
        rows.append((p, epoch_seconds(sizes, batch, X, y), bound_seconds(sizes, batch, X.dtype)))
        print(f"{p:>5}: tinygraph {rows[-1][1]:7.3f} s, matmul bound {rows[-1][2]:7.3f} s "
              f"({100 * rows[-1][2] / rows[-1][1]:.0f}%)", flush=True)
    return rows


def plot(by_batch, by_width, rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, data, xlabel, title in ((axes[0], by_batch, "batch size", "784-256-256-10"),
                                    (axes[1], by_width, "hidden width w", "784-w-w-10, batch 128")):
        x = [p for p, _, _ in data]
        ax.loglog(x, [t for _, t, _ in data], "o-", label="tinygraph epoch")
        ax.loglog(x, [b for _, _, b in data], "s--", label="matmul bound")
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(p) for p in x])
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds per 60,000-row epoch")
    axes[0].legend()
    fig.suptitle(f"Adam, float32, 1 BLAS thread; {rows:,} rows per point, scaled to 60,000")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(quick: bool = False, rows: int | None = None, path=None) -> dict:
    """Both sweeps and the picture; ``quick`` runs three small points each into examples/output/."""
    here = Path(__file__).resolve().parent
    rows = (600 if quick else 6000) if rows is None else rows
    batches, widths = ((32, 128, 512), (64, 128, 256)) if quick else (BATCHES, WIDTHS)
    path = Path(path) if path else (here / "output" / "cost_growth_quick.png" if quick
                                    else here.parent / "docs" / "cost_growth.png")
    X, y = synthetic_mnist(max(rows, max(batches)), np.float32)
    X, y = X[:max(rows, max(batches))], y[:max(rows, max(batches))]
    print("batch size sweep, 784-256-256-10")
    by_batch = sweep(batches, lambda b: ((784, 256, 256, 10), b), X, y)
    print("width sweep, 784-w-w-10, batch 128")
    by_width = sweep(widths, lambda w: ((784, w, w, 10), 128), X, y)
    plot(by_batch, by_width, X.shape[0], path)
    print(f"wrote {path}")
    return {"by_batch": by_batch, "by_width": by_width, "path": str(path)}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
