"""tg.fit: scipy full batch and minibatch loops, counts, callbacks, early stopping, interrupt, resume."""
import functools

import numpy as np
import pytest
import scipy.optimize

import tinygraph as tg
from tinygraph import optim


def blobs(n=120, d=5, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, n)
    X = r.normal(size=(n, d)) + 1.5 * y[:, None] * np.linspace(1, -1, d)
    return X, y


def mlp(dtype=np.float64, l2=0.0, seed=0):
    return tg.Sequential([tg.Dense(5, 4), tg.Tanh(), tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()],
                         l2=l2, dtype=dtype, random_state=seed)


X, y = blobs()


def test_lbfgs_matches_scipy_directly_and_writes_theta():
    ref = mlp(l2=0.1)
    want = scipy.optimize.minimize(ref.loss_and_grad, ref.theta.copy(), args=(X, y), jac=True,
                                   method="L-BFGS-B", options={"maxiter": 30})
    model = mlp(l2=0.1)
    theta = model.theta
    res = tg.fit(model, X, y, "L-BFGS-B", maxiter=30)
    assert model.theta is theta
    np.testing.assert_allclose(model.theta, want.x, rtol=1e-10, atol=1e-12)
    assert res.fun == pytest.approx(want.fun) and res.nit == want.nit and res.success == want.success
    assert res.n_examples_seen == res.nfev * len(X) and len(res.history["loss"]) == res.nit


def test_scipy_runs_forward_once_per_evaluation():
    model = mlp()
    calls = []
    forward = model.loss.forward
    model.loss.forward = lambda *a: calls.append(1) or forward(*a)
    res = tg.fit(model, X, y, "CG", maxiter=10)
    assert len(calls) == res.nfev == res.njev


@pytest.mark.parametrize("opt,kw", [
    ("L-BFGS-B", {"maxiter": 50}),
    (optim.SGD(lr=0.3), {"batch_size": 10, "epochs": 5}),
    (optim.SGD(lr=0.1, momentum=0.9, nesterov=True), {"batch_size": 10}),
    (optim.RMSProp(lr=1e-2), {"batch_size": 10}),
    (optim.Adam(lr=1e-2), {"batch_size": 16}),
    (optim.Scipy("CG", maxiter=3), {"batch_size": 20}),
    (optim.Rprop(), {"maxiter": 50}),
    ("Newton-CG", {"maxiter": 10}),
    ("TNC", {"maxiter": 50}),
])
def test_every_optimizer_trains_the_same_model(opt, kw):
    model = mlp()
    before = model.loss_value(model.theta, X, y)
    res = tg.fit(model, X, y, opt, random_state=0, **kw)
    assert res.fun < 0.8 * before and model.score(X, y) > 0.85
    assert np.all(np.isfinite(res.history["loss"]))


def test_minibatch_counts_partial_batch_and_fraction():
    model, n = mlp(), 103
    Xs, ys = X[:n], y[:n]
    res = tg.fit(model, Xs, ys, optim.SGD(lr=0.1), batch_size=10, epochs=3, random_state=0)
    assert res.nit == 3 * 11 and res.n_epochs == 3 and res.n_examples_seen == 3 * n
    assert res.history["loss"].shape == (33,) and res.history["epoch_loss"].shape == (3,)
    res = tg.fit(model, Xs, ys, optim.SGD(lr=0.1), batch_size=0.25, epochs=2, random_state=0)
    assert res.nit == 2 * 4 and res.n_examples_seen == 2 * n
    res = tg.fit(model, Xs, ys, optim.SGD(lr=0.1), batch_size=10, maxiter=15, random_state=0)
    assert res.nit == 15 and res.n_epochs == 1 and "maxiter" in res.message


def test_callback_events_and_stop():
    events = []

    def cb(info):
        events.append((info.event, info.epoch, info.step))
        assert info.theta is info.model.theta
        return info.event == "step" and info.step == 5

    res = tg.fit(mlp(), X, y, optim.Adam(), batch_size=40, epochs=4, callback=cb, random_state=0)
    assert res.nit == 5 and "callback" in res.message
    assert [e[0] for e in events] == ["step"] * 3 + ["epoch"] + ["step"] * 2 + ["end"]
    assert events[3][1] == 0 and events[4][1] == 1


def flipped_validation():
    """Validation labels opposite to the training labels: its loss rises as training proceeds."""
    return X, 1 - y


