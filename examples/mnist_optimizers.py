"""Swap the optimizer in one line: the older multi-layer net's MNIST table, redone with tinygraph.
===============================================================================================

784-25-10 sigmoid net with the course cost, on the bundled MNIST digits (fixed 8,000 / 2,000 split),
100 iterations of batch 100 for the minibatch methods (GD, RMSProp, CG on minibatches, Adam,
Nesterov SGD) and 100 full-batch iterations of L-BFGS-B. One row per optimizer: wall time,
gradient evaluations, examples seen, held-out accuracy; a plot of the training loss against time
goes to examples/output/mnist_optimizers.png when matplotlib is installed.

    python examples/mnist_optimizers.py

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 45 seconds at its full settings); this is the output of
``python examples/mnist_optimizers.py``, recorded on a 2-core machine shared with other jobs (load
average 4-12), so the seconds are inflated and noisy::

    | optimizer              | wall time (s) | gradient evals | examples seen | held-out accuracy |
    |------------------------|---------------|----------------|---------------|-------------------|
    | GD                     |          0.08 |            100 |        10,000 |            0.8275 |
    | RMSProp                |          0.12 |            100 |        10,000 |            0.8345 |
    | CG (3 its/batch)       |          1.51 |            602 |        60,200 |            0.8465 |
    | Adam                   |          0.11 |            100 |        10,000 |            0.8045 |
    | Nesterov SGD           |          0.18 |            100 |        10,000 |            0.8585 |
    | L-BFGS-B (full batch)  |         11.08 |            104 |       832,000 |            0.9365 |
    loss against time: examples/output/mnist_optimizers.png
"""
# sphinx_gallery_thumbnail_path = "_static/gallery/mnist_optimizers.png"
from __future__ import annotations

import os

import tinygraph as tg

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def optimizers() -> dict:
    """The contenders: name -> (optimizer, uses minibatches)."""
    return {
        "GD": (tg.optim.SGD(lr=0.5), True),
        "RMSProp": (tg.optim.RMSProp(lr=0.01), True),
        "CG (3 its/batch)": (tg.optim.Scipy("CG", maxiter=3), True),
        "Adam": (tg.optim.Adam(lr=0.01), True),
        "Nesterov SGD": (tg.optim.SGD(lr=0.2, momentum=0.9, nesterov=True), True),
        "L-BFGS-B (full batch)": ("L-BFGS-B", False),
    }


def make_model(random_state: int = 0) -> tg.Sequential:
    return tg.Sequential([tg.Dense(784, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(),
                          tg.CrossEntropy()], l2=1.0, random_state=random_state)


def main(n_iter: int = 100, batch_size: int = 100, n_train: int | None = None, plot: bool = True,
         out_dir: str = OUTPUT, verbose: bool = True, threads: int | None = 1) -> list:
    """Train one fresh net per optimizer; return the table rows (dicts). ``n_train`` subsamples the
    8,000 training digits (for a quick test); the held-out 2,000 stay the same. ``threads``: BLAS
    threads while training (this net's products are too small to gain from a second one)."""
    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    if n_train is not None:
        Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    rows, curves = [], {}
    for name, (opt, minibatch) in optimizers().items():
        model = make_model()
        kw = {"batch_size": batch_size, "random_state": 0} if minibatch else {}
        res = tg.fit(model, Xtr, ytr, opt, maxiter=n_iter, threads=threads, **kw)
        rows.append({"optimizer": name, "time_s": res.wall_time, "grad_evals": res.n_grad_evals,
                     "examples_seen": res.n_examples_seen, "train_loss": res.fun,
                     "accuracy": model.score(Xte, yte)})
        curves[name] = (res.history["time"], res.history["loss"])
    if verbose:
        print(format_table(rows))
    if plot:
        path = plot_curves(curves, out_dir)
        if verbose and path:
            print("loss against time:", path)
    return rows


def format_table(rows: list) -> str:
    head = f"| {'optimizer':22s} | wall time (s) | gradient evals | examples seen | held-out accuracy |"
    lines = [head, "|" + "|".join("-" * (len(c) + 0) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        lines.append(f"| {r['optimizer']:22s} | {r['time_s']:13.2f} | {r['grad_evals']:14d} | "
                     f"{r['examples_seen']:13,d} | {r['accuracy']:17.4f} |")
    return "\n".join(lines)


def plot_curves(curves: dict, out_dir: str) -> str | None:
    """Training loss (minibatch loss for minibatch methods) against wall time; None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    os.makedirs(out_dir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (t, loss) in curves.items():
        ax.plot(t, loss, label=name, lw=1.2)
    ax.set(xlabel="wall time (s)", ylabel="training loss", xscale="log", yscale="log",
           title="784-25-10 sigmoid net on MNIST: loss against time")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, "mnist_optimizers.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
