"""No silent wrong answers (issue 15): threads, warm starts, feature names, coef_, extreme weights,
divergence, the curvature cache, crafted files, and the loader refusing what the saver refuses."""
import json
import os
import threading
import warnings
import zipfile

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import io
from tinygraph.optim import SGD, Adam

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from tinygraph.estimators import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def one_blas_thread():
    with tg.blas_threads(1):
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y


def net(l2=0.0, random_state=0):
    return tg.Sequential([tg.Dense(16), tg.Tanh(), tg.Dense(16), tg.Tanh(), tg.Dense(3), tg.Softmax(),
                          tg.CrossEntropy()], n_features=4, l2=l2, random_state=random_state)


def hammer(fn, inputs, n_threads=8, calls=200):
    """Call ``fn(inputs[k])`` ``calls`` times on each of ``n_threads`` threads at once; the results."""
    barrier, out, errors = threading.Barrier(n_threads), [[] for _ in range(n_threads)], []

    def run(t):
        try:
            barrier.wait()
            for c in range(calls):
                out[t].append((c % len(inputs), fn(inputs[c % len(inputs)])))
        except BaseException as e:  # noqa: BLE001 -- reported by the test
            errors.append(e)
    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    return [r for rs in out for r in rs]


# 1. threads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["forward", "predict", "predict_proba", "score"])
def test_graph_inference_is_thread_safe(data, method):
    X, y = data
    model = net()
    chunks = [X[k::3] for k in range(3)]
    if method == "score":
        fn = lambda k: model.score(chunks[k], y[k::3])  # noqa: E731
    else:
        fn = lambda k: getattr(model, method)(chunks[k])  # noqa: E731
    serial = [fn(k) for k in range(3)]
    for k, got in hammer(fn, [0, 1, 2]):
        np.testing.assert_array_equal(got, serial[k])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_estimator_inference_is_thread_safe(data, method):
    X, y = data
    clf = NeuralNetClassifier((16, 16), max_iter=20, random_state=0).fit(X, y)
    fn = (lambda k: clf.score(X[k::3], y[k::3])) if method == "score" else \
        (lambda k: getattr(clf, method)(X[k::3]))
    serial = [fn(k) for k in range(3)]
    for k, got in hammer(fn, [0, 1, 2]):
        np.testing.assert_array_equal(got, serial[k])


def test_training_from_two_threads_is_refused_and_inference_meanwhile_is_right(data):
    X, y = data
    model = net()
    expected = model.forward(X)
    seen = {}

    def other_thread():
        try:
            model.loss_and_grad(model.theta, X, y)
        except RuntimeError as e:
            seen["error"] = str(e)
        seen["forward"] = model.forward(X)

    def callback(info):
        if info.step == 1:
            np.copyto(seen.setdefault("theta", np.empty_like(model.theta)), model.theta)
            th = threading.Thread(target=other_thread)
            th.start()
            th.join()
        return info.step == 1

    tg.fit(model, X, y, SGD(0.1), batch_size=10, epochs=1, callback=callback)
    assert "another thread" in seen["error"]
    # the other thread's forward ran on a replica sharing theta: the values of theta at that moment
    check = net()
    check.theta[...] = seen["theta"]
    np.testing.assert_array_equal(seen["forward"], check.forward(X))
    assert not np.array_equal(seen["forward"], expected)
    model.loss_and_grad(model.theta, X, y)  # free again once fit returned


def test_single_thread_results_and_loss_and_grad_unchanged(data):
    X, y = data
    model = net(l2=0.1)
    loss, g = model.loss_and_grad(model.theta, X, y)
    loss2, g2 = model.loss_and_grad(model.theta, X, y, n_jobs=2)
    np.testing.assert_allclose(loss, loss2, rtol=1e-12)
    np.testing.assert_allclose(g, g2, rtol=1e-10, atol=1e-14)
    assert model.forward(X).shape == (60, 3)