@pytest.mark.parametrize("opt,kw", [(optim.SGD(lr=0.2), {"batch_size": 30, "epochs": 50}),
                                    ("L-BFGS-B", {"maxiter": 50}), ("TNC", {"maxiter": 200}),
                                    ("CG", {"maxiter": 50})])
def test_early_stopping_restores_the_best_theta(opt, kw):
    seen = {}

    def cb(info):
        if info.event == "epoch":
            seen[info.epoch] = (info.val_loss, info.theta.copy())

    model = mlp()
    res = tg.fit(model, X, y, opt, validation_data=flipped_validation(), early_stopping=True, patience=3,
                 callback=cb, random_state=0, **kw)
    best = min(seen, key=lambda e: seen[e][0])
    assert res.best_epoch == best and res.n_epochs == len(seen) == best + 4
    assert res.history["val_loss"].shape == (res.n_epochs,)
    assert "did not improve" in res.message
    np.testing.assert_array_equal(model.theta, seen[best][1])


def test_tol_stops_like_scikit_learn():
    res = tg.fit(mlp(), X, y, optim.SGD(lr=0.05), batch_size=30, epochs=500, tol=1e-2, patience=2,
                 random_state=0)
    assert res.n_epochs < 500 and "tol=0.01" in res.message


@pytest.mark.parametrize("opt", [optim.SGD(lr=0.1), "L-BFGS-B"])
def test_keyboard_interrupt_keeps_the_last_theta_and_fit_continues(opt):
    kept = {}

    def cb(info):
        if info.event == "step" and info.step == 4:
            kept["theta"] = info.theta.copy()
            raise KeyboardInterrupt
        kept.setdefault("events", []).append(info.event)

    model = mlp()
    res = tg.fit(model, X, y, opt, batch_size=None if isinstance(opt, str) else 20, maxiter=20,
                 callback=cb, random_state=0)
    assert res.interrupted and not res.success and "interrupt" in kept["events"]
    np.testing.assert_array_equal(model.theta, kept["theta"])
    before = model.loss_value(model.theta, X, y)
    res = tg.fit(model, X, y, opt, batch_size=None if isinstance(opt, str) else 20, maxiter=20)
    assert not res.interrupted and model.loss_value(model.theta, X, y) < before


def test_resumed_run_equals_the_uninterrupted_one():
    a = mlp()
    tg.fit(a, X, y, optim.Adam(lr=0.01), batch_size=16, epochs=4, random_state=3)
    b, opt = mlp(), optim.Adam(lr=0.01)
    tg.fit(b, X, y, opt, batch_size=16, epochs=2, random_state=3)
    state, theta = opt.get_state(), b.theta.copy()
    c, opt2 = mlp(), optim.Adam(lr=0.01)
    c.theta[:] = theta
    opt2.set_state(state)
    tg.fit(c, X, y, opt2, batch_size=16, epochs=4, initial_epoch=2, random_state=3)
    np.testing.assert_array_equal(a.theta, c.theta)
    d = mlp()
    tg.fit(d, X, y, optim.Adam(lr=0.01), batch_size=16, epochs=4, random_state=4)
    assert not np.array_equal(a.theta, d.theta)


@pytest.mark.parametrize("opt", ["L-BFGS-B", "CG", "Newton-CG", optim.Adam(lr=0.05), optim.Rprop(),
                                 optim.Scipy("L-BFGS-B", maxiter=2)])
def test_frozen_node_does_not_move(opt):
    model = mlp()
    model["dense1"].trainable = False
    theta0 = model.theta.copy()
    frozen = model["dense1"].theta_slice
    tg.fit(model, X, y, opt, batch_size=None if not isinstance(opt, optim.Scipy) else 30, maxiter=10)
    np.testing.assert_array_equal(model.theta[frozen], theta0[frozen])
    assert not np.array_equal(model.theta[frozen.stop:], theta0[frozen.stop:])


def test_float32_model_trains_with_scipy_and_stays_float32():
    m32, m64 = mlp(np.float32), mlp()
    theta = m32.theta
    r32 = tg.fit(m32, X, y, "L-BFGS-B", maxiter=20)
    r64 = tg.fit(m64, X, y, "L-BFGS-B", maxiter=20)
    assert m32.theta is theta and m32.theta.dtype == np.float32
    assert r32.fun == pytest.approx(r64.fun, rel=1e-2) and r32.fun < 0.3


