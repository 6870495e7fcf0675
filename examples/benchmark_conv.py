"""One LeNet training step at batch 64, tinygraph against PyTorch CPU, side by side in one run.

A step is forward + backward + an SGD update (tinygraph: ``loss_and_grad`` into ``model.grad``
and ``optim.SGD.step``; PyTorch: ``zero_grad``, forward, ``cross_entropy``, ``backward``,
``optim.SGD.step``) on the same weights and the same batch of bundled MNIST digits, in float32 and
float64, with 1 thread and with every core (``threadpoolctl`` for numpy's BLAS,
``torch.set_num_threads`` for PyTorch). The two frameworks alternate in rounds, so a noisy neighbour
hurts both alike; the table shows medians over all steps, and the ratio of tinygraph's better
variant to PyTorch. With several threads tinygraph is timed twice: BLAS on every thread, and the
batch split into row blocks on the threads (``n_jobs``, as ``tg.fit(n_jobs=2)``), BLAS on one each.

Peak memory per step: each framework in a fresh subprocess (one thread), the peak resident set
over its first 5 steps minus what the process held before them (model and data excluded; Linux,
the peak reset through /proc/self/clear_refs): tinygraph's figure is mostly the buffers it keeps
and reuses, PyTorch's its activations saved for backward and its allocator.

``--tricks`` also times the conv-layer alternatives one by one (``tricks()``).

    PYTHONPATH=. python examples/benchmark_conv.py [--tricks]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tinygraph as tg
from models.lenet import lenet_net

BATCH = 64


def batch(dtype) -> tuple:
    X, y = tg.datasets.load_mnist(dtype=dtype)
    return X[:BATCH].reshape(BATCH, 1, 28, 28), y[:BATCH]


def torch_lenet(model, dtype):
    """PyTorch's LeNet with tinygraph's weights (the same layout for conv; Dense W is transposed)."""
    import torch
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    net = net.to(tdt)
    ours = [n for n in model.nodes if n.size]
    with torch.no_grad():
        for layer, node in zip([m for m in net if sum(p.numel() for p in m.parameters())], ours):
            W = node.W if isinstance(node, tg.Conv2D) else node.W.T
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            layer.bias.copy_(torch.from_numpy(node.b.copy()))
    return net


def steppers(dtype, lr: float = 0.01, n_jobs: int | None = None) -> tuple:
    """(tinygraph step, PyTorch step or None) on one batch, same weights; ``n_jobs`` splits
    tinygraph's batch into row blocks on that many threads (``loss_and_grad(n_jobs=...)``)."""
    X, y = batch(dtype)
    model = lenet_net(random_state=0, dtype=dtype)
    X, y, _ = model._check_data(X, y, None)  # checked once, as tg.fit does per batch
    sgd = tg.optim.SGD(lr)

    def ours():
        model.loss_and_grad(model.theta, X, y, out=model.grad, check_input=False, n_jobs=n_jobs)
        sgd.step(model.theta, model.grad)

    try:
        import torch
    except ImportError:
        return ours, None
    net = torch_lenet(model, dtype)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def theirs():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()

    return ours, theirs


def set_threads(n: int):
    from threadpoolctl import threadpool_limits
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass
    return threadpool_limits(n)


def time_steps(dtype, threads: int, rounds: int = 5, steps: int = 10) -> dict:
    """Median seconds per step, the contenders alternating in ``rounds`` of ``steps`` steps each.

    With several threads tinygraph runs twice: BLAS on ``threads`` threads, and as ``tg.fit(n_jobs=)``
    does it, the batch in ``threads`` row blocks on threads with BLAS on one thread each.
    """
    from threadpoolctl import threadpool_limits

    with set_threads(threads):
        ours, theirs = steppers(dtype)
        contenders = [("tinygraph", ours, threads), ("pytorch", theirs, threads)]
        if threads > 1:
            contenders.append(("tinygraph_jobs", steppers(dtype, n_jobs=threads)[0], 1))
        contenders = [c for c in contenders if c[1] is not None]
        times = {name: [] for name, _, _ in contenders}
        for _ in range(2):  # warm-up: buffers, replicas, allocator caches
            for _, fn, blas in contenders:
                with threadpool_limits(blas):
                    fn()
        for _ in range(rounds):
            for name, fn, blas in contenders:
                with threadpool_limits(blas):
                    for _ in range(steps):
                        t0 = time.perf_counter()
                        fn()
                        times[name].append(time.perf_counter() - t0)
    out = {"tinygraph": np.nan, "pytorch": np.nan, "tinygraph_jobs": np.nan}
    out.update({k: float(np.median(v)) for k, v in times.items()})
    return out


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(framework: str, dtype_name: str) -> None:
    """Run in a subprocess: print the peak resident memory over 5 steps of one framework beyond
    the memory held before them (Linux: the peak is reset through /proc/self/clear_refs)."""
    dtype = np.dtype(dtype_name).type
    with set_threads(1):
        ours, theirs = steppers(dtype)
        fn = ours if framework == "tinygraph" else theirs
        before = _status_mib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS: the data loading's peak no longer counts
        for _ in range(5):
            fn()
        print(json.dumps({"peak_mib": _status_mib("VmHWM") - before}))


