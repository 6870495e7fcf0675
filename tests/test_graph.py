"""The graph and the flat theta: views, the scipy boundary, skip connections, dtypes, bad input."""
import pickle

import numpy as np
import pytest
import scipy.optimize as so

import tinygraph as tg


def course_net(**kw):
    return tg.Sequential([tg.Dense(8, 5), tg.Sigmoid(), tg.Dense(5, 3), tg.Sigmoid(), tg.CrossEntropy()],
                         **{"random_state": 0, **kw})


def data(n=12, d=8, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def skip_graph(**kw):
    x = tg.Input(8)
    h1 = tg.Tanh()(tg.Dense(8, 6)(x))
    h2 = tg.ReLU()(tg.Dense(6, 6)(h1))
    s = tg.Add()(h1, h2)
    c = tg.Concat()(s, tg.Sigmoid()(tg.Dense(8, 2)(x)))
    out = tg.Softmax()(tg.Dense(8, 3)(c))
    return tg.Graph(x, tg.CrossEntropy()(out), **{"random_state": 0, **kw})


def test_every_parameter_is_a_view_into_theta():
    model = course_net()
    assert model.theta.ndim == 1 and model.theta.shape == model.grad.shape == (8 * 5 + 5 + 5 * 3 + 3,)
    for layer in (model.layers[0], model.layers[2]):
        assert np.shares_memory(layer.W, model.theta) and np.shares_memory(layer.b, model.theta)
        assert np.shares_memory(layer.dW, model.grad) and np.shares_memory(layer.db, model.grad)
        assert layer.W.shape == (layer.n_in, layer.n_out) and layer.b.shape == (layer.n_out,)
        np.testing.assert_array_equal(model.theta[layer.theta_slice][:layer.W.size], layer.W.ravel())
    assert [n.theta_slice for n in model.nodes if n.size] == [slice(0, 45), slice(45, 63)]


def test_writing_theta_changes_the_model_without_rebinding():
    X, _ = data()
    model = course_net()
    before = model.forward(X)
    model.theta[:] = 0.0
    np.testing.assert_allclose(model.forward(X), 0.5)
    assert not np.allclose(before, 0.5)


def test_loss_and_grad_copies_in_and_returns_fresh_arrays():
    X, y = data()
    model = course_net(l2=0.1)
    t1 = model.theta.copy()
    t2 = t1 + 0.01
    l1, g1 = model.loss_and_grad(t1, X, y)
    l2, g2 = model.loss_and_grad(t2, X, y)
    assert isinstance(l1, float) and g1.shape == t1.shape
    assert not np.shares_memory(g1, model.grad) and not np.shares_memory(g1, g2)
    assert l1 != l2 and not np.array_equal(g1, g2)
    np.testing.assert_array_equal(model.theta, t2)
    assert not np.shares_memory(model.theta, t2)
    l1b, g1b = model.loss_and_grad(t1, X, y)
    assert l1b == l1 and np.array_equal(g1b, g1)


def test_out_buffer():
    X, y = data()
    model = course_net()
    out = np.empty_like(model.theta)
    _, g = model.loss_and_grad(model.theta, X, y, out=out)
    assert g is out and np.array_equal(out, model.grad)


@pytest.mark.parametrize("method", ["L-BFGS-B", "CG", "BFGS", "TNC"])
def test_scipy_minimize_trains(method):
    X, y = data(n=60)
    model = course_net(l2=0.01)
    loss0 = model.loss_and_grad(model.theta, X, y)[0]
    res = so.minimize(model.loss_and_grad, model.theta.copy(), args=(X, y), jac=True, method=method,
                      options={"maxfun" if method == "TNC" else "maxiter": 60})
    model.theta[:] = res.x
    assert res.fun < 0.6 * loss0
    assert model.loss_and_grad(model.theta, X, y)[0] == pytest.approx(res.fun, rel=1e-10)


def test_skip_connection_graph():
    X, y = data()
    model = skip_graph()
    names = [n.name for n in model.nodes]
    for src, dst in model.edges:
        assert names.index(src.name) < names.index(dst.name)
    assert model["add1"].inputs == (model["tanh1"], model["relu1"])
    assert model["dense1"].need_dx is False and model["add1"].need_dx is True
    assert tg.check_gradients(model, X, y) < 1e-6


def test_fan_out_gradients_accumulate():
    X, y = data()
    x = tg.Input(8)
    h = tg.Tanh()(tg.Dense(8, 4)(x))
    out = tg.Sigmoid()(tg.Dense(4, 3)(tg.Add()(h, h, tg.Tanh()(h))))
    model = tg.Graph(x, tg.CrossEntropy()(out), random_state=0)
    assert tg.check_gradients(model, X, y) < 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_random_deep_stacks(seed):
    rng = np.random.default_rng(seed)
    widths = rng.integers(2, 9, rng.integers(2, 6))
    layers, n_in = [], 8
    for w in widths:
        layers += [tg.Dense(n_in, int(w)), [tg.Sigmoid, tg.Tanh, tg.ReLU, tg.Identity][rng.integers(4)]()]
        n_in = int(w)
    out = [tg.Sigmoid, tg.Softmax][seed % 2]
    model = tg.Sequential(layers + [tg.Dense(n_in, 3), out(), tg.CrossEntropy()], l2=0.3, random_state=seed)
    X, y = data(seed=seed)
    assert tg.check_gradients(model, X, y) < 1e-6


def test_float32_end_to_end():
    X, y = data()
    model = course_net(dtype=np.float32, l2=0.1)
    loss, grad = model.loss_and_grad(model.theta, X, y)
    assert model.theta.dtype == model.grad.dtype == grad.dtype == np.float32
    assert all(v.dtype == np.float32 for v in model.activations.values())
    ref = course_net(l2=0.1)
    ref.theta[:] = model.theta
    loss64, grad64 = ref.loss_and_grad(ref.theta, X, y)
    assert loss == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grad, grad64, rtol=1e-3, atol=1e-6)
    # scipy passes float64: the gradient comes back in the caller's dtype, theta stays float32
    _, g = model.loss_and_grad(model.theta.astype(np.float64), X, y)
    assert g.dtype == np.float64 and model.theta.dtype == np.float32