def test_non_finite_loss_names_the_step_and_the_node():
    model = tg.Sequential([tg.Dense(5, 1), tg.Identity(), tg.MeanSquaredError()], random_state=0)
    Xbig, ybig = X * 1e3, X[:, 0] * 1e3
    with pytest.raises(tg.NonFiniteError, match=r"step \d+: the loss node 'meansquarederror1'") as err:
        tg.fit(model, Xbig, ybig, optim.SGD(lr=10.0), batch_size=20, epochs=50)
    assert isinstance(err.value, FloatingPointError)
    assert np.all(np.isfinite(model.theta))
    model.theta[:] = 1e308                          # now the first matmul overflows
    with pytest.raises(tg.NonFiniteError, match=r"step 0: the output of node 'dense1'"):
        tg.fit(model, X, y, "L-BFGS-B")
    np.testing.assert_array_equal(model.theta, 1e308)


def test_validation_history_verbose_and_progress(capsys):
    res = tg.fit(mlp(), X, y, optim.Adam(lr=0.05), batch_size=30, epochs=3, validation_data=(X, y),
                 verbose=1, progress=True, random_state=0)
    h = res.history
    assert h["val_loss"].shape == h["val_score"].shape == h["epoch_loss"].shape == (3,)
    assert 0.5 < h["val_score"][-1] <= 1 and np.all(np.diff(h["epoch_time"]) > 0)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 3 and "val_score" in out


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        tg.fit(mlp(), X, y, optim.SGD(), batch_size=0)
    with pytest.raises(TypeError, match="optimizer"):
        tg.fit(mlp(), X, y, object(), batch_size=10)
    with pytest.raises(ValueError, match="epochs"):
        tg.fit(mlp(), X, y, optim.SGD(), batch_size=10, epochs=1, initial_epoch=2)
    with pytest.raises(ValueError, match="maxiter"):
        tg.fit(mlp(), X, y, "CG", maxiter=0)


class Square(tg.Node):
    """y = x², dx = 2x dy: a custom node without rforward (no exact curvature products)."""

    cached = ("x",)

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dy):
        return 2.0 * self.x * dy


def second_order_net(custom):
    """Logistic regression (Gauss-Newton = Hessian), or a net with a node lacking rforward."""
    layers = [tg.Dense(5, 3), Square(), tg.Dense(3, 2)] if custom else [tg.Dense(5, 2)]
    return tg.Sequential(layers + [tg.Softmax(), tg.CrossEntropy()], l2=1.0, random_state=0)


@functools.cache
def lbfgs_optimum(custom):
    return tg.fit(second_order_net(custom), X, y, "L-BFGS-B", maxiter=500, tol=1e-12, threads=1).fun


@pytest.mark.parametrize("custom", [False, True])
@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-krylov"])
def test_second_order_methods_get_hessp(method, custom):
    best = lbfgs_optimum(custom)
    if custom:  # no R-operators: finite-difference products, and a warning that says so
        with pytest.warns(UserWarning, match="forward differences of the gradient"):
            res = tg.fit(second_order_net(custom), X, y, method, maxiter=100, tol=1e-10)
    else:
        res = tg.fit(second_order_net(custom), X, y, method, maxiter=100, tol=1e-10)
    assert res.nhev > 0 and res.fun == pytest.approx(best, rel=1e-4)
    assert np.isfinite(res.x).all()


def test_sample_weight_zero_rows_are_ignored_full_batch_and_minibatch():
    w = (np.arange(len(X)) < 60).astype(float)
    a, b = mlp(), mlp()
    tg.fit(a, X, y, "L-BFGS-B", sample_weight=w, maxiter=15)
    tg.fit(b, X[:60], y[:60], "L-BFGS-B", maxiter=15)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-12)
    c, d = mlp(), mlp()
    tg.fit(c, X, y, optim.SGD(lr=0.1), sample_weight=w, batch_size=10, epochs=2, shuffle=False)
    tg.fit(d, X[:60], y[:60], optim.SGD(lr=0.1), batch_size=10, epochs=2, shuffle=False)
    np.testing.assert_allclose(c.theta, d.theta, rtol=1e-12)


