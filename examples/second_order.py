"""Second-order training on MNIST: L-BFGS-B, trust-krylov with Gauss-Newton products, Hessian-free, Adam.
======================================================================================================

The bundled 10,000 MNIST digits split 8,000 / 2,000 (seed 0); sigmoid nets 784-25-10 and
784-100-100-10 with sigmoid outputs and the course cost (cross-entropy, l2=1), one initial theta per
net shared by all methods. Each method runs until ``iters`` iterations (epochs for Adam) or
``seconds`` of wall time. Recorded after every iteration: the full training loss, the wall time
(evaluating that loss for Adam is not timed) and the *gradient-equivalent evaluations*: forward
passes of the loss plus Gauss-Newton products, each counted as one and weighted by its rows / N
(one product costs about one ``loss_and_grad``: see README "Curvature"). At the end: held-out
accuracy and the largest Gauss-Newton eigenvalue (sharpness) on 1,000 training rows.

Run: ``python examples/second_order.py`` (full settings; ``main()`` defaults are small, for the test).
Writes a table to stdout and ``examples/output/second_order.png`` (if matplotlib is installed).

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 5 minutes at its full settings); this is the output of
``python examples/second_order.py``, recorded on a 2-core machine shared with other jobs (load average
4-12), so the seconds are inflated and noisy::

    30 s per method, MNIST 8,000 / 2,000, sigmoid nets, course cost with l2=1
    net             method                    iterations  loss   evals  test acc  sharpness
    784-25-10       L-BFGS-B                      64      0.275    66    0.933     0.73
    784-25-10       trust-krylov                  27      0.470   184    0.921     1.01
    784-25-10       Hessian-free                  17      0.322   109    0.931     0.88
    784-25-10       Adam (epochs, batch 100)      22      1.099    22    0.884     1.14
    784-100-100-10  L-BFGS-B                      32      0.691    35    0.904     1.67
    784-100-100-10  trust-krylov                   8      1.480    51    0.744     5.76
    784-100-100-10  Hessian-free                  10      0.485    63    0.929     2.31
    784-100-100-10  Adam (epochs, batch 100)       4      1.487     4    0.762     3.36
"""
import argparse
import pathlib
import time

import numpy as np

import tinygraph as tg

OUTPUT = pathlib.Path(__file__).resolve().parent / "output"
METHODS = ("L-BFGS-B", "trust-krylov", "hessian-free", "adam")


def build(hidden, random_state=0):
    layers, n_in = [], 784
    for n in hidden:
        layers += [tg.Dense(n_in, n), tg.Sigmoid()]
        n_in = n
    return tg.Sequential(layers + [tg.Dense(n_in, 10), tg.Sigmoid(), tg.CrossEntropy()], l2=1.0,
                         random_state=random_state)


class Recorder:
    """Counts the model's loss forward passes and curvature products; records (time, evals, loss)."""

    def __init__(self, model, X, y, seconds):
        self.model, self.X, self.y, self.seconds, self.n = model, X, y, seconds, X.shape[0]
        self.evals, self.paused, self.trace = 0.0, 0.0, []
        loss = model.loss
        forward, rbackward = loss.forward, loss.rbackward

        def counted_forward(x, *args):
            self.evals += x.shape[0] / self.n
            return forward(x, *args)

        def counted_rbackward():
            self.evals += loss.p.shape[0] / self.n if hasattr(loss, "p") else 1.0
            return rbackward()

        loss.forward, loss.rbackward = counted_forward, counted_rbackward  # instance attributes
        self.t0 = time.perf_counter()
        self.trace.append((0.0, 0.0, self.full_loss()))

    def full_loss(self):
        t, evals = time.perf_counter(), self.evals
        loss = self.model.loss_value(self.model.theta, self.X, self.y)
        self.evals, self.paused = evals, self.paused + time.perf_counter() - t
        return loss

    def __call__(self, info, exact=True):
        wall = time.perf_counter() - self.t0 - self.paused
        loss = info.loss if exact else self.full_loss()
        self.trace.append((wall, self.evals, loss))
        return wall > self.seconds

    def restore(self):
        del self.model.loss.forward, self.model.loss.rbackward


