"""The main demo: MNIST 784-25-10 trained by scipy.optimize.minimize on the bundled digits.
========================================================================================

The course's net (sigmoid hidden layer, sigmoid outputs, the course cross-entropy with l2) on the
10,000-digit MNIST test set shipped with tinygraph, split 8,000 train / 2,000 held out (seed 0).
Each scipy method gets ``model.loss_and_grad`` with ``jac=True``: one forward and one backward pass
per evaluation, its rows split over every core (``n_jobs=-1``) while BLAS keeps to one thread: the
choice ``tg.fit`` makes itself for this net (``tg.threads.auto_row_blocks``), measured 5.8-6.8 s for
L-BFGS-B against 9.0-9.8 s with the Quick start's ``tg.auto_threads`` line (one BLAS thread: a product
25 columns wide does not split) and 2.4-4.3x more with numpy's and scipy's defaults (docs/usage.md).
Run: ``python examples/mnist_scipy.py``.

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 2 minutes at its full settings); this is the output of
``python examples/mnist_scipy.py``, recorded on a 2-core machine shared with other jobs (load average
4-12), so the seconds are inflated and noisy::

    MNIST 784-25-10, 8000 train / 2000 held out, l2=1.0, maxiter=200
    method         loss  evals  seconds train acc  test acc
    L-BFGS-B     0.2069    209    24.86    0.9999    0.9430
    CG           0.2106    407    39.32    0.9991    0.9350
    TNC          0.2427    201    69.01    0.9938    0.9345
"""
import functools
import time

import scipy.optimize as so

import tinygraph as tg


def build(random_state=0):
    return tg.Sequential([
        tg.Dense(784, 25), tg.Sigmoid(),
        tg.Dense(25, 10), tg.Sigmoid(),
        tg.CrossEntropy(),
    ], l2=1.0, random_state=random_state)


def main(methods=("L-BFGS-B", "CG", "TNC"), maxiter=200, n_train=8000):
    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    print(f"MNIST 784-25-10, {len(Xtr)} train / {len(Xte)} held out, l2=1.0, maxiter={maxiter}")
    print(f"{'method':10} {'loss':>8} {'evals':>6} {'seconds':>8} {'train acc':>9} {'test acc':>9}")
    results = {}
    for method in methods:
        model = build()
        options = {"maxfun": maxiter} if method == "TNC" else {"maxiter": maxiter}
        t0 = time.perf_counter()
        fun = functools.partial(model.loss_and_grad, n_jobs=-1)
        with tg.blas_threads(1):
            res = so.minimize(fun, model.theta, args=(Xtr, ytr), jac=True, method=method, options=options)
        seconds = time.perf_counter() - t0
        model.theta[:] = res.x
        train_acc, test_acc = model.score(Xtr, ytr), model.score(Xte, yte)
        results[method] = test_acc
        print(f"{method:10} {res.fun:8.4f} {res.nfev:6d} {seconds:8.2f} {train_acc:9.4f} {test_acc:9.4f}")
    return results


if __name__ == "__main__":
    main()