def test_fit_twice_with_the_same_optimizer_continues_the_run():
    a, b, opt = mlp(), mlp(), optim.Adam(lr=0.01)
    tg.fit(a, X, y, optim.Adam(lr=0.01), batch_size=16, epochs=4, random_state=1)
    tg.fit(b, X, y, opt, batch_size=16, epochs=2, random_state=1)
    res = tg.fit(b, X, y, opt, batch_size=16, epochs=4, initial_epoch=2, random_state=1)
    assert opt.t == 4 * 8 and res.n_epochs == 2
    np.testing.assert_array_equal(a.theta, b.theta)


def test_float32_model_with_scipy_on_minibatches():
    model = mlp(np.float32)
    theta = model.theta
    before = model.loss_value(model.theta, X, y)
    res = tg.fit(model, X, y, optim.Scipy("CG", maxiter=2), batch_size=30, epochs=3, random_state=0)
    assert model.theta is theta and theta.dtype == np.float32
    assert model.loss_value(model.theta, X, y) < 0.8 * before and res.nfev > res.nit


@pytest.mark.parametrize("head", ["binary", "regression"])
def test_validation_score_matches_model_score(head):
    if head == "binary":
        model = tg.Sequential([tg.Dense(5, 1), tg.Sigmoid(), tg.CrossEntropy()], random_state=0)
        target = y
    else:
        model = tg.Sequential([tg.Dense(5, 3), tg.Tanh(), tg.Dense(3, 1), tg.MeanSquaredError()],
                              random_state=0)
        target = X @ np.linspace(-1, 1, 5)
    res = tg.fit(model, X, target, optim.Adam(lr=0.05), batch_size=20, epochs=3, random_state=0,
                 validation_data=(X[:50], target[:50]))
    assert res.history["val_score"][-1] == pytest.approx(model.score(X[:50], target[:50]), abs=1e-12)
    assert res.history["val_loss"][-1] == pytest.approx(model.loss_value(model.theta, X[:50], target[:50]))


def test_a_list_of_callbacks_all_run_and_any_stops():
    seen_a, seen_b = [], []
    res = tg.fit(mlp(), X, y, optim.SGD(lr=0.1), batch_size=40, epochs=5, random_state=0,
                 callback=[lambda i: seen_a.append(i.event) or i.event == "epoch" and i.epoch == 1,
                           lambda i: seen_b.append(i.event)])
    assert seen_a == seen_b and res.n_epochs == 2 and seen_a.count("epoch") == 2


def test_progress_without_tqdm_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match=r"tinygraph\[progress\]"):
        tg.fit(mlp(), X, y, optim.SGD(), batch_size=40, epochs=1, progress=True)


def test_verbose_two_prints_every_step(capsys):
    tg.fit(mlp(), X, y, optim.SGD(), batch_size=40, epochs=2, verbose=2, random_state=0)
    out = capsys.readouterr().out
    assert out.count("step ") == 6 and out.count("epoch ") == 2


def test_minibatch_loop_never_copies_the_data():
    import tracemalloc

    r = np.random.default_rng(0)
    Xbig, ybig = r.normal(size=(20000, 50)), r.integers(0, 2, 20000)
    model = tg.Sequential([tg.Dense(50, 4), tg.Tanh(), tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()])
    opt = optim.Adam()
    tg.fit(model, Xbig[:500], ybig[:500], opt, batch_size=100, epochs=1, random_state=0)  # warm buffers
    tracemalloc.start()
    tg.fit(model, Xbig, ybig, opt, batch_size=100, epochs=2, random_state=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the input checks' boolean masks and the epoch permutation are O(N) once; a copy of X is not
    assert peak < Xbig.nbytes / 4


@pytest.mark.parametrize("tol", [-1.0, float("nan"), "small"])
def test_bad_tol_is_refused(tol):
    X, y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2
    model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    with pytest.raises(ValueError, match="fit: tol must be a non-negative number"):
        tg.fit(model, X, y, "L-BFGS-B", tol=tol)


def test_unknown_scipy_method_is_named():
    X, y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2
    model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    with pytest.raises(ValueError, match=r"fit: unknown optimizer .LBFGS.; use a built-in one by name \(adadelta, .*\), a scipy method \(CG, BFGS"):
        tg.fit(model, X, y, "LBFGS")
    with pytest.raises(ValueError, match="minimize: unknown scipy method 'Nelder-Mead'"):
        tg.minimize(lambda x: (float(x @ x), 2 * x), np.ones(2), method="Nelder-Mead")
