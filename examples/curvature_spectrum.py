"""The Hessian of LeNet at initialisation and after training: top eigenvalue, trace, spectral density.
=====================================================================================================

PyHessian's figure (Yao, Gholami, Keutzer & Mahoney 2020) redone from tinygraph's hand-written
R-operators: on a fixed batch of the bundled MNIST digits, the largest Hessian eigenvalue (Lanczos,
``tg.curvature.curvature``), the trace (Hutch++, with its standard error, ``tg.curvature.trace``) and
the eigenvalue density by stochastic Lanczos quadrature (``tg.curvature.density``), drawn with
``tg.plot_spectrum``, for the same LeNet before and after two epochs of Adam. With the defaults, the
top eigenvalue falls from about 270 to 15 and the trace from about 1,080 to 89; the density is a
bulk near 0 with a handful of isolated outliers.

    PYTHONPATH=. python examples/curvature_spectrum.py
    PYTHONPATH=. python examples/curvature_spectrum.py --costs   # each quantity's cost on the MNIST MLP
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the models package at the root

import tinygraph as tg
from models.lenet import lenet_net

DOCS = Path(__file__).resolve().parent.parent / "docs"


def measure(model, X, y, *, lanczos: int, probes: int, seed: int = 0) -> dict:
    """Top eigenvalue, trace and density of the Hessian of ``model`` on (X, y), with their costs."""
    t0 = time.perf_counter()
    top = tg.curvature.curvature(model, X, y, k=1, kind="hessian", tol=1e-3)[0]
    t1 = time.perf_counter()
    tr = tg.curvature.trace(model, X, y, kind="hessian", probes=probes, method="hutch++", random_state=seed)
    t2 = time.perf_counter()
    spectrum = tg.curvature.density(model, X, y, kind="hessian", iter=lanczos, n_v=1, random_state=seed)
    t3 = time.perf_counter()
    return {"top": float(top), "trace": tr.value, "trace_stderr": tr.stderr, "spectrum": spectrum,
            "seconds": (t1 - t0, t2 - t1, t3 - t2)}


def main(epochs: int = 2, n_train: int = 8000, batch: int = 128, lanczos: int = 40, probes: int = 30,
         channels: tuple = (20, 50), hidden: int = 500, plot: bool = True, out: Path | None = None,
         verbose: bool = True) -> dict:
    """Measure LeNet's Hessian at initialisation and after ``epochs`` of Adam; draw both densities."""
    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X.reshape(-1, 1, 28, 28), y, test_size=2000,
                                                      random_state=0)
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    Xb, yb = Xtr[:batch], ytr[:batch]  # the fixed batch every curvature quantity is measured on
    model = lenet_net(channels=channels, hidden=hidden, l2=0.0, random_state=0, dtype=np.float64)
    results = {"init": measure(model, Xb, yb, lanczos=lanczos, probes=probes)}
    tg.fit(model, Xtr, ytr, tg.optim.Adam(1e-3), batch_size=64, epochs=epochs, random_state=0)
    results["trained"] = measure(model, Xb, yb, lanczos=lanczos, probes=probes)
    results["accuracy"] = model.score(Xte, yte)
    results["n_params"] = model.n_params
    if verbose:
        print(f"LeNet ({model.n_params:,} parameters), Hessian on {batch} digits; after {epochs} epochs of Adam "
              f"the held-out accuracy is {results['accuracy']:.4f}")
        for when in ("init", "trained"):
            r = results[when]
            print(f"  {when:8s} top eigenvalue {r['top']:9.4g}   trace {r['trace']:9.4g} ± {r['trace_stderr']:.2g}"
                  f"   ({r['seconds'][0]:.0f} s, {r['seconds'][1]:.0f} s, {r['seconds'][2]:.0f} s)")
    if plot:
        results["figure"] = draw(results, out or DOCS / "curvature_spectrum.png")
    return results


def draw(results: dict, path: Path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, when, title in zip(axes, ("init", "trained"), ("at initialisation", "after training")):
        r = results[when]
        tg.plot_spectrum(r["spectrum"], ax=ax, color="C0" if when == "init" else "C3")
        ax.set_title(f"LeNet Hessian {title}\ntop λ {r['top']:.3g}, trace {r['trace']:.3g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def costs(hidden=(128,), batch: int = 1000, repeats: int = 5, verbose: bool = True) -> dict:
    """Seconds (best of ``repeats``, interleaved) of a gradient, a Gauss-Newton, Hessian and Fisher
    product (the forward pass already done, as inside CG or Lanczos) and one batch's K-FAC factors
    (the sampled backward and the factors' products), on the MNIST MLP; and their ratio to the gradient."""
    from models.mnist import mnist_net
    X, y = tg.datasets.load_mnist()
    X, y = X[:batch], y[:batch]
    model = mnist_net(hidden, random_state=0)
    v = np.random.default_rng(0).standard_normal(model.n_params)
    # one model per operator: each keeps its own forward pass between products
    ops = {kind: tg.CurvatureOperator(mnist_net(hidden, random_state=0), X, y, kind=kind)
           for kind in ("gauss-newton", "hessian", "fisher")}
    kfac_model = mnist_net(hidden, random_state=0)
    opt = tg.optim.KFAC(kfac_model)

    def factors():
        kfac_model.loss_and_grad(kfac_model.theta, X, y)  # the step's own gradient: not counted
        t = time.perf_counter()
        _, z, _, w, n = opt._batch()
        opt._batch_factors(z, w, n, np.random.default_rng(0))
        return time.perf_counter() - t

    def timed(f):
        t = time.perf_counter()
        f()
        return time.perf_counter() - t
    jobs = {"gradient": lambda: timed(lambda: model.loss_and_grad(model.theta, X, y)),
            **{f"{k} product": (lambda op=op: timed(lambda: op.product(v))) for k, op in ops.items()},
            "K-FAC factors": factors}
    best = {k: np.inf for k in jobs}
    for _ in range(repeats):
        for k, job in jobs.items():
            best[k] = min(best[k], job())
    if verbose:
        print(f"MNIST MLP 784-{'-'.join(map(str, hidden))}-10, batch {batch}, best of {repeats}:")
        for k, t in best.items():
            print(f"  {k:22s} {1e3 * t:8.1f} ms   {t / best['gradient']:5.2f}x a gradient")
    return best


if __name__ == "__main__":
    if "--costs" in sys.argv:
        costs()
    else:
        main()