@pytest.mark.parametrize("init", ["uniform", "glorot", "xavier", "sigmoid", "he"])
def test_init_schemes_and_reproducibility(init):
    a, b, c = course_net(init=init), course_net(init=init), course_net(init=init, random_state=1)
    assert np.array_equal(a.theta, b.theta) and not np.array_equal(a.theta, c.theta)
    W = a.layers[0].W
    if init == "uniform":
        assert np.abs(a.theta).max() <= 0.12 and np.abs(a.layers[0].b).max() > 0
    elif init in ("glorot", "xavier"):
        assert np.abs(W).max() <= np.sqrt(6 / 13) and not a.layers[0].b.any()
    elif init == "sigmoid":
        assert np.abs(W).max() > np.sqrt(6 / 13) >= np.abs(W).max() / 4


def test_per_layer_init_overrides_model():
    model = tg.Sequential([tg.Dense(8, 5, init="uniform"), tg.Sigmoid(), tg.Dense(5, 3), tg.Sigmoid(),
                           tg.CrossEntropy()], init="he", random_state=0)
    assert np.abs(model.layers[0].theta_slice.stop - 0) and np.abs(model.layers[0].W).max() <= 0.12
    assert not model.layers[2].b.any()


def test_pickle_keeps_views():
    X, _ = data()
    model = course_net()
    clone = pickle.loads(pickle.dumps(model))
    assert np.shares_memory(clone.layers[0].W, clone.theta)
    np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
    clone.theta[:] = 0
    assert not np.allclose(model.theta, 0)


def test_predict_and_score():
    X, y = data()
    model = course_net()
    proba = model.predict_proba(X)
    assert proba.shape == (12, 3)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(1))
    assert model.score(X, y) == np.mean(model.predict(X) == y)


BAD = [
    (lambda X, y, t: (X[:, :5], y, t), ValueError, r"input: expects X of shape \(N, 8\), got \(12, 5\)"),
    (lambda X, y, t: (X[:0], y[:0], t), ValueError, "empty"),
    (lambda X, y, t: (np.where(X > 1, np.nan, X), y, t), ValueError, "NaN"),
    (lambda X, y, t: (X, y[:-1], t), ValueError, r"X has 12 rows but y has shape \(11,\)"),
    (lambda X, y, t: (X, y + 3, t), ValueError, r"labels must lie in \[0, 2\]"),
    (lambda X, y, t: (X, y.astype(str), t), TypeError, "labels must be integers"),
    (lambda X, y, t: (X, y, t[:-1]), ValueError, r"theta must have shape \(63,\), got \(62,\)"),
    (lambda X, y, t: (X, y, t.astype(complex)), TypeError, "theta must be a real floating"),
    (lambda X, y, t: (X, y, np.where(t > 0, np.inf, t)), ValueError, "theta contains NaN or inf"),
    (lambda X, y, t: (X.astype(str), y, t), TypeError, "X must hold real numbers"),
    (lambda X, y, t: (X, np.eye(4)[y], t), ValueError, r"crossentropy1: expects targets of shape \(12, 3\)"),
]


@pytest.mark.parametrize("make,exc,msg", BAD)
def test_bad_input_is_named(make, exc, msg):
    X, y = data()
    model = course_net()
    X, y, theta = make(X, y, model.theta.copy())
    with pytest.raises(exc, match=msg):
        model.loss_and_grad(theta, X, y)


def test_wrong_wiring_errors():
    with pytest.raises(ValueError, match=r"dense2: expects 5 input features, its input sigmoid1 gives 4"):
        tg.Sequential([tg.Dense(8, 4), tg.Sigmoid(), tg.Dense(5, 3), tg.Sigmoid(), tg.CrossEntropy()])
    x = tg.Input(3)
    with pytest.raises(ValueError, match="inputs must share one shape"):
        tg.Graph(x, tg.Add()(tg.Dense(3, 2)(x), tg.Dense(3, 4)(x)))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        course_net(dtype=np.int32)
    with pytest.raises(ValueError, match="does not fix the input size"):
        tg.Sequential([tg.Dense(3), tg.CrossEntropy()])
