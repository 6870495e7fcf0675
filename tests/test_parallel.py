"""loss_and_grad(n_jobs=k): row blocks on threads give the one-thread loss and gradient."""
import pickle
import threading

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.parallel.rows import check_n_jobs


def net(l2=0.01, dtype=np.float64):
    return tg.Sequential([tg.Dense(6, 8), tg.Tanh(), tg.Dense(8, 5), tg.ReLU(), tg.Dense(5, 3), tg.Softmax(),
                          tg.CrossEntropy()], l2=l2, dtype=dtype, random_state=0)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(101, 6)), rng.integers(0, 3, 101), rng.random(101)


@pytest.mark.parametrize("n_jobs", [2, 3, -1, 200])
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_equal_one_pass(data, n_jobs, weighted):
    X, y, w = data
    sw = w if weighted else None
    model = net()
    loss1, g1 = model.loss_and_grad(model.theta, X, y, sample_weight=sw)
    lossk, gk = model.loss_and_grad(model.theta, X, y, sample_weight=sw, n_jobs=n_jobs)
    assert lossk == pytest.approx(loss1, rel=1e-13)
    np.testing.assert_allclose(gk, g1, rtol=1e-12, atol=1e-15)
    assert gk is not model.grad and gk.dtype == model.dtype


def test_regression_loss_float32_and_out(data):
    X, _, _ = data
    Y = X[:, :2] ** 2
    model = tg.Sequential([tg.Dense(6, 4), tg.Sigmoid(), tg.Dense(4, 2), tg.MeanSquaredError()],
                          dtype=np.float32, l2=0.1, random_state=0)
    loss1, g1 = model.loss_and_grad(model.theta, X, Y)
    out = np.empty_like(model.theta)
    loss2, g2 = model.loss_and_grad(model.theta.astype(np.float64), X, Y, out=out, n_jobs=2)
    assert g2 is out and loss2 == pytest.approx(loss1, rel=1e-5)
    np.testing.assert_allclose(g2, g1, rtol=1e-4, atol=1e-6)


def test_a_block_of_zero_weight_is_skipped(data):
    X, y, w = data
    w = w.copy()
    w[:60] = 0.0  # the first of two blocks (rows 0..49) has no weight at all
    model = net()
    loss1, g1 = model.loss_and_grad(model.theta, X, y, sample_weight=w)
    loss2, g2 = model.loss_and_grad(model.theta, X, y, sample_weight=w, n_jobs=2)
    assert np.isfinite(loss2) and loss2 == pytest.approx(loss1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)


def test_blocks_run_on_worker_threads_sharing_theta(data, monkeypatch):
    X, y, _ = data
    model = net()
    model.loss_and_grad(model.theta, X, y, n_jobs=2)
    replicas = model._parallel
    assert len(replicas) == 2
    for r in replicas:
        assert np.shares_memory(r.nodes[1].W, model.theta) and not np.shares_memory(r.grad, model.grad)
    seen = set()
    forward = replicas[-1].nodes[1].forward  # the last block: the first one runs on the calling thread

    def spy(x):
        seen.add(threading.current_thread().name)
        return forward(x)
    monkeypatch.setattr(replicas[-1].nodes[1], "forward", spy)
    model.loss_and_grad(model.theta, X, y, n_jobs=2)
    assert seen and all(name.startswith("tinygraph") for name in seen)
    # a new point reaches the replicas through the shared theta
    theta = model.theta + 0.1
    np.testing.assert_allclose(model.loss_and_grad(theta, X, y, n_jobs=2)[1],
                               model.loss_and_grad(theta, X, y)[1], rtol=1e-12, atol=1e-15)


def test_no_stale_activations_after_blocks(data):
    X, y, _ = data
    model = net()
    model.loss_and_grad(model.theta, X, y)
    assert model.activations
    model.loss_and_grad(model.theta, X, y, n_jobs=2)
    assert model.activations == {}
    with pytest.raises(RuntimeError, match="n_jobs > 1 keeps no activations"):
        tg.curvature.CurvatureOperator.from_last_forward(model)  # not the earlier pass's activations


def test_model_pickles_without_its_threads(data):
    X, y, _ = data
    model = net()
    model.loss_and_grad(model.theta, X, y, n_jobs=2)
    clone = pickle.loads(pickle.dumps(model))
    assert getattr(clone, "_parallel", None) is None
    np.testing.assert_allclose(clone.loss_and_grad(clone.theta, X, y, n_jobs=2)[1],
                               model.loss_and_grad(model.theta, X, y)[1], rtol=1e-12, atol=1e-15)


def test_errors_in_a_block_reach_the_caller(data):
    X, y, _ = data
    model = net()
    with pytest.raises(ValueError, match="n_jobs"):
        model.loss_and_grad(model.theta, X, y, n_jobs=0)
    with pytest.raises(ValueError, match="labels|target|class"):
        model.loss_and_grad(model.theta, X, np.full(101, 7), n_jobs=2)


def test_saturated_inputs_stay_finite_without_warnings(data):
    X, y, _ = data
    model = net()
    loss, g = model.loss_and_grad(model.theta, 1000.0 * np.sign(X), y, n_jobs=2)
    assert np.isfinite(loss) and np.isfinite(g).all()


@pytest.mark.parametrize("n_jobs, expected", [(None, 1), (1, 1), (3, 3), (-1, None)])
def test_check_n_jobs_follows_scikit_learn(n_jobs, expected):
    import os
    assert check_n_jobs(n_jobs) == (expected or os.cpu_count())


@pytest.mark.parametrize("bad", [0, 1.5, True, "2"])
def test_check_n_jobs_rejects(bad):
    with pytest.raises(ValueError, match="n_jobs must be a non-zero integer"):
        check_n_jobs(bad)


@pytest.mark.parametrize("optimizer, kw", [("L-BFGS-B", {}), ("CG", {}), ("Newton-CG", {}),
                                           (tg.optim.Adam(0.01), {"batch_size": 32, "epochs": 3})])
def test_fit_with_n_jobs_follows_the_one_thread_fit(data, optimizer, kw):
    X, y, _ = data
    a, b = net(), net()
    ra = tg.fit(a, X, y, optimizer if isinstance(optimizer, str) else tg.optim.Adam(0.01), maxiter=5,
                random_state=0, **kw)
    rb = tg.fit(b, X, y, optimizer, n_jobs=2, maxiter=5, random_state=0, **kw)
    assert rb.nit == ra.nit
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-7, atol=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimators_pass_n_jobs_to_fit(data):
    X, y, _ = data
    a = tg.NeuralNetClassifier((6,), max_iter=20, random_state=0).fit(X, y)
    b = tg.NeuralNetClassifier((6,), max_iter=20, random_state=0, n_jobs=2).fit(X, y)
    assert b.get_params()["n_jobs"] == 2 and b.model_._parallel
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-6, atol=1e-9)


def test_blocks_gradient_matches_central_differences(data):
    X, y, w = data
    model = net()
    theta = model.theta.copy()
    _, g = model.loss_and_grad(theta, X, y, sample_weight=w, n_jobs=3)

    def loss():
        return model.loss_and_grad(theta, X, y, sample_weight=w, n_jobs=3)[0]
    assert tg.gradcheck.relative_error(g, tg.gradcheck.numerical_gradient(loss, theta)) < 1e-6
