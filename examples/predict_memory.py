"""Memory of evaluation: LeNet predicting the bundled digits, tinygraph against PyTorch (float64, no_grad).
===========================================================================================================

Each figure comes from a fresh process reading its own resident memory (Linux ``/proc``): the peak
during the calls above what was resident before them (the peak is reset first), and what stays
resident after them. Cases: one ``predict`` on ``rows`` digits, and four ``predict`` calls on 500,
499, 498 and 497 digits in turn (one set of buffers per batch shape, if a model kept them).

    python examples/predict_memory.py              # 10,000 digits
    python examples/predict_memory.py --rows 2000 --no-torch
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROBE = r"""
import json, sys
import numpy as np

def rss():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}

peer, rows, case = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import tinygraph as tg
X = tg.datasets.load_mnist()[0][:rows].reshape(-1, 1, 28, 28)
if peer == "tinygraph":
    import models
    model = models.lenet_net(random_state=0)
    predict = model.predict
else:
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 20, 5), torch.nn.MaxPool2d(2), torch.nn.Conv2d(20, 50, 5),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(800, 500),
                              torch.nn.ReLU(), torch.nn.Linear(500, 10), torch.nn.Softmax(dim=1)).double().eval()
    def predict(X):
        with torch.no_grad():
            return net(torch.from_numpy(X)).argmax(1).numpy()
sizes = [rows] if case == "once" else [500, 499, 498, 497]
predict(X[:8])  # first-call allocations of either library are not what is measured
traced = peer == "tinygraph" and len(sys.argv) > 4  # numpy's own count of the arrays it holds
if traced:
    import tracemalloc
    tracemalloc.start()
before = rss()["VmRSS"]
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
for n in sizes:
    out = predict(X[:n])
del out
after = rss()
result = {"peak": after["VmHWM"] - before, "kept": after["VmRSS"] - before}
if traced:
    result["arrays_held"], result["arrays_peak"] = tracemalloc.get_traced_memory()
print(json.dumps(result))
"""


def measure(peer: str, rows: int, case: str, root: str = ROOT) -> dict:
    """{"peak", "kept"} in bytes (tinygraph also "arrays_held", "arrays_peak": numpy's arrays by
    tracemalloc, in a second process), from a fresh process with one BLAS/OpenMP thread, running the
    tinygraph found at ``root``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": root + os.pathsep + ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(*extra):
        # cwd=root: ``python -c`` puts the working directory first on sys.path
        out = subprocess.run([sys.executable, "-c", _PROBE, peer, str(rows), case, *extra], env=env, cwd=root,
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    result = run()
    if peer == "tinygraph":  # tracemalloc slows numpy down and adds its own memory: a run of its own
        traced = run("traced")
        result.update(arrays_held=traced["arrays_held"], arrays_peak=traced["arrays_peak"])
    return result


def main(rows: int = 10_000, torch: bool = True, root: str = ROOT, cases=("once", "shapes")) -> dict:
    """Print and return {case: {peer: {"peak", "kept"}}}, bytes above the resident memory before the calls."""
    peers = ["tinygraph"] + (["torch"] if torch and importlib.util.find_spec("torch") is not None else [])
    results = {}
    print(f"LeNet (20-50 5x5 convolutions, 500 hidden), float64, MB above the memory before the calls; "
          f"load average {os.getloadavg()[0]:.1f}")
    labels = {"once": f"predict {rows:,} digits", "shapes": "predict 500, 499, 498, 497"}
    for case, label in ((case, labels[case]) for case in cases):
        results[case] = {peer: measure(peer, rows, case, root) for peer in peers}
        cells = "  ".join(f"{peer}: peak {r['peak'] / 2**20:7.1f}, kept {r['kept'] / 2**20:6.1f}"
                          + (f" (arrays: peak {r['arrays_peak'] / 2**20:.1f}, held {r['arrays_held'] / 2**20:.1f})"
                             if "arrays_held" in r else "")
                          for peer, r in results[case].items())
        print(f"{label:30s} {cells}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--root", default=ROOT, help="the checkout whose tinygraph runs (default: this one)")
    args = parser.parse_args()
    main(args.rows, torch=not args.no_torch, root=os.path.abspath(args.root))
