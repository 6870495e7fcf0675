"""LeNet out to ONNX and a PyTorch LeNet in: onnxruntime runs ours, L-BFGS-B fine-tunes theirs.
==============================================================================================

Part 1 trains Caffe's LeNet (``models.lenet``) with Adam on 8,000 of the bundled digits, writes it
with ``tg.to_onnx`` (float32) and runs the 2,000 held-out digits through onnxruntime and through
``model.predict``: the classes must agree on every digit. Both are timed on the same batch,
interleaved, best of several runs (a shared machine inflates absolute times; the ratio is the
figure to read).

Part 2 builds a LeNet in PyTorch (with BatchNorm), exports it with ``torch.onnx.export``, reads it
with ``tg.from_onnx(loss="cross-entropy")`` and fine-tunes it full batch with scipy's L-BFGS-B,
every gradient from tinygraph's hand-written backward passes. It needs PyTorch (skipped without).

    PYTHONPATH=. python examples/onnx_roundtrip.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the models package at the root

import tinygraph as tg
from models.lenet import lenet_net


def load(n_train: int | None = None, n_test: int | None = None) -> tuple:
    """The bundled digits as float32 images (N, 1, 28, 28), split 8,000 / 2,000 (seed 0)."""
    X, y = tg.datasets.load_mnist(dtype=np.float32)
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X.reshape(-1, 1, 28, 28), y, test_size=2000,
                                                      random_state=0)
    return Xtr[:n_train], Xte[:n_test], ytr[:n_train], yte[:n_test]


def best_of(fns: dict, repeats: int) -> dict:
    """Best wall time of each callable, the calls interleaved (so load changes hit all alike)."""
    best = dict.fromkeys(fns, np.inf)
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def export_and_run(model, Xte, path: str, repeats: int, verbose: bool) -> dict:
    import onnxruntime as ort
    tg.to_onnx(model, path, dtype=np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the same single thread as tinygraph's BLAS here
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    ours = model.predict(Xte)
    theirs = session.run(None, {"input": Xte})[0].argmax(axis=1)
    times = best_of({"tinygraph": lambda: model.forward(Xte),
                     "onnxruntime": lambda: session.run(None, {"input": Xte})}, repeats)
    out = {"agree": float((ours == theirs).mean()), "file_bytes": os.path.getsize(path),
           "tinygraph_s": times["tinygraph"], "onnxruntime_s": times["onnxruntime"]}
    if verbose:
        print(f"ONNX file: {out['file_bytes']:,} bytes; classes agree on {out['agree']:.2%} of {len(Xte):,} digits")
        print(f"forward of {len(Xte):,} digits, best of {repeats}: tinygraph {out['tinygraph_s'] * 1e3:.1f} ms, "
              f"onnxruntime {out['onnxruntime_s'] * 1e3:.1f} ms "
              f"(ratio {out['tinygraph_s'] / out['onnxruntime_s']:.2f}; load average "
              f"{os.getloadavg()[0]:.1f})")
    return out


def torch_lenet(channels: tuple, hidden: int):
    """Caffe's LeNet in PyTorch, with BatchNorm after each convolution (in eval mode when exported)."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    c1, c2 = channels
    net = nn.Sequential(nn.Conv2d(1, c1, 5), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(c1, c2, 5), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(c2 * 4 * 4, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    return net.float().eval()  # float32 whatever torch's default dtype is


def import_and_fine_tune(Xtr, ytr, Xte, yte, path: str, channels, hidden, rows: int, maxiter: int,
                         verbose: bool) -> dict:
    import torch
    net = torch_lenet(channels, hidden)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own progress notes
        torch.onnx.export(net, (torch.from_numpy(Xte[:2]),), path, input_names=["x"], dynamo=True,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    model = tg.from_onnx(path, loss="cross-entropy")
    with torch.no_grad():
        logits = net(torch.from_numpy(Xte)).numpy()
    probs = model.predict_proba(Xte)
    same = float((probs.argmax(axis=1) == logits.argmax(axis=1)).mean())
    before = model.score(Xte, yte)
    t0 = time.perf_counter()
    res = tg.fit(model, Xtr[:rows], ytr[:rows], "L-BFGS-B", maxiter=maxiter)
    out = {"torch_agree": same, "imported_accuracy": before, "fine_tuned_accuracy": model.score(Xte, yte),
           "lbfgs_s": time.perf_counter() - t0, "lbfgs_loss": float(res.fun), "nodes": len(model.nodes)}
    if verbose:
        print(f"PyTorch LeNet read back as {[type(n).__name__ for n in model.nodes]}; its classes agree with "
              f"PyTorch's on {same:.2%} of {len(Xte):,} digits")
        print(f"L-BFGS-B, {maxiter} iterations on {rows:,} digits: held-out accuracy {before:.4f} -> "
              f"{out['fine_tuned_accuracy']:.4f} ({out['lbfgs_s']:.1f} s)")
    return out


def main(epochs: int = 1, batch_size: int = 64, n_train: int | None = None, n_test: int | None = None,
         channels: tuple = (20, 50), hidden: int = 500, repeats: int = 5, lbfgs_rows: int = 2000,
         lbfgs_maxiter: int = 50, verbose: bool = True) -> dict:
    """Part 1 (train, export, time) and part 2 (import, fine-tune); returns the figures printed."""
    Xtr, Xte, ytr, yte = load(n_train, n_test)
    model = lenet_net(channels=channels, hidden=hidden, random_state=0, dtype=np.float32)
    t0 = time.perf_counter()
    with tg.blas_threads(1):
        tg.fit(model, Xtr, ytr, tg.optim.Adam(1e-3), batch_size=batch_size, epochs=epochs, random_state=0)
        out = {"adam_s": time.perf_counter() - t0, "accuracy": model.score(Xte, yte)}
        if verbose:
            print(f"LeNet {channels}, Adam, {epochs} epoch(s) on {len(Xtr):,} digits: held-out accuracy "
                  f"{out['accuracy']:.4f} ({out['adam_s']:.1f} s)")
        with tempfile.TemporaryDirectory() as d:
            out.update(export_and_run(model, Xte, os.path.join(d, "lenet.onnx"), repeats, verbose))
            try:
                import torch  # noqa: F401
            except ImportError:
                if verbose:
                    print("PyTorch is not installed: the import half is skipped")
                return out
            out.update(import_and_fine_tune(Xtr, ytr, Xte, yte, os.path.join(d, "torch_lenet.onnx"), channels,
                                            hidden, lbfgs_rows, lbfgs_maxiter, verbose))
    return out


if __name__ == "__main__":
    main()
