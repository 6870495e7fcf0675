"""Speed of one training epoch, side by side: tinygraph, PyTorch CPU and scikit-learn's MLPClassifier.
===================================================================================================

One epoch of Adam (lr 1e-3, shuffled minibatches) over 60,000 MNIST-shaped synthetic rows (timing does
not depend on the pixel values) for each net, batch size and dtype of ``CASES``; the median of several
rounds in seconds (each round runs every library once, back to back), the median over rounds of each
peer's time divided by tinygraph's in that round (above 1: tinygraph is faster), and the
*matmul bound*: the floating-point operations of the step's matrix products (forward x·W, backward
xᵀ·dy and dy·Wᵀ, no dy·Wᵀ for the first layer) divided by the rate this script measures for those very
products. Then full-batch work on the 8,000 bundled MNIST training digits: one ``loss_and_grad`` and a
200-iteration L-BFGS-B fit of the 784-25-10 sigmoid net against scikit-learn's ``lbfgs`` solver, and
the peak memory of a minibatch fit (tracemalloc).

Every library runs with the number of BLAS/OpenMP threads (1 or 2) that a short probe finds faster
for it: on a small shared machine a second thread often costs more than it gains. Last, the
*defaults table*: the README's Quick start, a digits L-BFGS-B fit and a 784-256-256-10 Adam epoch
as a user runs them (tinygraph's default thread choice, ``tg.auto_threads``) against every
explicit setting, in a child process pinned to one core and in this one on all cores.
Peers are optional (``pip install "tinygraph[bench]"``); a missing one is skipped.

    python examples/benchmark.py            # the full run (several minutes)
    python examples/benchmark.py --quick    # a smoke run on small data
    python examples/benchmark.py --defaults # only the defaults table (a few minutes)
    python examples/benchmark.py --import-time  # only the import time over numpy + scipy.optimize
    python examples/benchmark.py --cpu-time --case 1   # only the epoch table, one thread, CPU time

On a machine shared with other jobs, ``--cpu-time`` runs every library on one thread and times the
CPU time of that thread (``time.thread_time``), which waiting for a core does not inflate.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import time
import tracemalloc
import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np

import tinygraph as tg

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # without threadpoolctl every library keeps its default thread count
    threadpool_limits = None

CASES = [((784, 25, 10), 100), ((784, 256, 256, 10), 128), ((784, 1024, 1024, 10), 512)]
DTYPES = ("float64", "float32")
OUTPUT = Path(__file__).resolve().parent / "output"


def threads(n: int | None):
    """Limit numpy's BLAS (and OpenMP) to ``n`` threads inside the block; None: leave as is."""
    if n is None or threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n)


def synthetic_mnist(n: int, dtype, random_state=0):
    """MNIST-shaped data: X (n, 784) uniform in [0, 1), labels y (n,) in 0..9."""
    rng = np.random.default_rng(random_state)
    return rng.random((n, 784), dtype=np.dtype(dtype).type), rng.integers(0, 10, n)


def mlp(sizes, dtype, hidden="relu", random_state=0) -> tg.Sequential:
    """Dense layers of ``sizes`` with ``hidden`` activations and a softmax cross-entropy output."""
    act = {"relu": tg.ReLU, "sigmoid": tg.Sigmoid}[hidden]
    layers = []
    for n_in, n_out in pairwise(sizes[:-1]):
        layers += [tg.Dense(n_in, n_out), act()]
    layers += [tg.Dense(sizes[-2], sizes[-1]), tg.Softmax(), tg.CrossEntropy()]
    return tg.Sequential(layers, dtype=dtype, random_state=random_state)


def matmul_flops(sizes, n_rows: int) -> float:
    """Forward and backward matrix-product FLOPs for n_rows examples (the first layer needs no dx)."""
    pairs = list(pairwise(sizes))
    per_row = sum(2 * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(pairs))
    return float(per_row) * n_rows


