"""Forward + backward of each activation against PyTorch's, side by side from one run.
===================================================================================

X and dY are (n, d) standard normal draws; one timing is ``forward(X)`` then ``backward(dY)`` (ours)
or the function and ``torch.autograd.grad`` (PyTorch, one intra-op thread, as we run numpy with one
BLAS thread: elementwise numpy is single-threaded anyway). Median and best of ``repeats`` runs, ms.
Run: ``python examples/benchmark_activations.py``; on a machine shared with other jobs,
``python examples/benchmark_activations.py --cpu-time`` times by this thread's CPU time instead of
the wall clock (both libraries run on this one thread), which waiting for a core does not inflate.
"""
import argparse
import os
import time

import numpy as np

import tinygraph as tg

NODES = {
    "ReLU": (tg.ReLU, "relu"),
    "LeakyReLU": (tg.LeakyReLU, "leaky_relu"),
    "ELU": (tg.ELU, "elu"),
    "Softplus": (tg.Softplus, "softplus"),
    "GELU": (tg.GELU, "gelu"),
    "GELU tanh": (lambda: tg.GELU("tanh"), "gelu_tanh"),
    "Sigmoid": (tg.Sigmoid, "sigmoid"),
    "Tanh": (tg.Tanh, "tanh"),
    "LogSoftmax": (tg.LogSoftmax, "log_softmax"),
}


def _times_ms(f, repeats, clock=time.perf_counter):
    """(median, best) of ``repeats`` timings: on a shared machine the best shows the cost itself."""
    f()
    times = []
    for _ in range(repeats):
        t0 = clock()
        f()
        times.append(clock() - t0)
    return 1e3 * float(np.median(times)), 1e3 * min(times)


def _torch_function(torch, key):
    F = torch.nn.functional
    if key == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if key == "log_softmax":
        return lambda x: F.log_softmax(x, dim=1)
    return getattr(torch, key) if key in ("tanh", "sigmoid") else getattr(F, key)


def main(n=4000, d=256, repeats=7, dtypes=("float32", "float64"), cpu_time=False) -> dict:
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    results = {}
    clock = time.thread_time if cpu_time else time.perf_counter
    print(f"forward + backward, ({n}, {d}), {repeats} runs, {'CPU' if cpu_time else 'wall'} ms: median (best); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'dtype':8} {'node':11} {'tinygraph':>15} {'PyTorch':>15} {'ratio':>11}")
    for dtype in dtypes:
        x, dy = (rng.standard_normal((n, d)).astype(dtype) for _ in range(2))
        for name, (make, key) in NODES.items():
            model = tg.Sequential([make()], input_shape=d, dtype=dtype)
            node = model.layers[0]
            model.forward(x[:2])  # binds the node's dtype

            def ours(node=node, x=x, dy=dy):
                node.forward(x)
                node.backward(dy)

            mine = _times_ms(ours, repeats, clock)
            peer = None
            if torch is not None:
                f, xt, dyt = _torch_function(torch, key), torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

                def theirs(f=f, xt=xt, dyt=dyt):
                    torch.autograd.grad(f(xt), xt, dyt)

                peer = _times_ms(theirs, repeats, clock)
            results[dtype, name] = (mine, peer)
            tail = "" if peer is None else (f" {peer[0]:7.2f} ({peer[1]:5.2f})"
                                            f" {mine[0] / peer[0]:4.2f} ({mine[1] / peer[1]:4.2f})")
            print(f"{dtype:8} {name:11} {mine[0]:7.2f} ({mine[1]:5.2f}){tail}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true", help="time by this thread's CPU time")
    args = parser.parse_args()
    main(repeats=args.repeats, cpu_time=args.cpu_time)
