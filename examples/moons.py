"""Moons with the estimator: decision boundaries for 1 to 50 hidden units, and overfitting.
========================================================================================

``make_moons(200, noise=0.2)`` as in the moons post, a 2-h-1 sigmoid net (course cross-entropy,
l2=0.001, scipy's CG like the post's ``fmin_cg``) for h in 1, 2, 3, 4, 5, 20, 50. Training accuracy
climbs towards 1.00 as the net grows while accuracy on 1,000 fresh moons does not: the extra units
bend the boundary around the noise. Each boundary is saved as ``examples/output/moons_h{h}.png``
and all of them side by side as ``moons_boundaries.png``.
Run: ``python examples/moons.py``.
"""
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons

import tinygraph as tg

OUT = Path(__file__).resolve().parent / "output"


def plot_boundary(ax, clf, X, y, title):
    """Filled contour of P(class 1) on a grid covering X, with the training points on top."""
    xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200),
                         np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200))
    p = clf.predict_proba(np.column_stack([xx.ravel(), yy.ravel()]))[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=12)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def main(hidden_sizes=(1, 2, 3, 4, 5, 20, 50), max_iter=2000, out_dir=OUT, threads=1):
    X, y = make_moons(200, noise=0.2, random_state=0)
    Xte, yte = make_moons(1000, noise=0.2, random_state=1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(hidden_sizes), figsize=(2.6 * len(hidden_sizes), 2.8))
    axes = np.atleast_1d(axes)
    print(f"make_moons(200, noise=0.2): 2-h-1 sigmoid net, l2=0.001, CG, max_iter={max_iter}")
    print(f"{'hidden':>6} {'iters':>6} {'seconds':>8} {'train acc':>9} {'test acc':>9}")
    results = {}
    for h, ax in zip(hidden_sizes, axes):
        clf = tg.NeuralNetClassifier((h,), "sigmoid", output="sigmoid", l2=0.001, init="sigmoid",
                                     optimizer="CG", max_iter=max_iter, tol=None, threads=threads,
                                     random_state=0)
        t0 = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - t0
        results[h] = (clf.score(X, y), clf.score(Xte, yte))
        print(f"{h:6d} {clf.n_iter_:6d} {seconds:8.2f} {results[h][0]:9.3f} {results[h][1]:9.3f}")
        title = f"h={h}: train {results[h][0]:.2f}, test {results[h][1]:.2f}"
        single, single_ax = plt.subplots(figsize=(4, 3.5))
        plot_boundary(single_ax, clf, X, y, title)
        single.savefig(out_dir / f"moons_h{h}.png", dpi=100, bbox_inches="tight")
        plt.close(single)
        plot_boundary(ax, clf, X, y, title)
    fig.savefig(out_dir / "moons_boundaries.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    shown = os.path.relpath(out_dir, Path(__file__).resolve().parent.parent)  # no machine path in the output
    print(f"contour plots in {shown}/moons_h*.png and moons_boundaries.png")
    return results


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