def matmul_rate(sizes, batch: int, dtype, n_threads: int, seconds: float = 0.3) -> float:
    """FLOP/s of exactly the products of one training step on these shapes (best of 3 runs)."""
    rng = np.random.default_rng(0)
    dt = np.dtype(dtype)
    layers = []
    for a, b in pairwise(sizes):
        layers.append((rng.random((batch, a), dtype=dt.type), rng.random((a, b), dtype=dt.type),
                       np.empty((batch, b), dt), rng.random((batch, b), dtype=dt.type),
                       np.empty((a, b), dt), np.empty((batch, a), dt)))

    def step():
        for i, (x, W, y, dy, dW, dx) in enumerate(layers):
            np.matmul(x, W, out=y)
            np.matmul(x.T, dy, out=dW)
            if i:
                np.matmul(dy, W.T, out=dx)

    with threads(n_threads):
        step()
        t0 = time.perf_counter()
        step()
        reps = max(1, int(seconds / max(time.perf_counter() - t0, 1e-6)))
        best = min(_timed(lambda: [step() for _ in range(reps)]) for _ in range(3)) / reps
    return matmul_flops(sizes, batch) / best


CLOCK = time.perf_counter  # --cpu-time: time.thread_time (one thread: the CPU time of the work itself)


def _timed(fn) -> float:
    t0 = CLOCK()
    fn()
    return CLOCK() - t0


def _best_threads(run_probe, candidates) -> int:
    """The thread count whose probe runs are faster (best of three each, alternating, after a warm-up)."""
    if len(candidates) == 1:
        return candidates[0]
    run_probe(candidates[0])
    best = dict.fromkeys(candidates, math.inf)
    for _ in range(3):
        for n in candidates:
            best[n] = min(best[n], _timed(lambda k=n: run_probe(k)))
    return min(candidates, key=best.get)


class TinygraphRunner:
    """One epoch of ``tg.fit`` with Adam; the model and the optimizer persist across repeats."""

    name = "tinygraph"

    def __init__(self, sizes, batch, X, y):
        self.model = mlp(sizes, X.dtype)
        self.opt = tg.optim.Adam(1e-3)
        self.batch, self.X, self.y, self.seed = batch, X, y, 0

    def epoch(self, n_threads, rows=None):
        rows = slice(None) if rows is None else slice(rows)
        self.seed += 1
        tg.fit(self.model, self.X[rows], self.y[rows], self.opt, batch_size=self.batch, epochs=1,
               random_state=self.seed, threads=n_threads)