def peak_memory(framework: str, dtype) -> float:
    out = subprocess.run([sys.executable, __file__, "--memory", framework, np.dtype(dtype).name],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def main(rounds: int = 5, steps: int = 10, dtypes=(np.float32, np.float64), thread_counts=None,
         memory: bool = True, verbose: bool = True) -> list:
    """The table rows: dtype, threads, ms per step for each framework, the ratio, peak MiB."""
    thread_counts = thread_counts or sorted({1, os.cpu_count() or 1})
    rows = []
    for dtype in dtypes:
        mem = {f: peak_memory(f, dtype) for f in ("tinygraph", "pytorch")} if memory else {}
        for threads in thread_counts:
            t = time_steps(dtype, threads, rounds, steps)
            best = np.nanmin([t["tinygraph"], t["tinygraph_jobs"]])
            rows.append({"dtype": np.dtype(dtype).name, "threads": threads, "tinygraph_ms": 1e3 * t["tinygraph"],
                         "tinygraph_jobs_ms": 1e3 * t["tinygraph_jobs"], "pytorch_ms": 1e3 * t["pytorch"],
                         "ratio": best / t["pytorch"],
                         "tinygraph_mib": mem.get("tinygraph", float("nan")),
                         "pytorch_mib": mem.get("pytorch", float("nan"))})
    if verbose:
        print(format_table(rows))
    return rows


def format_table(rows: list) -> str:
    lines = [("| dtype | threads | tinygraph ms/step (BLAS threads) | tinygraph ms/step (n_jobs row blocks) "
              "| PyTorch ms/step | best tinygraph / PyTorch | peak MiB/step tinygraph | peak MiB/step PyTorch |"),
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        jobs = "–" if np.isnan(r["tinygraph_jobs_ms"]) else f"{r['tinygraph_jobs_ms']:.1f}"
        lines.append(f"| {r['dtype']} | {r['threads']} | {r['tinygraph_ms']:.1f} | {jobs} | {r['pytorch_ms']:.1f} | "
                     f"{r['ratio']:.2f} | {r['tinygraph_mib']:.1f} | {r['pytorch_mib']:.1f} |")
    return "\n".join(lines)


def _median_ms(fn, repeats: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _trick_cases(dtype) -> dict:
    """name -> (baseline, ours): each a zero-argument function, on LeNet's second conv and first pool."""
    from numpy.lib.stride_tricks import sliding_window_view

    rng = np.random.default_rng(0)
    N, C, H, O, k = BATCH, 20, 12, 50, 5
    Ho, K = H - k + 1, C * k * k
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    dy = rng.standard_normal((N, O, Ho, Ho)).astype(dtype)
    W2 = rng.standard_normal((O, K)).astype(dtype)
    conv = tg.Sequential([tg.Conv2D(O, k)], input_shape=(C, H, H), dtype=dtype).nodes[1]
    conv.W.reshape(O, -1)[...] = W2

    i0, j0 = np.repeat(np.arange(k), k), np.tile(np.arange(k), k)  # cs231n's fancy-index im2col
    rows = (np.repeat(np.arange(Ho), Ho)[None, :] + np.tile(i0, C)[:, None])
    cols_ = (np.tile(np.arange(Ho), Ho)[None, :] + np.tile(j0, C)[:, None])
    chan = np.repeat(np.arange(C), k * k)[:, None]
    fancy = lambda: x[:, chan, rows, cols_]

    def window_copy():  # sliding_window_view, one copy, rows (N·Ho·Wo, C·kh·kw)
        return np.ascontiguousarray(sliding_window_view(x, (k, k), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5))

    def ours_im2col():
        return conv._im2col(x, "cols")

    def channels_last_step():  # rows layout: GEMMs on (N·P, K), outputs transposed to NCHW
        cols = window_copy().reshape(N * Ho * Ho, K)
        Y = cols @ W2.T
        np.ascontiguousarray(Y.reshape(N, Ho, Ho, O).transpose(0, 3, 1, 2))
        d = np.ascontiguousarray(dy.transpose(0, 2, 3, 1)).reshape(-1, O)
        d.T @ cols
        return d @ W2

    def ours_step():
        conv.forward(x)
        conv.backward(dy)

    dcols = rng.standard_normal((N, Ho, Ho, C, k, k)).astype(dtype)
    ii = (np.arange(Ho)[:, None, None, None, None] + np.arange(k)[None, None, None, :, None])
    jj = (np.arange(Ho)[None, :, None, None, None] + np.arange(k)[None, None, None, None, :])
    cc = np.arange(C)[None, None, :, None, None]

    def add_at():
        dx = np.zeros((N, H, H, C), dtype)
        np.add.at(dx, (slice(None), np.broadcast_to(ii, dcols.shape[1:]), np.broadcast_to(jj, dcols.shape[1:]),
                       np.broadcast_to(cc, dcols.shape[1:])), dcols)
        return dx

    inner = conv._internal(N, "cols", K, (Ho, Ho)).reshape(K, -1)
    ours_col2im = lambda: conv._col2im(inner, N, "dx")

    def dW_recompute():
        np.matmul(conv._to_inner(dy, "dyt"), conv._im2col(x, "cols").T, out=conv.dW.reshape(O, -1))

    def dW_cached():
        np.matmul(conv._to_inner(dy, "dyt"), conv.cols.T, out=conv.dW.reshape(O, -1))

    conv.forward(x)
    p = rng.standard_normal((N, C, 24, 24)).astype(dtype)

    def pool_reshape():  # max and first-argmax masks from a (…, 4) window copy
        w = np.ascontiguousarray(p.reshape(N, C, 12, 2, 12, 2).transpose(0, 1, 2, 4, 3, 5)).reshape(N, C, 12, 12, 4)
        arg = w.argmax(axis=-1)
        return w.max(axis=-1), arg[..., None] == np.arange(4)

    pool = tg.Sequential([tg.MaxPool2D(2)], input_shape=(C, 24, 24), dtype=dtype).nodes[1]
    layouts = {name: _layout_step(dtype, *shapes) for name, shapes in
               (("conv1", ((1, 28, 28), 20, (N, 20, 24, 24))), ("conv2", ((C, H, H), O, dy.shape)))}
    return {
        "im2col (conv2): fancy index vs kernel-offset loop, batch-last": (fancy, ours_im2col),
        "im2col (conv2): sliding_window_view + one copy to rows (N·Ho·Wo, C·kh·kw) vs kernel-offset loop": (window_copy, ours_im2col),
        "conv2 forward+backward: channels-last rows vs batch-last GEMMs": (channels_last_step, ours_step),
        "col2im (conv2): np.add.at vs strided += per kernel offset": (add_at, ours_col2im),
        "dW (conv2): recompute columns vs cached columns": (dW_recompute, dW_cached),
        "max-pool 2×2 (pool1) forward: reshape + argmax vs offset loop": (pool_reshape, lambda: pool.forward(p)),
        "conv1 (24×24 out) forward+backward: batch-last vs batch-outer": layouts["conv1"][::-1],
        "conv2 (8×8 out) forward+backward: batch-outer vs batch-last": layouts["conv2"],
    }


def _layout_step(dtype, in_shape, out_channels, dy_shape) -> tuple:
    """(batch-outer, batch-last) forward+backward of one LeNet conv layer, dx included."""
    from tinygraph.nodes import conv as conv_module

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *in_shape)).astype(dtype)
    dy = rng.standard_normal(dy_shape).astype(dtype)
    steps = []
    for below in (0, 10 ** 9):  # the output-size threshold under which the batch goes last
        saved, conv_module.BATCH_LAST_BELOW = conv_module.BATCH_LAST_BELOW, below
        try:
            node = tg.Sequential([tg.Conv2D(out_channels, 5)], input_shape=in_shape, dtype=dtype).nodes[1]
        finally:
            conv_module.BATCH_LAST_BELOW = saved
        node.need_dx = True

        def step(node=node):
            node.forward(x)
            node.backward(dy)

        steps.append(step)
    return tuple(steps)


def tricks(dtypes=(np.float32, np.float64), verbose: bool = True) -> list:
    """Each trick against its alternative, one BLAS thread, ms (median of 15)."""
    rows = []
    with set_threads(1):
        for dtype in dtypes:
            for name, (base, ours) in _trick_cases(dtype).items():
                rows.append({"trick": name, "dtype": np.dtype(dtype).name, "baseline_ms": _median_ms(base),
                             "ours_ms": _median_ms(ours)})
            rows.append(_buffers_row(dtype))
    if verbose:
        print("| trick (baseline vs kept) | dtype | baseline ms | kept ms |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['trick']} | {r['dtype']} | {r['baseline_ms']:.2f} | {r['ours_ms']:.2f} |")
    return rows


def _buffers_row(dtype) -> dict:
    """A whole LeNet step with every Node.buffer freshly allocated vs reused across steps."""
    ours, _ = steppers(dtype)
    kept = _median_ms(ours, 31)
    original = tg.Node.buffer
    tg.Node.buffer = lambda self, key, shape, dtype=None: np.empty(shape, self.dtype if dtype is None else dtype)
    try:
        fresh = _median_ms(ours, 31)
    finally:
        tg.Node.buffer = original
    return {"trick": "LeNet step: fresh arrays every step vs buffers reused", "dtype": np.dtype(dtype).name,
            "baseline_ms": fresh, "ours_ms": kept}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        memory_child(sys.argv[2], sys.argv[3])
    else:
        main()
        if "--tricks" in sys.argv:
            tricks()
