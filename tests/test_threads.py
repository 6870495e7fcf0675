"""BLAS thread limits: the limit holds inside the block and is undone after it; fit accepts it."""
import os
from itertools import pairwise

import numpy as np
import pytest

import tinygraph as tg

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_counts():
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def test_blas_threads_limits_inside_and_restores_after():
    before = blas_counts()
    with tg.blas_threads(1):
        assert all(n == 1 for n in blas_counts())
    assert blas_counts() == before
    with tg.blas_threads(None):
        assert blas_counts() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_blas_threads_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="threads"), tg.blas_threads(bad):
        pass


def test_fit_with_one_thread_gives_the_same_theta():
    X, y = np.random.default_rng(0).random((64, 5)), np.arange(64) % 3
    thetas = []
    for threads in (None, 1):
        model = tg.Sequential([tg.Dense(5, 4), tg.Tanh(), tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()],
                              random_state=0)
        tg.fit(model, X, y, tg.optim.Adam(0.01), batch_size=16, epochs=2, random_state=0, threads=threads)
        thetas.append(model.theta.copy())
    np.testing.assert_allclose(thetas[0], thetas[1], rtol=1e-12, atol=1e-14)


def mlp(*sizes, dtype=np.float64):
    layers = []
    for a, b in pairwise(sizes[:-1]):
        layers += [tg.Dense(a, b), tg.ReLU()]
    return tg.Sequential(layers + [tg.Dense(sizes[-2], sizes[-1]), tg.Softmax(), tg.CrossEntropy()], dtype=dtype)


@pytest.mark.parametrize("sizes, rows, expected", [
    ((784, 256, 256, 10), 128, 2),    # 128×784×256: gained 25–40% from a second thread
    ((784, 1024, 1024, 10), 512, 2),
    ((784, 25, 10), 8000, 1),         # without timing, 25 columns count as narrow (the probe decides)
    ((64, 32, 10), 1797, 1),          # digits
    ((784, 256, 256, 10), 32, 1),     # a small batch
])
def test_auto_threads_from_the_largest_product(sizes, rows, expected):
    assert tg.auto_threads(mlp(*sizes), rows, n_cores=2, busy=0.0) == expected


def test_auto_threads_one_core_or_a_busy_machine_means_one_thread():
    model = mlp(784, 256, 256, 10)
    assert tg.auto_threads(model, 128, n_cores=1, busy=0.0) == 1
    assert tg.auto_threads(model, 128, n_cores=2, busy=1.5) == 1
    assert tg.auto_threads(model, np.zeros((128, 784)), n_cores=4, busy=0.0) == 4  # rows from X


def test_auto_threads_times_the_largest_product_once_per_shape(monkeypatch):
    from tinygraph.parallel import threads
    matmul = np.matmul
    threads._probed.clear()
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)  # an idle machine: the timing decides
    model = mlp(784, 256, 256, 10, dtype=np.float32)
    choice = tg.auto_threads(model, 128, n_cores=2)
    assert choice in (1, 2) and list(threads._probed) == [(128, 784, 256, "float32", 2)]
    monkeypatch.setattr(threads, "_PROBE_TTL", 1e9)
    monkeypatch.setattr(threads.np, "matmul", None)  # a second timing would fail here
    assert tg.auto_threads(model, np.zeros((128, 784)), n_cores=2) == choice
    monkeypatch.setattr(threads.np, "matmul", matmul)
    narrow = tg.auto_threads(mlp(784, 25, 10), 8000, n_cores=2)  # narrow but large: timed as well
    assert narrow in (1, 2) and (8000, 784, 25, "float64", 2) in threads._probed
    assert tg.auto_threads(mlp(64, 32, 10), 100, n_cores=2) == 1  # small: decided without timing
    assert (100, 64, 32, "float64", 2) not in threads._probed
    monkeypatch.setattr(threads, "busy_cores", lambda: 1.0)
    threads._probed.clear()
    assert tg.auto_threads(model, 128, n_cores=2) == 1 and not threads._probed  # busy: no timing


def test_blas_threads_holds_other_libraries_to_one():
    import scipy.linalg  # noqa: F401  (scipy's own BLAS, when its wheel ships one)

    from tinygraph.parallel import threads
    with tg.blas_threads(2):
        libs = threadpoolctl.threadpool_info()
    numpys = [p for p in libs if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    others = [p for p in libs if p not in numpys]
    if numpys:
        assert all(p["num_threads"] == 1 for p in others)
        if os.cpu_count() >= 2:
            assert all(p["num_threads"] == 2 for p in numpys)
    assert threads.limit is None


def test_fit_default_threads_follow_auto_threads(monkeypatch):
    from tinygraph.training import loop as training
    seen = []
    monkeypatch.setattr(training, "auto_threads", lambda model, rows: seen.append(rows) or 1)
    X, y = np.random.default_rng(0).random((64, 5)), np.arange(64) % 3
    model = mlp(5, 4, 3)
    tg.fit(model, X, y, "adam", batch_size=16, epochs=1)
    tg.fit(model, X, y, "adam", batch_size=16, epochs=1, threads=1)  # explicit: not asked
    tg.fit(model, X, y, "L-BFGS-B", maxiter=2)
    assert seen == [16, 64]


def test_busy_cores_leaves_out_this_processs_share():
    import time
    t0 = time.process_time()
    while time.process_time() - t0 < 0.2:  # some CPU of our own
        pass
    busy = tg.threads.busy_cores()
    assert 0.0 <= busy <= os.getloadavg()[0]


def test_auto_row_blocks_for_narrow_products_on_many_rows():
    from tinygraph.parallel.threads import auto_row_blocks

    narrow = tg.Sequential([tg.Dense(784, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(), tg.CrossEntropy()])
    assert auto_row_blocks(narrow, 8000, n_cores=2, busy=0.0) == 2
    assert auto_row_blocks(narrow, 128, n_cores=2, busy=0.0) == 1  # a minibatch: blocks cost more than they save
    assert auto_row_blocks(narrow, 8000, n_cores=2, busy=1.5) == 1  # the other core is taken
    assert auto_row_blocks(narrow, 8000, n_cores=1, busy=0.0) == 1
    wide = tg.Sequential([tg.Dense(784, 512), tg.Tanh(), tg.Dense(512, 10), tg.Softmax(), tg.CrossEntropy()])
    assert auto_row_blocks(wide, 8000, n_cores=2, busy=0.0) == 1  # BLAS threads split these products
    bn = tg.Sequential([tg.Dense(784, 25), tg.BatchNorm(), tg.Sigmoid(), tg.Dense(25, 10), tg.Softmax(),
                        tg.CrossEntropy()])
    assert auto_row_blocks(bn, 8000, n_cores=2, busy=0.0) == 1  # BatchNorm couples the rows