class TorchRunner:
    """``nn.Sequential`` + ``torch.optim.Adam``, starting from tinygraph's initial weights."""

    name = "PyTorch"

    def __init__(self, sizes, batch, X, y):
        import torch
        self.torch = torch
        init = mlp(sizes, X.dtype)
        mods = []
        for i, node in enumerate(n for n in init.nodes if isinstance(n, tg.Dense)):
            lin = torch.nn.Linear(node.n_in, node.n_out, dtype=getattr(torch, X.dtype.name))
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(node.W.T.copy()))
                lin.bias.copy_(torch.from_numpy(node.b.copy()))
            mods += [lin, torch.nn.ReLU()] if i < len(sizes) - 2 else [lin]
        self.net = torch.nn.Sequential(*mods)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        self.batch, self.gen = batch, torch.Generator().manual_seed(0)

    def epoch(self, n_threads, rows=None):
        torch = self.torch
        torch.set_num_threads(n_threads or os.cpu_count())
        n = self.X.shape[0] if rows is None else rows
        perm = torch.randperm(n, generator=self.gen)
        for s in range(0, n, self.batch):
            j = perm[s:s + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(self.net(self.X[j]), self.y[j])
            loss.backward()
            self.opt.step()


class SklearnRunner:
    """``MLPClassifier(solver='adam', max_iter=1)``: one epoch per ``fit`` (its dtype follows X)."""

    name = "scikit-learn"

    def __init__(self, sizes, batch, X, y):
        from sklearn.neural_network import MLPClassifier
        self.make = lambda: MLPClassifier(
            hidden_layer_sizes=sizes[1:-1], activation="relu", solver="adam", alpha=0.0,
            batch_size=batch, learning_rate_init=1e-3, max_iter=1, shuffle=True, random_state=0,
            tol=0.0, n_iter_no_change=10 ** 9)  # exactly one epoch, no early stop
        self.X, self.y = X, y

    def epoch(self, n_threads, rows=None):
        from sklearn.exceptions import ConvergenceWarning
        rows = slice(None) if rows is None else slice(rows)
        with threads(n_threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is the point
            self.make().fit(self.X[rows], self.y[rows])


def _available(peers):
    runners = [TinygraphRunner]
    for name, module, runner in (("torch", "torch", TorchRunner), ("sklearn", "sklearn", SklearnRunner)):
        if name in peers:
            try:
                __import__(module)
                runners.append(runner)
            except ImportError:
                print(f"({name} is not installed: skipped)")
    return runners


def epoch_table(n_rows, repeats, cases, dtypes, peers, thread_choices):
    """Median epoch seconds per case and library, the ratios and the matmul bound."""
    rows = []
    runners = _available(peers)
    for dtype in dtypes:
        X, y = synthetic_mnist(n_rows, dtype)
        for sizes, batch in cases:
            row = {"net": "-".join(map(str, sizes)), "batch": batch, "dtype": dtype}
            rates = []  # the best rate seen: measured again after every round, as the load changes
            chosen = []
            for make in runners:
                runner = make(sizes, batch, X, y)
                probe_rows = max(batch, n_rows // 5)  # a tenth (best of 2) once chose 1 thread, 12% slower
                probe = lambda k, r=runner, rows=probe_rows: r.epoch(k, rows)
                chosen.append((runner, _best_threads(probe, thread_choices)))
            times = {runner.name: [] for runner, _ in chosen}
            for _ in range(repeats):  # interleaved, so that a change in the machine's load hits every library
                for runner, n in chosen:
                    time.sleep(0.2)  # the previous library's spinning threads park before the next one starts
                    times[runner.name].append(_timed(lambda r=runner, k=n: r.epoch(k)))
                rates += [(matmul_rate(sizes, batch, dtype, n), n) for n in thread_choices]
            rate, bound_threads = max(rates)
            row.update(matmul_gflops=rate / 1e9, matmul_threads=bound_threads,
                       bound_s=matmul_flops(sizes, n_rows) / rate)
            for runner, n in chosen:
                row[runner.name] = statistics.median(times[runner.name])
                row[runner.name + " threads"] = n
                row[runner.name + " rounds"] = times[runner.name]  # every round, for the spread (JSON only)
            del chosen
            tg_s = row["tinygraph"]
            row["bound_fraction"] = row["bound_s"] / tg_s
            for name in ("PyTorch", "scikit-learn"):
                if name in row:  # the median of each round's ratio: a round's runs are seconds apart
                    row[name + " ratio"] = statistics.median(
                        p / t for p, t in zip(times[name], times["tinygraph"], strict=True))
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def _format_row(r) -> str:
    def peer(name):
        if name not in r:
            return "– | –"
        return f"{r[name]:.3f} ({r[name + ' threads']}t) | {r[name + ' ratio']:.2f}×"
    return (f"| {r['net']}, {r['batch']}, {r['dtype']} | {r['tinygraph']:.3f} ({r['tinygraph threads']}t) | "
            f"{peer('PyTorch')} | {peer('scikit-learn')} | {r['bound_s']:.3f} | "
            f"{100 * r['bound_fraction']:.0f}% |")


def _configs(thread_choices) -> dict:
    """How tinygraph may spread a full-batch evaluation: BLAS threads, or row blocks on threads."""
    out = {f"{n}t": {"threads": n} for n in thread_choices}
    if max(thread_choices) > 1:
        out[f"n_jobs={max(thread_choices)}"] = {"n_jobs": max(thread_choices)}
    return out


def _tinygraph_full_batch(X, y, maxiter, repeats, configs, out) -> None:
    """loss_and_grad per way of spreading it, then L-BFGS-B with the fastest, in X's dtype."""
    dtype = X.dtype.name
    model = mlp((784, 25, 10), dtype, hidden="sigmoid")
    model.l2 = 1e-4  # scikit-learn's default alpha: the same penalty alpha/(2m)·ΣW²
    g = np.empty_like(model.theta)

    def lg(kw):
        with threads(kw.get("threads", 1)):
            model.loss_and_grad(model.theta, X, y, out=g, n_jobs=kw.get("n_jobs"), check_input=False)
    for name, kw in configs.items():
        lg(kw)
        out["loss_and_grad_ms"][f"{dtype} {name}"] = 1e3 * statistics.median(
            _timed(lambda k=kw: lg(k)) for _ in range(max(5, repeats)))

    def tg_lbfgs(name, iters):
        model.initialize(0)
        # tol=0: exactly maxiter iterations, like scikit-learn's lbfgs with tol=0 below
        return tg.fit(model, X, y, "L-BFGS-B", maxiter=iters, tol=0.0, **configs[name])
    name = _best_threads(lambda k: tg_lbfgs(k, max(2, maxiter // 10)), list(configs))
    t0 = time.perf_counter()
    res = tg_lbfgs(name, maxiter)
    out[f"tinygraph_{dtype}"] = {"s": time.perf_counter() - t0, "nit": int(res.nit), "how": name,
                                 "loss": float(res.fun)}


def full_batch(n_rows, maxiter, repeats, peers, thread_choices):
    """One loss_and_grad on the MNIST training split, and L-BFGS-B against scikit-learn's lbfgs.

    tinygraph runs in float64 (like scikit-learn, whose lbfgs solver works in float64 only) and,
    on a second line, in float32 (theta and the products in float32, scipy's iterate in float64).
    """
    X, y = tg.datasets.load_mnist()
    Xtr, _, ytr, _ = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    Xtr, ytr = Xtr[:n_rows], ytr[:n_rows]
    out = {"rows": Xtr.shape[0], "maxiter": maxiter, "loss_and_grad_ms": {}}
    configs = _configs(thread_choices)
    for dtype in ("float64", "float32"):
        _tinygraph_full_batch(Xtr.astype(dtype), ytr, maxiter, repeats, configs, out)
    if "sklearn" in peers:
        try:
            from sklearn.neural_network import MLPClassifier
        except ImportError:
            return out
        from sklearn.exceptions import ConvergenceWarning

        def sk_lbfgs(k, iters):
            clf = MLPClassifier(hidden_layer_sizes=(25,), activation="logistic", solver="lbfgs",
                                alpha=1e-4, max_iter=iters, tol=0.0, random_state=0)
            with threads(k), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return clf.fit(Xtr, ytr)
        n = _best_threads(lambda k: sk_lbfgs(k, max(2, maxiter // 10)), thread_choices)
        t0 = time.perf_counter()
        clf = sk_lbfgs(n, maxiter)
        out["sklearn"] = {"s": time.perf_counter() - t0, "nit": int(clf.n_iter_), "how": f"{n}t",
                          "loss": float(clf.loss_)}
        if n != os.cpu_count():  # also what a user gets by default (all BLAS threads)
            t0 = time.perf_counter()
            clf = sk_lbfgs(None, maxiter)
            out["sklearn_default"] = {"s": time.perf_counter() - t0, "nit": int(clf.n_iter_), "how": "default"}
        for dtype in ("float64", "float32"):  # per iteration, in case one of them stopped early
            mine = out[f"tinygraph_{dtype}"]
            for peer in ("sklearn", "sklearn_default"):
                if peer in out:
                    mine[f"{peer}_ratio"] = (out[peer]["s"] / out[peer]["nit"]) / (mine["s"] / mine["nit"])
    return out


def _print_full_batch(fb) -> None:
    lg = ", ".join(f"{v:.1f} ms ({k})" for k, v in fb["loss_and_grad_ms"].items())
    print(f"\nfull batch, {fb['rows']} MNIST rows, 784-25-10 sigmoid/softmax: loss_and_grad {lg}")
    for peer, label in (("sklearn", "its best threads"), ("sklearn_default", "its default threads")):
        if peer in fb:
            r = fb[peer]
            print(f"scikit-learn lbfgs (float64), {label}: {r['s']:.2f} s ({r['nit']} it, {r['how']})")
    for dtype in ("float64", "float32"):
        r = fb[f"tinygraph_{dtype}"]
        ratios = "; ".join(f"{r[p + '_ratio']:.2f}× faster than scikit-learn at {label} threads"
                           for p, label in (("sklearn", "its best"), ("sklearn_default", "its default"))
                           if p + "_ratio" in r)
        print(f"L-BFGS-B, maxiter={fb['maxiter']}, tinygraph {dtype}: {r['s']:.2f} s ({r['nit']} it, "
              f"{r['how']}, loss {r['loss']:.4g})" + (f": {ratios}" if ratios else ""))


def fit_memory(n_rows, sizes=(784, 256, 256, 10), batch=128, dtype="float32", steps=50):
    """Peak memory traced during a minibatch fit, next to the data, theta and one batch's activations."""
    X, y = synthetic_mnist(n_rows, dtype)
    model = mlp(sizes, dtype)
    opt = tg.optim.Adam(1e-3)
    tg.fit(model, X[:batch], y[:batch], opt, batch_size=batch, epochs=1)  # buffers exist; not counted
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tg.fit(model, X, y, opt, batch_size=batch, maxiter=steps, random_state=0)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    item = np.dtype(dtype).itemsize
    act = batch * (sum(sizes[1:-1]) * 2 + sizes[-1] * 3) * item  # Dense out, ReLU out, logits/p/dz
    return {"data_MB": X.nbytes / 1e6, "theta_MB": model.theta.nbytes / 1e6, "activations_MB": act / 1e6,
            "peak_fit_MB": peak / 1e6, "net": "-".join(map(str, sizes)), "batch": batch, "dtype": dtype}


def _quick_start(Xtr, ytr, maxiter, how):
    """The README's Quick start: scipy's L-BFGS-B on ``model.loss_and_grad`` of the 784-25-10 net.
    ``how``: "default" (the Quick start as written, with its ``tg.auto_threads`` line), "numpy"
    (without that line: numpy's and scipy's BLAS at their default threads) or a thread count."""
    import scipy.optimize as so
    model = tg.Sequential([tg.Dense(784, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(), tg.CrossEntropy()],
                          l2=1.0, random_state=0)
    n = tg.auto_threads(model, Xtr) if how == "default" else None if how == "numpy" else how
    with tg.blas_threads(n):
        so.minimize(model.loss_and_grad, model.theta, args=(Xtr, ytr), jac=True, method="L-BFGS-B",
                    options={"maxiter": maxiter})


def default_settings(repeats: int, quick: bool = False) -> list:
    """Seconds of three user workloads with tinygraph's default thread choice against each explicit
    setting (1 thread, every core as BLAS threads, every core as row blocks), on the cores this process
    may use: the median of ``repeats`` interleaved rounds."""
    from sklearn.datasets import load_digits
    n_cores = tg.threads.cores()
    counts = sorted({1, n_cores})
    X, y = tg.datasets.load_mnist()
    Xtr, _, ytr, _ = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    Xd, yd = load_digits(return_X_y=True)
    Xd = Xd / 16.0
    Xa, ya = synthetic_mnist(2000 if quick else 60000, "float32")
    qs_iters, lb_iters = (5, 20) if quick else (50, 200)

    def digits(kw):
        model = tg.Sequential([tg.Dense(64, 32), tg.ReLU(), tg.Dense(32, 10), tg.Softmax(), tg.CrossEntropy()],
                              random_state=0)
        tg.fit(model, Xd, yd, "L-BFGS-B", maxiter=lb_iters, tol=0.0, **kw)

    def adam(kw):
        tg.fit(mlp((784, 256, 256, 10), "float32"), Xa, ya, "adam", batch_size=128, epochs=1, random_state=0, **kw)

    explicit = {f"threads={k}": {"threads": k} for k in counts}
    if n_cores > 1:
        explicit[f"n_jobs={n_cores}"] = {"n_jobs": n_cores}
    cases = [(f"Quick start (scipy L-BFGS-B, {qs_iters} it)",
              {"default": "default", "numpy's threads": "numpy", **{f"threads={k}": k for k in counts}},
              lambda how: _quick_start(Xtr, ytr, qs_iters, how)),
             (f"digits 64-32-10 tg.fit L-BFGS-B ({lb_iters} it)", {"default": {}, **explicit}, digits),
             (f"784-256-256-10 float32 Adam epoch ({Xa.shape[0]} rows)", {"default": {}, **explicit}, adam)]
    rows = []
    for name, settings, run in cases:
        times = {k: [] for k in settings}
        run(settings["default"])  # warm-up: imports, buffers, the first page faults
        labels = list(settings)
        for i in range(repeats):  # each round starts one setting later: no setting always runs first
            for label in labels[i % len(labels):] + labels[:i % len(labels)]:
                time.sleep(0.5)  # the previous setting's spinning threads park before the next starts
                times[label].append(_timed(lambda h=settings[label], r=run: r(h)))
        med = {k: statistics.median(v) for k, v in times.items()}
        fastest = {k: min(v) for k, v in times.items()}  # on a loaded machine the min is steadier
        best = min(v for k, v in med.items() if k not in ("default", "numpy's threads"))
        load = os.getloadavg()[0]
        best_min = min(v for k, v in fastest.items() if k not in ("default", "numpy's threads"))
        rows.append({"case": name, "cores": n_cores, "seconds": med, "default_over_best": med["default"] / best,
                     "min_seconds": fastest, "default_over_best_min": fastest["default"] / best_min, "load": load})
        print(f"| {name} | {n_cores} | " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()) +
              f" | {med['default'] / best:.2f} ({fastest['default'] / best_min:.2f}) | {load:.1f} |", flush=True)
    return rows


def default_settings_on(n_cores: int, repeats: int, quick: bool) -> list:
    """``default_settings`` in a child process pinned to ``n_cores`` cores (BLAS sizes its threads at start)."""
    import subprocess
    import sys
    pinned = sorted(os.sched_getaffinity(0))[:n_cores]
    args = [sys.executable, __file__, "--defaults-only", "--repeats", str(repeats)] + (["--quick"] if quick else [])
    # the child runs examples/benchmark.py as a script: the repository root goes on its path too
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(args, capture_output=True, text=True, check=False, env=env,
                         preexec_fn=lambda: os.sched_setaffinity(0, pinned))
    if out.returncode:
        raise RuntimeError(f"the {n_cores}-core run failed:\n{out.stderr}")
    *table, rows = out.stdout.strip().split("\n")  # the child's table lines, then its rows as JSON
    print("\n".join(table), flush=True)
    return json.loads(rows)


def import_time(repeats: int = 7) -> dict:
    """Seconds of ``import numpy, scipy.optimize`` and then of ``import tinygraph``, each in a fresh
    interpreter (the minimum and median over ``repeats``); and which optional libraries it loaded.
    tinygraph is imported from a byte-compiled copy, as pip installs it (with PYTHONDONTWRITEBYTECODE
    a source tree is compiled again on every import)."""
    import compileall
    import shutil
    import subprocess
    import sys
    import tempfile
    tmp = tempfile.mkdtemp()
    shutil.copytree(Path(tg.__file__).parent, Path(tmp) / "tinygraph")
    compileall.compile_dir(tmp, quiet=1)
    env = {**os.environ, "PYTHONPATH": tmp}
    code = ("import sys, time; t = time.perf_counter(); import numpy, scipy.optimize; t1 = time.perf_counter(); "
            "import tinygraph; t2 = time.perf_counter(); print(t1 - t, t2 - t1, "
            "[m for m in ('sklearn', 'pandas', 'dask', 'matplotlib') if m in sys.modules])")
    base, extra = [], []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=env).stdout
        a, b, loaded = out.split(maxsplit=2)
        base.append(float(a))
        extra.append(float(b))
    shutil.rmtree(tmp)
    res = {"numpy_scipy_min": min(base), "numpy_scipy_median": statistics.median(base),
           "tinygraph_min": min(extra), "tinygraph_median": statistics.median(extra), "loaded": loaded.strip()}
    print(f"import numpy, scipy.optimize: {res['numpy_scipy_min']:.3f} s (min of {repeats}), then "
          f"import tinygraph: {res['tinygraph_min']:.3f} s more (median {res['tinygraph_median']:.3f} s); "
          f"optional libraries loaded: {res['loaded']}")
    return res


def defaults_table(repeats: int, quick: bool = False) -> list:
    """The default thread choice against every explicit setting, on one core and on all of them."""
    print("\n| case | cores | seconds per setting (median) | default / best explicit: medians (minima) "
          "| load after |\n"
          "|---|---|---|---|---|")
    rows = default_settings_on(1, repeats, quick) if tg.threads.cores() > 1 else []
    return rows + default_settings(repeats, quick)


def main(quick: bool = False, repeats: int | None = None, peers=("torch", "sklearn"), cases=None,
         dtypes=DTYPES, defaults: bool | None = None) -> dict:
    """Run everything; ``quick`` uses little data and one thread (a smoke test, not a measurement).
    ``defaults`` (default: unless quick) adds ``defaults_table``: tinygraph's default thread choice
    against every explicit setting, on one core and on all of them."""
    defaults = not quick if defaults is None else defaults
    n_rows = 2000 if quick else 60000
    repeats = (1 if quick else 3) if repeats is None else repeats
    thread_choices = (1,) if quick else (1, 2)
    cases = ([((784, 25, 10), 100), ((784, 64, 64, 10), 128)] if quick else CASES) if cases is None else cases
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(f"one epoch of Adam, {n_rows} rows, median of {repeats}; load average {load:.1f} "
          f"on {os.cpu_count()} cores")
    print("| net, batch, dtype | tinygraph s | PyTorch s | PyTorch/tg | scikit-learn s | sklearn/tg "
          "| matmul bound s | tg % of bound |\n|---|---|---|---|---|---|---|---|")
    results = {"rows": n_rows, "repeats": repeats, "load_before": load,
               "epochs": epoch_table(n_rows, repeats, cases, dtypes, peers, thread_choices)}
    fb = full_batch(1000 if quick else 8000, 10 if quick else 200, repeats, peers, thread_choices)
    results["full_batch"] = fb
    _print_full_batch(fb)
    mem = fit_memory(n_rows, steps=10 if quick else 50)
    results["memory"] = mem
    print(f"peak memory of a fit ({mem['net']}, batch {mem['batch']}, {mem['dtype']}): "
          f"{mem['peak_fit_MB']:.1f} MB above the data ({mem['data_MB']:.0f} MB); theta "
          f"{mem['theta_MB']:.2f} MB, one batch's activations {mem['activations_MB']:.2f} MB")
    if defaults:
        results["defaults"] = defaults_table(repeats, quick)
    results["import"] = import_time(3 if quick else 7)
    results["load_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(f"load average after: {results['load_after']:.1f}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / ("benchmark_quick.json" if quick else "benchmark.json")).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repeat (smoke test)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--case", type=int, action="append", help="only CASES[i] (repeatable)")
    parser.add_argument("--dtype", action="append", choices=DTYPES)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--defaults", action="store_true",
                        help="only the default thread choice against explicit settings, on 1 and all cores")
    parser.add_argument("--defaults-only", action="store_true", help=argparse.SUPPRESS)  # one child run
    parser.add_argument("--import-time", action="store_true", help="only the import time of tinygraph")
    parser.add_argument("--cpu-time", action="store_true",
                        help="only the epoch table, every library on one thread, timed by CPU time")
    a = parser.parse_args()
    if a.cpu_time:
        CLOCK = time.thread_time
        print(f"one epoch of Adam, 60000 rows, one thread, CPU seconds, median of {a.repeats or 3}; "
              f"load average {os.getloadavg()[0]:.1f}")
        rows = epoch_table(60000, a.repeats or 3, CASES if a.case is None else [CASES[i] for i in a.case],
                           a.dtype or DTYPES, () if a.no_peers else ("torch", "sklearn"), (1,))
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "benchmark_cpu_time.json").write_text(json.dumps(rows, indent=1))
        raise SystemExit
    if a.defaults_only:
        print(json.dumps(default_settings(a.repeats or 3, a.quick)))
        raise SystemExit
    if a.import_time:
        import_time()
        raise SystemExit
    if a.defaults:
        rows = defaults_table(a.repeats or 3, a.quick)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "benchmark_defaults.json").write_text(json.dumps(rows, indent=1))
        raise SystemExit
    main(quick=a.quick, repeats=a.repeats, peers=() if a.no_peers else ("torch", "sklearn"),
         cases=None if a.case is None else [CASES[i] for i in a.case], dtypes=a.dtype or DTYPES)
