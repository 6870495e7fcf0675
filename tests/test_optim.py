"""Update rules against their formulas, written out independently; convergence on a convex quadratic."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import optim
from tinygraph.optim import schedules

rng = np.random.default_rng(0)
THETA0 = rng.normal(size=7)
GRADS = [rng.normal(size=7) for _ in range(3)]


def run(opt, theta0=THETA0, grads=GRADS):
    theta = theta0.copy()
    out = []
    for g in grads:
        opt.step(theta, g.copy())
        out.append(theta.copy())
    return out


def reference(update, state, theta0=THETA0, grads=GRADS):
    """Apply ``update(theta, g, t, state) -> new theta`` (t from 1), the textbook form."""
    theta, out = theta0.copy(), []
    for t, g in enumerate(grads, 1):
        theta = update(theta, g, t, state)
        out.append(theta)
    return out


def sgd_momentum(lr, mu, nesterov):
    def update(theta, g, t, s):
        s["v"] = mu * s.get("v", 0) - lr * g          # the velocity form of Sutskever et al.
        return theta + (mu * s["v"] - lr * g if nesterov else s["v"])
    return update


def adam(lr, b1, b2, eps, wd=0.0):
    def update(theta, g, t, s):
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        mhat, vhat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return theta - lr * mhat / (np.sqrt(vhat) + eps) - lr * wd * theta
    return update


def adadelta(lr, rho, eps):
    def update(theta, g, t, s):
        s["Eg"] = rho * s.get("Eg", 0) + (1 - rho) * g * g
        delta = np.sqrt(s.get("Ex", 0) + eps) / np.sqrt(s["Eg"] + eps) * g
        s["Ex"] = rho * s.get("Ex", 0) + (1 - rho) * delta * delta
        return theta - lr * delta
    return update


CASES = [
    (optim.SGD(lr=0.1), lambda th, g, t, s: th - 0.1 * g),
    (optim.SGD(lr=0.1, decay=0.5), lambda th, g, t, s: th - 0.1 / (1 + 0.5 * (t - 1)) * g),
    (optim.SGD(lr=0.1, momentum=0.9), sgd_momentum(0.1, 0.9, False)),
    (optim.SGD(lr=0.1, momentum=0.9, nesterov=True), sgd_momentum(0.1, 0.9, True)),
    (optim.AdaGrad(lr=0.5, eps=1e-8),
     lambda th, g, t, s: th - 0.5 * g / (np.sqrt(s.__setitem__("G", s.get("G", 0) + g * g) or s["G"]) + 1e-8)),
    (optim.RMSProp(lr=0.01, rho=0.8, eps=1e-6),
     lambda th, g, t, s: th - 0.01 * g / (np.sqrt(s.__setitem__("E", 0.8 * s.get("E", 0) + 0.2 * g * g)
                                                  or s["E"]) + 1e-6)),
    (optim.Adadelta(lr=1.0, rho=0.9, eps=1e-4), adadelta(1.0, 0.9, 1e-4)),
    (optim.Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7), adam(0.01, 0.8, 0.99, 1e-7)),
    (optim.AdamW(lr=0.01, weight_decay=0.1), adam(0.01, 0.9, 0.999, 1e-8, wd=0.1)),
]


@pytest.mark.parametrize("opt,update", CASES, ids=[repr(c[0]) for c in CASES])
def test_three_steps_match_the_formula(opt, update):
    opt.reset()
    for got, want in zip(run(opt), reference(update, {})):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert opt.t == 3


def test_rprop_grows_on_agreeing_signs_and_shrinks_and_waits_on_a_flip():
    opt = optim.Rprop(lr=0.1, etaplus=1.2, etaminus=0.5)
    theta = np.zeros(3)
    opt.step(theta, np.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(theta, [-0.1, 0.1, -0.1])
    opt.step(theta, np.array([5.0, 1.0, 0.0]))      # same sign, flipped sign, zero
    np.testing.assert_allclose(theta, [-0.1 - 0.12, 0.1, -0.1])
    np.testing.assert_allclose(opt.delta, [0.12, 0.05, 0.1])
    opt.step(theta, np.array([1.0, 1.0, 1.0]))      # after a flip iRprop- moves again with the reduced step
    np.testing.assert_allclose(theta, [-0.22 - 0.144, 0.1 - 0.05, -0.1 - 0.1])


def quadratic(seed=1, n=6):
    r = np.random.default_rng(seed)
    Q = np.linalg.qr(r.normal(size=(n, n)))[0]
    A = Q @ np.diag(np.linspace(1.0, 10.0, n)) @ Q.T
    b = r.normal(size=n)

    def fun(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b
    return fun, np.linalg.solve(A, b)


CONVERGE = [
    (optim.SGD(lr=0.1), 300),
    (optim.SGD(lr=0.05, momentum=0.9), 300),
    (optim.SGD(lr=0.05, momentum=0.9, nesterov=True), 300),
    (optim.AdaGrad(lr=0.5), 2000),
    (optim.RMSProp(lr=schedules.CosineDecay(0.05, 2000)), 2000),
    (optim.Adadelta(lr=schedules.CosineDecay(50.0, 2000)), 2000),
    (optim.Adam(lr=schedules.CosineDecay(0.1, 2000)), 2000),
    (optim.AdamW(lr=schedules.CosineDecay(0.1, 2000), weight_decay=0.0), 2000),
    (optim.Rprop(lr=0.1), 300),
]


@pytest.mark.parametrize("opt,steps", CONVERGE, ids=[repr(c[0]) for c in CONVERGE])
def test_converges_on_a_convex_quadratic(opt, steps):
    fun, xstar = quadratic()
    res = tg.minimize(fun, np.zeros_like(xstar), method=opt, maxiter=steps)
    assert isinstance(res, tg.OptimizeResult) and res.nit == steps
    np.testing.assert_allclose(res.x, xstar, atol=1e-3)


def test_scipy_methods_through_minimize_and_its_callback():
    fun, xstar = quadratic()
    for method in ("L-BFGS-B", "CG", "BFGS", "TNC", "Newton-CG"):
        res = tg.minimize(fun, np.zeros(6), method=method, tol=1e-10)
        np.testing.assert_allclose(res.x, xstar, atol=1e-5, err_msg=method)
    res = tg.minimize(fun, np.zeros(6), method=optim.Scipy("CG", maxiter=2), maxiter=1)
    assert res.nit == 1 and res.nfev >= 3 and not np.allclose(res.x, xstar, atol=1e-3)
    res = tg.minimize(fun, np.zeros(6), method=optim.Scipy("CG", maxiter=2), maxiter=50, tol=1e-4)
    assert res.success and res.nit < 50
    np.testing.assert_allclose(res.x, xstar, atol=1e-4)
    seen = []
    res = tg.minimize(fun, np.zeros(6), method="CG", callback=lambda info: seen.append(info.loss) or len(seen) == 2)
    assert len(seen) == 2 and res.nit == 2


def test_clipnorm_bounds_the_step():
    opt = optim.SGD(lr=1.0, clipnorm=0.5)
    theta = np.zeros(2)
    opt.step(theta, np.array([3.0, 4.0]))
    np.testing.assert_allclose(theta, [-0.3, -0.4])


def test_state_roundtrip_continues_identically():
    a, b = optim.Adam(lr=0.01), optim.Adam(lr=0.01)
    ta = run(a)[-1]
    b.set_state({k: np.asarray(v) for k, v in a.get_state().items()})
    assert all(isinstance(v, (int, np.ndarray)) for v in a.get_state().values())
    g = rng.normal(size=7)
    tb = ta.copy()
    a.step(ta, g.copy())
    b.step(tb, g.copy())
    np.testing.assert_array_equal(ta, tb)
    a.reset()
    assert a.t == 0 and a.m is None


def test_non_finite_update_raises_and_leaves_theta():
    opt, theta = optim.SGD(lr=1.0), np.ones(3)
    with pytest.raises(tg.NonFiniteError, match="step 0"):
        opt.step(theta, np.array([1.0, np.nan, 0.0]))
    np.testing.assert_array_equal(theta, 1.0)


def test_frozen_entries_never_move():
    opt = optim.Adam(lr=0.1)
    opt.freeze(np.array([True, False, True]))
    theta = np.zeros(3)
    for _ in range(3):
        opt.step(theta, np.ones(3))
    assert theta[1] == 0.0 and theta[0] < 0 and theta[2] < 0


@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"lr": 0.1, "momentum": 1.5}, {"lr": 0.1, "nesterov": True},
                                 {"lr": 0.1, "clipnorm": 0.0}])
def test_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        optim.SGD(**bad)


def test_schedules():
    assert schedules.Constant(0.3)(100) == 0.3
    assert schedules.StepDecay(1.0, 10, 0.5)(25) == 0.25
    assert schedules.ExponentialDecay(2.0, 0.5)(3) == 0.25
    assert schedules.InverseTimeDecay(1.0, 1.0)(3) == 0.25
    c = schedules.CosineDecay(1.0, 10, lr_min=0.1)
    assert c(0) == 1.0 and abs(c(5) - 0.55) < 1e-12 and c(10) == c(50) == pytest.approx(0.1)
    opt = optim.SGD(lr=lambda t: 0.5 ** t)          # any callable of the step
    theta = np.zeros(1)
    for _ in range(3):
        opt.step(theta, np.ones(1))
    assert theta[0] == -(1 + 0.5 + 0.25)


@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", optim.Adam(lr=0.1)])
def test_minimize_result_records_and_interrupt(method):
    fun, _ = quadratic()
    calls = []

    def counted(x):
        calls.append(1)
        return fun(x)

    res = tg.minimize(counted, np.zeros(6), method=method, maxiter=30)
    assert res.n_grad_evals == res.nfev == len(calls) and res.wall_time > 0 and not res.interrupted
    assert res.history["loss"].shape == res.history["time"].shape == (res.nit,) and res.nit > 0
    assert res.history["loss"][-1] < res.history["loss"][0]

    def stop(info):
        if info.step == 3:
            raise KeyboardInterrupt

    res = tg.minimize(fun, np.zeros(6), method=method, maxiter=30, callback=stop)
    assert res.interrupted and not res.success and res.nit == 3 and np.isfinite(res.x).all()


def test_state_restored_into_a_float32_theta_is_cast_not_dropped():
    a = optim.RMSProp(lr=0.01)
    run(a)
    b = optim.RMSProp(lr=0.01)
    b.set_state(a.get_state())
    theta = THETA0.astype(np.float32)
    b.step(theta, GRADS[0].astype(np.float32))
    assert b.E.dtype == np.float32 and b.t == 4
    np.testing.assert_allclose(b.E, 0.9 * a.E + 0.1 * GRADS[0] ** 2, rtol=1e-6)
    b.step(np.zeros(3), np.ones(3))                 # another shape: the state starts afresh
    assert b.t == 1 and b.E.shape == (3,)
