"""MNIST with the estimator: the standard split of the bundled digits, three ways to train.
========================================================================================

8,000 train / 2,000 held out (``tg.datasets.train_test_split(..., test_size=2000, random_state=0)``).
Rows: the blog's 784-25-10 sigmoid net by L-BFGS-B (full batch); a 784-128-64-10 ReLU net by
Adam on minibatches of 100 with early stopping on 10% of the training rows; and the same ReLU net fed
as a stream of 1,000-digit chunks through ``partial_fit``, where Adam's moments carry over from
chunk to chunk. The last row is scikit-learn's ``MLPClassifier`` on the first row's objective (25
logistic units, softmax output, ``alpha`` = l2 = 1, L-BFGS) for reference.
Every fit uses at most ``threads`` BLAS threads (1: faster on a small shared machine).
Run: ``python examples/mnist_estimator.py``.

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 2.5 minutes at its full settings); this is the output of
``python examples/mnist_estimator.py``, recorded on a 2-core machine shared with other jobs (load average
4-12), so the seconds are inflated and noisy::

    MNIST: 8000 train / 2000 held out
    model                                        iters  seconds train acc  test acc
    784-25-10 sigmoid, L-BFGS-B                    109    43.82     1.000     0.945
    examples/mnist_estimator.py:37: ConvergenceWarning: NeuralNetClassifier: max_iter=10 epochs ran out after n_iter_=10 iterations, before the loss stopped improving by tol=0.0001 (reached the number of epochs); raise max_iter
      clf.fit(Xtr, ytr)
    784-128-64-10 relu, Adam, early stopping        10    12.06     0.985     0.946
    same relu net, partial_fit, 3 passes            24     6.58     0.954     0.931
    scikit-learn MLPClassifier, same as row 1      166    62.85     1.000     0.942
    Adam steps carried across the 24 partial_fit calls: 240
"""
import time
import warnings

import numpy as np

import tinygraph as tg


def main(n_train=8000, max_iter=200, epochs=10, passes=3, compare_sklearn=True, threads=1, random_state=0):
    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    print(f"MNIST: {len(Xtr)} train / {len(Xte)} held out")
    print(f"{'model':44} {'iters':>5} {'seconds':>8} {'train acc':>9} {'test acc':>9}")
    runs = {
        "784-25-10 sigmoid, L-BFGS-B": tg.NeuralNetClassifier(
            (25,), "sigmoid", l2=1.0, max_iter=max_iter, threads=threads, random_state=random_state),
        "784-128-64-10 relu, Adam, early stopping": tg.NeuralNetClassifier(
            (128, 64), "relu", l2=1e-4, optimizer=tg.optim.Adam(1e-3), batch_size=100, max_iter=epochs,
            early_stopping=True, threads=threads, random_state=random_state),
    }
    results = {}
    for name, clf in runs.items():
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr)
        seconds = time.perf_counter() - t0
        results[name] = clf.score(Xte, yte)
        print(f"{name:44} {clf.n_iter_:5d} {seconds:8.2f} {clf.score(Xtr, ytr):9.3f} {results[name]:9.3f}")
    stream = tg.NeuralNetClassifier((128, 64), "relu", l2=1e-4, optimizer=tg.optim.Adam(1e-3),
                                    batch_size=100, threads=threads, random_state=random_state)
    t0 = time.perf_counter()
    for _ in range(passes):
        for chunk in np.array_split(np.arange(len(Xtr)), max(1, len(Xtr) // 1000)):
            stream.partial_fit(Xtr[chunk], ytr[chunk], classes=np.arange(10))
    name = f"same relu net, partial_fit, {passes} passes"
    results[name] = stream.score(Xte, yte)
    print(f"{name:44} {stream.n_iter_:5d} {time.perf_counter() - t0:8.2f} {stream.score(Xtr, ytr):9.3f} "
          f"{results[name]:9.3f}")
    if compare_sklearn:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        mlp = MLPClassifier((25,), activation="logistic", solver="lbfgs", alpha=1.0, max_iter=max_iter,
                            random_state=random_state)
        t0 = time.perf_counter()
        with warnings.catch_warnings(), tg.blas_threads(threads):
            warnings.simplefilter("ignore", ConvergenceWarning)  # it stops at max_iter, as ours may
            mlp.fit(Xtr, ytr)
        name = "scikit-learn MLPClassifier, same as row 1"
        results[name] = mlp.score(Xte, yte)
        print(f"{name:44} {mlp.n_iter_:5d} {time.perf_counter() - t0:8.2f} {mlp.score(Xtr, ytr):9.3f} "
              f"{results[name]:9.3f}")
    print(f"Adam steps carried across the {stream.n_iter_} partial_fit calls: {stream.optimizer_.t}")
    return results


if __name__ == "__main__":
    main()
