"""Bad numbers during training: a clear NonFiniteError naming step and node, the last finite theta
kept, and gradient-norm clipping (the training loop and optimizers are tinygraph.training/optim)."""
import re

import numpy as np
import pytest

import tinygraph as tg


class Log(tg.Node):
    """y = log x: NaN for negative inputs, the way a user's node can go wrong."""

    cached = ("x",)

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, dy):
        return dy / self.x


class InfGrad(tg.Node):
    """Identity forward; its backward returns an infinite input gradient."""

    def forward(self, x):
        return x

    def backward(self, dy):
        dx = dy.copy()
        dx[0, 0] = np.inf
        return dx


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    return X, X @ np.array([1.0, -2.0])


def regression(*middle):
    return tg.Sequential([tg.Dense(2, 8), *middle, tg.Dense(8, 1), tg.MeanSquaredError()], random_state=0)


def snapshots():
    """A callback that keeps theta after every step, and the list it fills."""
    kept = []

    def callback(info):
        if info.event == "step":
            kept.append(info.theta.copy())
    return callback, kept


def test_divergence_stops_at_the_failing_step_and_keeps_the_last_finite_theta(data):
    X, y = data
    model = regression(tg.Identity())
    callback, kept = snapshots()
    with pytest.raises(tg.NonFiniteError, match=r"non-finite (loss|update) at step \d+") as info:
        tg.fit(model, X, y, tg.optim.SGD(2.0), batch_size=10, epochs=50, random_state=0, callback=callback)
    step = int(re.search(r"at step (\d+)", str(info.value)).group(1))
    assert step == len(kept) > 0  # steps count from 0: the failing one is the next after those kept
    assert np.isfinite(model.theta).all() and np.array_equal(model.theta, kept[-1])


@pytest.mark.parametrize("optimizer", ["minibatch", "L-BFGS-B", "scipy-minibatch"])
def test_a_nan_output_names_its_node(data, optimizer):
    X, y = data
    model = regression(Log())
    theta0 = model.theta.copy()
    opt = {"minibatch": tg.optim.Adam(0.01), "L-BFGS-B": "L-BFGS-B",
           "scipy-minibatch": tg.optim.Scipy("CG", maxiter=2)}[optimizer]
    with pytest.raises(tg.NonFiniteError, match=r"at step 0: the output of node 'log1' \(Log\)"):
        tg.fit(model, X, y, opt, batch_size=None if optimizer == "L-BFGS-B" else 10, epochs=1)
    assert np.array_equal(model.theta, theta0)


def test_nonfinite_error_is_a_floating_point_error():
    assert issubclass(tg.NonFiniteError, FloatingPointError)


def test_nan_in_the_data_is_refused_before_training(data):
    X, y = data
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="input: X contains NaN or inf"):
        tg.fit(regression(tg.Tanh()), X, y, tg.optim.SGD(0.1), batch_size=10, epochs=1)


def test_an_infinite_input_gradient_names_the_node_that_made_it(data):
    X, y = data
    with pytest.raises(tg.NonFiniteError, match="'infgrad1'"):
        tg.fit(regression(InfGrad()), X, y, tg.optim.SGD(0.1), batch_size=10, epochs=1)


STATEFUL = {
    "momentum": lambda: tg.optim.SGD(0.1, momentum=0.9),
    "adagrad": lambda: tg.optim.AdaGrad(0.1),
    "rmsprop": lambda: tg.optim.RMSProp(0.1),
    "adadelta": lambda: tg.optim.Adadelta(),
    "adam": lambda: tg.optim.Adam(0.1),
    "adamw": lambda: tg.optim.AdamW(0.1),
    "rprop": lambda: tg.optim.Rprop(0.1),
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_a_refused_step_leaves_the_optimizer_state_as_it_was(name):
    opt = STATEFUL[name]()
    theta = np.zeros(5)
    opt.step(theta, np.arange(1.0, 6.0))
    before, theta_before = opt.get_state(), theta.copy()
    g = np.arange(1.0, 6.0)
    g[2] = np.nan
    with pytest.raises(tg.NonFiniteError):
        opt.step(theta, g)
    after = opt.get_state()
    assert np.array_equal(theta, theta_before)
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_clipnorm_rescales_only_gradients_longer_than_it(scale):
    g = np.array([3.0, -4.0]) * scale / 5.0  # norm = scale
    theta = np.zeros(2)
    tg.optim.SGD(1.0, clipnorm=1.0).step(theta, g.copy())
    assert np.allclose(-theta, g * min(1.0, 1.0 / scale), rtol=1e-15)


def test_clipnorm_survives_a_huge_finite_gradient():
    theta = np.zeros(4)
    tg.optim.SGD(1.0, clipnorm=1.0).step(theta, np.full(4, 1e200))
    assert np.allclose(theta, -0.5)


def test_clipnorm_turns_a_diverging_run_into_a_finite_one(data):
    X, y = data
    with pytest.raises(tg.NonFiniteError):
        tg.fit(regression(tg.Identity()), X, y, tg.optim.SGD(2.0), batch_size=10, epochs=50, random_state=0)
    model = regression(tg.Identity())
    res = tg.fit(model, X, y, tg.optim.SGD(2.0, clipnorm=1.0), batch_size=10, epochs=50, random_state=0)
    assert np.isfinite(model.theta).all() and np.isfinite(res.history["loss"]).all()
