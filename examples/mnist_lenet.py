"""Caffe's LeNet on the bundled MNIST digits: Adam on minibatches, then L-BFGS-B through scipy.
============================================================================================

The 10,000 bundled digits are split 8,000 / 2,000 with a fixed seed; LeNet (``models.lenet``:
conv 20@5×5 → max-pool → conv 50@5×5 → max-pool → Dense 500 → ReLU → Dense 10) trains with Adam
1e-3, batch 64, 12 epochs (a progress bar per epoch) and reports its held-out accuracy. PyTorch
with the same net and settings reaches 97.8–98.3% on such a split. Then a fresh LeNet trains
full batch with scipy's L-BFGS-B on a subset of the training digits, the same objective
``loss_and_grad`` that scipy.optimize.minimize(jac=True) takes.

    PYTHONPATH=. python examples/mnist_lenet.py

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 6 minutes at its full settings); this is the output of
``python examples/mnist_lenet.py``, recorded on a 2-core machine shared with other jobs (load average
4-12), so the seconds are inflated and noisy::

    LeNet (431,080 parameters), Adam 1e-3, batch 64, 12 epochs on 8,000 digits, float32:
    held-out accuracy after each epoch: 0.949 0.960 0.975 0.977 0.977 0.980 0.978 0.981 0.981 0.981 0.982 0.980
    final held-out accuracy 0.9800 (2,000 digits), 129-207 s
    L-BFGS-B (scipy, full batch, float64) on 1,000 of the training digits: stopped after 42 of at most
    100 iterations, held-out accuracy 0.9175, 174 s
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the models package at the root

import tinygraph as tg
from models.lenet import TRAINING, lenet_net


def load(n_train: int | None = None, n_test: int | None = None, dtype=np.float32) -> tuple:
    """The bundled digits as images (N, 1, 28, 28), split 8,000 / 2,000 (seed 0)."""
    X, y = tg.datasets.load_mnist(dtype=dtype)
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X.reshape(-1, 1, 28, 28), y, test_size=2000,
                                                      random_state=0)
    return Xtr[:n_train], Xte[:n_test], ytr[:n_train], yte[:n_test]


def main(epochs: int = TRAINING["epochs"], batch_size: int = TRAINING["batch_size"], lr: float = 1e-3,
         n_train: int | None = None, n_test: int | None = None, lbfgs_rows: int = 1000,
         lbfgs_maxiter: int = 100, dtype=np.float32, threads: int | None = 1, progress: bool = True,
         verbose: bool = True, **net_kwargs) -> dict:
    """Train LeNet with Adam, then a fresh one with L-BFGS-B on ``lbfgs_rows`` digits (0: skip).

    Returns the held-out accuracies and wall times. ``n_train``/``n_test`` cut the split (tests);
    ``net_kwargs`` go to ``lenet_net`` (e.g. smaller ``channels`` for a quick run). ``threads``: BLAS
    threads (on a shared 2-core machine a second BLAS thread made steps up to 8× slower).
    """
    Xtr, Xte, ytr, yte = load(n_train, n_test, dtype)
    model = lenet_net(random_state=0, dtype=dtype, **net_kwargs)
    opt = tg.optim.Adam(lr)
    t0 = time.perf_counter()
    for epoch in range(epochs):  # one fit per epoch: a progress bar each, the same run as one fit
        res = tg.fit(model, Xtr, ytr, opt, batch_size=batch_size, epochs=epoch + 1, initial_epoch=epoch,
                     random_state=TRAINING["random_state"], progress=progress, threads=threads)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: last minibatch loss {res.fun:.4f}, "
                  f"held-out accuracy {model.score(Xte, yte):.4f}", flush=True)
    out = {"adam_accuracy": model.score(Xte, yte), "adam_time_s": time.perf_counter() - t0,
           "adam_loss": res.fun, "steps": opt.t}
    if verbose:
        print(f"LeNet, Adam {lr:g}, batch {batch_size}, {epochs} epochs on {len(Xtr):,} digits "
              f"({np.dtype(dtype).name}): held-out accuracy {out['adam_accuracy']:.4f} on {len(Xte):,} "
              f"digits, {out['adam_time_s']:.1f} s")
    if lbfgs_rows:
        scipy_model = lenet_net(random_state=0, dtype=np.float64, **net_kwargs)
        t0 = time.perf_counter()
        res = tg.fit(scipy_model, Xtr[:lbfgs_rows], ytr[:lbfgs_rows], "L-BFGS-B", maxiter=lbfgs_maxiter,
                     threads=threads)
        out.update(lbfgs_accuracy=scipy_model.score(Xte, yte), lbfgs_time_s=time.perf_counter() - t0,
                   lbfgs_iterations=res.nit)
        if verbose:
            print(f"LeNet, L-BFGS-B (scipy, full batch, float64), {res.nit} iterations on "
                  f"{min(lbfgs_rows, len(Xtr)):,} digits: held-out accuracy {out['lbfgs_accuracy']:.4f}, "
                  f"{out['lbfgs_time_s']:.1f} s")
    return out


if __name__ == "__main__":
    main()
