"""BLAS thread limits: the limit holds inside the block and is undone after it; fit accepts it."""
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