def best_times(fns: dict, repeats: int) -> dict:
    """The fastest of ``repeats`` runs of each function, run in turns so that a burst of load on a
    shared machine hits them all alike. A value ``(setup, f)`` runs ``setup()`` untimed before f."""
    fns = {k: f if isinstance(f, tuple) else (lambda: None, f) for k, f in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _, f in fns.values():
        f()  # warm the buffers
    for _ in range(repeats):
        for key, (setup, f) in fns.items():
            setup()
            t = time.perf_counter()
            f()
            best[key] = min(best[key], time.perf_counter() - t)
    return best


def product_cost(model, X, y, repeats=7):
    """Seconds of one ``loss_and_grad`` on (X, y), and the time of each product relative to it:
    from scratch (``gnvp``, ``hvp``: forward pass included) and one more product of an operator
    that keeps its forward (for H also backward) pass, as CG and Lanczos use them."""
    theta, v = model.theta.copy(), np.random.default_rng(0).standard_normal(model.n_params)
    X, y, _ = model._check_data(X, y, None)
    kept = {kind: tg.CurvatureOperator(model, X, y, kind=kind) for kind in ("gauss-newton", "hessian")}

    def kept_product(kind):
        return lambda: kept[kind].product(v)

    best = best_times({
        "loss_and_grad": lambda: model.loss_and_grad(theta, X, y, check_input=False),
        "gnvp": lambda: tg.CurvatureOperator(model, X, y, theta=theta, check_input=False).product(v),
        "hvp": lambda: tg.CurvatureOperator(model, X, y, theta=theta, kind="hessian",
                                         check_input=False).product(v),
        # the other calls ran forward passes in between: the untimed first product redoes the kept one
        "G product, kept pass": (kept_product("gauss-newton"), kept_product("gauss-newton")),
        "H product, kept pass": (kept_product("hessian"), kept_product("hessian")),
    }, repeats)
    base = best.pop("loss_and_grad")
    return base, {k: t / base for k, t in best.items()}


def run(method, model, X, y, iters, seconds, batch_size):
    rec = Recorder(model, X, y, seconds)
    if method == "adam":
        tg.fit(model, X, y, optimizer=tg.optim.Adam(1e-2), batch_size=batch_size, epochs=iters,
               random_state=0, callback=lambda info: rec(info, exact=False) if info.event == "epoch" else None)
    else:
        if method == "hessian-free":  # products on a fifth of the rows (Martens), CG at most 20 of them
            method = tg.HessianFree(model, damping=0.01, curvature_fraction=0.2, cg_maxiter=20)
        tg.fit(model, X, y, optimizer=method, maxiter=iters,
               callback=lambda info: rec(info) if info.event == "step" else None)
    rec.restore()
    return np.array(rec.trace)


def main(n_train=1000, iters=5, seconds=60.0, nets=((25,), (100, 100)), methods=METHODS,
         batch_size=100, repeats=7, plot=True):
    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    print(f"MNIST {len(Xtr)} train / {len(Xte)} held out; up to {iters} iterations (Adam: epochs of "
          f"{batch_size}) or {seconds:.0f} s per method")
    print(f"{'net':16} {'method':13} {'iters':>5} {'loss':>8} {'seconds':>8} {'evals':>7} "
          f"{'test acc':>8} {'sharpness':>9}")
    results = {}
    for hidden in nets:
        name = "-".join(map(str, (784, *hidden, 10)))
        base, ratios = product_cost(build(hidden), Xtr, ytr, repeats)
        results[name, "cost"] = ratios
        print(f"{name:16} one loss_and_grad on {len(Xtr)} rows: {1e3 * base:.1f} ms; a product costs "
              + ", ".join(f"{k} {r:.2f}x" for k, r in ratios.items()))
    for hidden in nets:
        name = "-".join(map(str, (784, *hidden, 10)))
        for method in methods:
            model = build(hidden)
            trace = run(method, model, Xtr, ytr, iters, seconds, batch_size)
            sharp = float(model.curvature(Xtr[:1000], ytr[:1000], k=1, tol=1e-3)[0])
            acc = model.score(Xte, yte)
            results[name, method] = {"trace": trace, "test_accuracy": acc, "sharpness": sharp}
            print(f"{name:16} {method:13} {len(trace) - 1:5d} {trace[-1, 2]:8.4f} {trace[-1, 0]:8.1f} "
                  f"{trace[-1, 1]:7.0f} {acc:8.4f} {sharp:9.3g}")
    if plot:
        save_plot(results, nets)
    return results


def save_plot(results, nets):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return None
    fig, axes = plt.subplots(len(nets), 2, figsize=(11, 4 * len(nets)), squeeze=False)
    for row, hidden in zip(axes, nets):
        name = "-".join(map(str, (784, *hidden, 10)))
        for (net, method), r in results.items():
            if net == name and method in METHODS:
                for ax, col in zip(row, (0, 1)):
                    ax.plot(r["trace"][:, col], r["trace"][:, 2], marker=".", label=method)
        for ax, label in zip(row, ("wall time (s)", "gradient-equivalent evaluations")):
            ax.set(xlabel=label, ylabel="training loss", yscale="log", title=name)
            ax.legend()
    fig.tight_layout()
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / "second_order.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=21, help="timing runs per product (fastest kept)")
    args = parser.parse_args()
    main(n_train=args.n_train, iters=args.iters, seconds=args.seconds, repeats=args.repeats)
