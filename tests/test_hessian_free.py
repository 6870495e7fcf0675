"""Hessian-free and Levenberg-Marquardt: CG against a dense solve, one step against its formula,
convergence on small real problems, state round trip, frozen nodes, and scipy's hessp methods."""
import io

import numpy as np
import pytest
from sklearn.datasets import make_moons

import tinygraph as tg
from tinygraph.hessian_free import HessianFree, LevenbergMarquardt, conjugate_gradient


def moons_net(seed=0):
    return tg.Sequential([tg.Dense(2, 8), tg.Tanh(), tg.Dense(8, 2), tg.Softmax(), tg.CrossEntropy()],
                         random_state=seed)


def sine_net(seed=0):
    return tg.Sequential([tg.Dense(1, 10), tg.Tanh(), tg.Dense(10, 1), tg.MeanSquaredError()],
                         random_state=seed)


@pytest.fixture(scope="module")
def moons():
    return make_moons(300, noise=0.2, random_state=0)


@pytest.fixture(scope="module")
def sine():
    X = np.random.default_rng(0).uniform(-3, 3, (200, 1))
    return X, np.sin(X[:, 0])


def test_conjugate_gradient_solves_spd_system():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((30, 30))
    A, b = B @ B.T + 0.5 * np.eye(30), rng.standard_normal(30)
    x, Ax, n = conjugate_gradient(lambda v: A @ v, b, maxiter=200, tol=1e-10, progress_tol=None)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-7)
    np.testing.assert_allclose(Ax, A @ x, rtol=1e-9)
    assert 0 < n <= 200
    warm, _, n_warm = conjugate_gradient(lambda v: A @ v, b, x, maxiter=200, tol=1e-8, progress_tol=None)
    assert n_warm <= 2 and np.allclose(warm, x)
    # truncated: Martens' progress rule stops long before convergence on an ill-conditioned system
    _, _, n_trunc = conjugate_gradient(lambda v: A @ v, b, maxiter=200, tol=1e-14, progress_tol=0.05)
    assert n_trunc < n


def test_levenberg_marquardt_solves_linear_least_squares():
    """On a linear model G is the exact Hessian, so a lightly damped step lands on the lstsq solution."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.01 * rng.standard_normal(50)
    model = tg.Sequential([tg.Dense(3, 1), tg.MeanSquaredError()], random_state=0)
    tg.fit(model, X, y, optimizer=LevenbergMarquardt(model, damping=1e-9), maxiter=2)
    coef = np.linalg.lstsq(np.hstack([X, np.ones((50, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(model.theta, coef, rtol=1e-6)


def test_hessian_free_converges_full_batch(moons):
    X, y = moons
    model = moons_net()
    start = model.loss_value(model.theta, X, y)
    res = tg.fit(model, X, y, optimizer=HessianFree(model), maxiter=30)
    assert res.fun < 0.1 < start
    assert model.score(X, y) > 0.95


def test_hessian_free_minibatches_and_hessp(moons):
    X, y = moons
    model = moons_net()
    res = tg.fit(model, X, y, optimizer=HessianFree(model), batch_size=100, epochs=10, random_state=0)
    assert res.fun < 0.2 and model.score(X, y) > 0.95
    # the same optimizer driven by an explicit hessp (no model): scipy's (fun, hessp) interface
    model.initialize(0)
    Xc, yc, _ = model._check_data(X, y, None)
    opt = HessianFree(maxiter=20)
    out = opt.minimize_batch(lambda x: model.loss_and_grad(x, Xc, yc), model.theta,
                             hessp=lambda x, v: model.gnvp(x, v, Xc, yc))
    assert out.fun < 0.15 and opt.nhev > 20
    with pytest.raises(TypeError, match="hessp"):
        HessianFree().minimize_batch(lambda x: model.loss_and_grad(x, Xc, yc), model.theta)


def test_curvature_on_a_random_part_of_the_batch(moons):
    X, y = moons
    model = moons_net()
    rows = []
    rbackward = model.loss.rbackward
    model.loss.rbackward = lambda: rows.append(model.loss.p.shape[0]) or rbackward()
    res = tg.fit(model, X, y, optimizer=HessianFree(model, curvature_fraction=0.3), maxiter=30)
    assert set(rows) == {90} and res.fun < 0.12
    with pytest.raises(ValueError, match="curvature_fraction"):
        HessianFree(model, curvature_fraction=0.0)


def test_levenberg_marquardt_fits_a_sine(sine):
    X, y = sine
    model = sine_net()
    res = tg.fit(model, X, y, optimizer=LevenbergMarquardt(model), maxiter=40)
    assert res.fun < 1e-4
    with pytest.raises(TypeError, match="MeanSquaredError"):
        LevenbergMarquardt(moons_net())


@pytest.mark.parametrize("cls, keys", [(HessianFree, {"t", "d_prev", "damping"}),
                                       (LevenbergMarquardt, {"t", "d_prev", "damping", "nu"})])
def test_state_round_trip_resumes_exactly(sine, cls, keys):
    X, y = sine
    a, b = sine_net(), sine_net()
    opt_a = cls(a)
    tg.fit(a, X, y, optimizer=opt_a, maxiter=6)
    opt_b = cls(b)
    tg.fit(b, X, y, optimizer=opt_b, maxiter=3)
    state = opt_b.get_state()
    assert set(state) == keys
    buf = io.BytesIO()
    np.savez(buf, **state)  # numbers and arrays only: a checkpoint can hold them
    buf.seek(0)
    resumed = cls(b)
    resumed.set_state(dict(np.load(buf)))
    tg.fit(b, X, y, optimizer=resumed, maxiter=3)
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-10)
    assert resumed.damping == pytest.approx(opt_a.damping)


def test_frozen_node_stays(moons):
    X, y = moons
    model = moons_net()
    model["dense1"].trainable = False
    before = model.theta.copy()
    tg.fit(model, X, y, optimizer=HessianFree(model), maxiter=5)
    s = model["dense1"].theta_slice
    np.testing.assert_array_equal(model.theta[s], before[s])
    assert not np.array_equal(model.theta, before)


@pytest.mark.parametrize("method", ["trust-krylov", "Newton-CG", "trust-ncg"])
def test_fit_passes_gauss_newton_products_to_scipy(moons, method):
    X, y = moons
    model = moons_net()
    calls = []
    rbackward = model.loss.rbackward  # called once by every Gauss-Newton product, by any route
    model.loss.rbackward = lambda: calls.append(1) or rbackward()
    res = tg.fit(model, X, y, optimizer=method, maxiter=15)
    assert len(calls) == res.nhev > 15 and res.fun < 0.15


def test_hessian_free_reads_the_labels_of_a_hinge_model():
    """Hinge keeps labels, not residuals: the curvature batch must be built from them (it once raised)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 3, 60)
    model = tg.Sequential([tg.Dense(8), tg.Tanh(), tg.Dense(3), tg.Hinge()], n_features=4, random_state=0)
    l0 = model.loss_value(model.theta, X, y)
    res = tg.fit(model, X, y, optimizer=HessianFree(model), maxiter=5)
    assert res.fun < l0
