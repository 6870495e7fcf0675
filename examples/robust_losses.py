"""Huber against squared error on targets with outliers; the multiclass hinge against cross-entropy.
=================================================================================================

1. Regression: a 1-16-1 tanh net fits y = sin(2x) + 0.05 noise on 240 points in [-2, 2] after a
   fraction of the targets is shifted by +8. Printed: the mean squared error against the clean curve
   on the untouched points, for ``MeanSquaredError`` and ``Huber(0.5)``/``Huber(1.0)``.
2. Classification: standardised iris (linear model: a Crammer–Singer linear SVM) and digits (one ReLU
   layer of 32), 30% held out (``tg.datasets.train_test_split``, seed 0), l2 = 0.01: held-out
   accuracy with ``Hinge`` and with ``Softmax`` + ``CrossEntropy`` on the same net.

All fits: L-BFGS-B, full batch, ``maxiter`` iterations.
Run: ``python examples/robust_losses.py``.
"""
import numpy as np

import tinygraph as tg


def regression(fractions=(0.0, 0.1, 1 / 6, 0.25), n_points=240, maxiter=100, random_state=13) -> dict:
    """{(fraction, loss name): MSE against the clean curve on the inlier points}."""
    rng = np.random.default_rng(random_state)
    X = rng.uniform(-2, 2, (n_points, 1))
    clean = np.sin(2 * X[:, 0])
    noise = 0.05 * rng.standard_normal(n_points)
    u = rng.random(n_points)
    losses = {"mse": tg.MeanSquaredError, "huber(0.5)": lambda: tg.Huber(0.5), "huber(1.0)": tg.Huber}
    print(f"sin(2x), {n_points} points, outliers +8: MSE to the clean curve on the inliers")
    print(f"{'outliers':>8} " + " ".join(f"{name:>10}" for name in losses))
    results = {}
    for fraction in fractions:
        outliers = u < fraction
        y = clean + noise + 8.0 * outliers
        row = []
        for name, make in losses.items():
            model = tg.Sequential([tg.Dense(1, 16), tg.Tanh(), tg.Dense(16, 1), make()], random_state=0)
            tg.fit(model, X, y, "L-BFGS-B", maxiter=maxiter)
            results[fraction, name] = err = float(np.mean((model.predict(X) - clean)[~outliers] ** 2))
            row.append(f"{err:10.4f}")
        print(f"{fraction:8.2f} " + " ".join(row))
    return results


def classification(datasets=("iris", "digits"), maxiter=150) -> dict:
    """{(dataset, loss name): held-out accuracy}."""
    from sklearn import datasets as sk_datasets

    print(f"{'dataset':8} {'net':10} {'hinge':>7} {'softmax CE':>10}")
    results = {}
    for dataset in datasets:
        X, y = getattr(sk_datasets, f"load_{dataset}")(return_X_y=True)
        X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
        Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=0.3, random_state=0)
        K, D = int(y.max()) + 1, X.shape[1]
        hidden = 32 if dataset == "digits" else None
        for name, head in (("hinge", lambda: [tg.Hinge()]), ("softmax CE", lambda: [tg.Softmax(), tg.CrossEntropy()])):
            body = [tg.Dense(D, K)] if hidden is None else [tg.Dense(D, hidden), tg.ReLU(), tg.Dense(hidden, K)]
            model = tg.Sequential(body + head(), l2=1e-2, random_state=0)
            tg.fit(model, Xtr, ytr, "L-BFGS-B", maxiter=maxiter)
            results[dataset, name] = model.score(Xte, yte)
        net = "linear" if hidden is None else f"{D}-{hidden}-{K}"
        print(f"{dataset:8} {net:10} {results[dataset, 'hinge']:7.3f} {results[dataset, 'softmax CE']:10.3f}")
    return results


def main(maxiter=100, fractions=(0.0, 0.1, 1 / 6, 0.25), datasets=("iris", "digits"), classify_maxiter=150):
    return regression(fractions, maxiter=maxiter), classification(datasets, classify_maxiter)


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
