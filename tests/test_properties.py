"""Property-based tests: gradients of random graphs, and clear errors for random bad inputs."""
import os
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinygraph as tg

ACTIVATIONS = [tg.Sigmoid, tg.Tanh, tg.ReLU, tg.Identity]
PACKAGE = os.path.dirname(tg.__file__)
N = 3  # examples per gradient check: enough to mix rows, few to stay fast
# More examples for a longer hunt: TINYGRAPH_EXAMPLES=2000 pytest tests/test_properties.py
SCALE = int(os.environ.get("TINYGRAPH_EXAMPLES", "0"))


@st.composite
def architectures(draw):
    """(model, X, y): 1-6 hidden layers of width 1-40, random activations, sigmoid or softmax
    outputs, and optionally a skip connection (Add of two equal-width layers, or a Concat)."""
    depth = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, 40), min_size=depth, max_size=depth))
    acts = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=depth, max_size=depth))
    skip = draw(st.sampled_from([None, "add", "concat"])) if depth >= 2 else None
    if skip:
        a = draw(st.integers(0, depth - 2))
        b = draw(st.integers(a + 1, depth - 1))
        if skip == "add":
            widths[b] = widths[a]
    softmax = draw(st.booleans())
    k = draw(st.integers(2, 5)) if softmax else draw(st.integers(1, 4))
    n_features = draw(st.integers(1, 8))
    x = h = tg.Input(n_features)
    hidden = []
    for i, (w, act) in enumerate(zip(widths, acts)):
        h = act()(tg.Dense(w)(h))
        if skip and i == b:
            h = (tg.Add() if skip == "add" else tg.Concat())(hidden[a], h)
        hidden.append(h)
    out = (tg.Softmax() if softmax else tg.Sigmoid())(tg.Dense(k)(h))
    l2 = draw(st.sampled_from([0.0, 0.1]))
    model = tg.Graph(x, tg.CrossEntropy()(out), l2=l2, init=draw(st.sampled_from(["glorot", "uniform"])),
                     random_state=draw(st.integers(0, 2 ** 16)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    X = rng.standard_normal((N, n_features))
    y = rng.integers(0, k, N) if softmax else rng.integers(0, 2, (N, k)).astype(float)
    return model, X, y


def away_from_kinks(model, X) -> bool:
    """ReLU is not differentiable at 0: central differences across the kink are meaningless."""
    model.forward(X)
    values = model.activations
    return all(np.abs(values[node.inputs[0].name]).min() > 1e-4
               for node in model.nodes if isinstance(node, tg.ReLU))


@settings(max_examples=SCALE or 40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=architectures(), seed=st.integers(0, 2 ** 16))
def test_random_graphs_pass_the_gradient_check(case, seed):
    model, X, y = case
    assume(away_from_kinks(model, X))
    if model.n_params <= 300:  # small nets: every coordinate, the course's checkNNGradients
        err = tg.check_gradients(model, X, y)
        assert err < 1e-6, f"relative error {err:.2e} for\n{model}"
    # Central differences resolve a derivative only to ~1e-10 (roundoff / eps), so a handful of
    # random coordinates deep in a sigmoid stack (gradients ~1e-8) cannot be checked to 1e-6 on
    # their own: probe the 8 largest coordinates, which set the norm, plus 16 random ones.
    _, grad = model.loss_and_grad(model.theta, X, y)
    rng = np.random.default_rng(seed)
    index = np.union1d(np.argsort(np.abs(grad))[-8:], rng.choice(model.n_params, min(16, model.n_params),
                                                                  replace=False))
    num = tg.gradcheck.numerical_gradient(lambda: model.loss_value(model.theta, X, y), model.theta,
                                          index=index)[index]
    err = tg.gradcheck.relative_error(grad[index], num)
    assert err < 1e-6, f"relative error {err:.2e} for\n{model}"


def models():
    """One model of each target kind: softmax labels, one sigmoid output, multi-label, regression."""
    def seq(*layers, **kw):
        return tg.Sequential(list(layers), random_state=0, **kw)
    return [
        seq(tg.Dense(3, 4), tg.Tanh(), tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()),
        seq(tg.Dense(3, 2), tg.ReLU(), tg.Dense(2, 1), tg.Sigmoid(), tg.CrossEntropy()),
        seq(tg.Dense(3, 2), tg.Sigmoid(), tg.CrossEntropy()),
        seq(tg.Dense(3, 4), tg.Tanh(), tg.Dense(4, 1), tg.MeanSquaredError()),
        seq(tg.Dense(3, 2), tg.MeanSquaredError()),
    ]


MODELS = models()
N_BAD = 5


def good(model, rng):
    X = rng.standard_normal((N_BAD, 3))
    k = model.output.out_shape[0]
    if isinstance(model.loss, tg.MeanSquaredError):
        return X, rng.standard_normal((N_BAD, k))
    return X, (rng.integers(0, k, N_BAD) if k > 1 and isinstance(model.output, tg.Softmax)
               else rng.integers(0, 2, (N_BAD, k)))


BAD_X = {
    "n_features": lambda X, r: r.standard_normal((X.shape[0], 4)),
    "1-d": lambda X, r: X[:, 0],
    "3-d": lambda X, r: X[:, :, None],
    "scalar": lambda X, r: 1.0,
    "strings": lambda X, r: X.astype(str),
    "object": lambda X, r: np.array([[None] * 3] * X.shape[0]),
    "complex": lambda X, r: X + 1j,
    "ragged": lambda X, r: [[1.0, 2.0, 3.0], [1.0, 2.0]],
    "nan": lambda X, r: np.where(np.arange(X.size).reshape(X.shape) == r.integers(X.size), np.nan, X),
    "inf": lambda X, r: np.where(np.arange(X.size).reshape(X.shape) == r.integers(X.size), -np.inf, X),
    "empty": lambda X, r: X[:0],
    "none": lambda X, r: None,
}
BAD_Y = {
    "length": lambda y, k, r: y[:-1],
    "too-long": lambda y, k, r: np.concatenate([y, y[:1]]),
    "label-range": lambda y, k, r: y + (k if y.ndim == 1 else 2),
    "negative": lambda y, k, r: y - 3,
    "float-labels": lambda y, k, r: y + 0.5,
    "width": lambda y, k, r: np.ones((len(y), k + 1)),
    "nan": lambda y, k, r: np.where(np.arange(y.size).reshape(y.shape) == 0, np.nan, y),
    "strings": lambda y, k, r: y.astype(str),
    "ragged": lambda y, k, r: [[0, 1], [1]] + [[0, 1]] * (len(y) - 2),
    "scalar": lambda y, k, r: 1,
    "none": lambda y, k, r: None,
}
BAD_THETA = {
    "short": lambda t: t[:-1],
    "long": lambda t: np.append(t, 0.0),
    "2-d": lambda t: t[None, :],
    "int": lambda t: t.astype(int),
    "nan": lambda t: np.where(np.arange(t.size) == t.size // 2, np.nan, t),
    "strings": lambda t: t.astype(str),
    "none": lambda t: None,
}
BAD_WEIGHT = {
    "length": lambda n: np.ones(n + 1),
    "negative": lambda n: -np.ones(n),
    "zeros": lambda n: np.zeros(n),
    "nan": lambda n: np.full(n, np.nan),
    "strings": lambda n: np.array(["a"] * n),
    "2-d": lambda n: np.ones((n, 2)),
}


def assert_clear_error(call, model):
    """The call raises ValueError/TypeError, raised by tinygraph itself, naming what is wrong."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    # Raised by a raise statement of tinygraph, not by numpy called from tinygraph.
    assert frame.filename.startswith(PACKAGE) and frame.line.startswith("raise"), \
        f"raised from {frame.filename}:{frame.lineno} {frame.line!r}: {info.value!r}"
    names = [node.name for node in model.nodes] + ["theta", "sample_weight", "fit"]
    assert any(name in str(info.value) for name in names), f"message names nothing: {info.value!r}"


@settings(max_examples=SCALE or 150, deadline=None)
@given(which=st.integers(0, len(MODELS) - 1), seed=st.integers(0, 2 ** 16),
       target=st.sampled_from(["X", "y", "theta", "sample_weight"]),
       x_kind=st.sampled_from(sorted(BAD_X)), y_kind=st.sampled_from(sorted(BAD_Y)),
       t_kind=st.sampled_from(sorted(BAD_THETA)), w_kind=st.sampled_from(sorted(BAD_WEIGHT)),
       call=st.sampled_from(["loss_and_grad", "loss_value", "forward", "predict", "score", "fit"]))
def test_bad_inputs_raise_clear_errors(which, seed, target, x_kind, y_kind, t_kind, w_kind, call):
    model = MODELS[which]
    rng = np.random.default_rng(seed)
    X, y = good(model, rng)
    theta, w = model.theta.copy(), None
    k = model.output.out_shape[0]
    if target == "X":
        X = BAD_X[x_kind](X, rng)
    elif target == "y":
        bad = BAD_Y[y_kind](y, k, rng)
        # A regression target may take any real value; a sigmoid target any probability.
        assume(not (isinstance(model.loss, tg.MeanSquaredError) and y_kind in ("label-range", "negative",
                                                                              "float-labels")))
        assume(not (y.ndim == 2 and y_kind == "float-labels"))
        y = bad
    elif target == "theta":
        theta = BAD_THETA[t_kind](theta)
    else:
        w = BAD_WEIGHT[w_kind](len(X))
    needs_y = call in ("loss_and_grad", "loss_value", "score", "fit")
    assume(needs_y or target == "X")
    assume(target in ("X", "y") or call in ("loss_and_grad", "loss_value"))
    calls = {
        "loss_and_grad": lambda: model.loss_and_grad(theta, X, y, sample_weight=w),
        "loss_value": lambda: model.loss_value(theta, X, y, sample_weight=w),
        "forward": lambda: model.forward(X),
        "predict": lambda: model.predict(X),
        "score": lambda: model.score(X, y),
        "fit": lambda: tg.fit(model, X, y, tg.optim.SGD(0.01), epochs=1, batch_size=2),
    }
    before = model.theta.copy()
    assert_clear_error(calls[call], model)
    assert np.array_equal(model.theta, before)  # a refused call leaves the model as it was
