"""Losses: the course cost exactly, fused gradients, targets, sample weights, saturation."""
import numpy as np
import pytest

import tinygraph as tg


def course_cost(model, X, y, K, lam):
    """The course's nnCostFunction, written out with probabilities as in the Octave exercise."""
    W1, b1 = model.layers[0].W, model.layers[0].b
    W2, b2 = model.layers[2].W, model.layers[2].b
    h = 1 / (1 + np.exp(-((1 / (1 + np.exp(-(X @ W1 + b1)))) @ W2 + b2)))
    Y = np.eye(K)[y]
    m = len(X)
    J = np.sum(-Y * np.log(h) - (1 - Y) * np.log(1 - h)) / m
    return J + lam / (2 * m) * (np.sum(W1 ** 2) + np.sum(W2 ** 2))


def course_net(l2=0.0, **kw):
    return tg.Sequential([tg.Dense(6, 5), tg.Sigmoid(), tg.Dense(5, 4), tg.Sigmoid(), tg.CrossEntropy()],
                         l2=l2, random_state=0, **kw)


def data(n=9, d=6, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


@pytest.mark.parametrize("lam", [0.0, 1.0, 3.0])
def test_course_cost_and_regularisation(lam):
    X, y = data()
    model = course_net(l2=lam, init="uniform")
    loss, _ = model.loss_and_grad(model.theta, X, y)
    assert loss == pytest.approx(course_cost(model, X, y, 4, lam), rel=1e-12)
    assert tg.check_gradients(model, X, y) < 1e-6


def test_l2_skips_biases():
    X, y = data()
    a, b = course_net(l2=0.0), course_net(l2=2.0)
    ga, gb = a.loss_and_grad(a.theta, X, y)[1], b.loss_and_grad(b.theta, X, y)[1]
    for node in (b.layers[0], b.layers[2]):
        np.testing.assert_allclose(gb[node.start + node.W.size:node.stop], ga[node.start + node.W.size:node.stop])
        dW = (gb - ga)[node.start:node.start + node.W.size]
        np.testing.assert_allclose(dW, 2.0 / len(X) * node.W.ravel())


def test_one_hot_equals_labels():
    X, y = data()
    model = course_net()
    l1, g1 = model.loss_and_grad(model.theta, X, y)
    l2, g2 = model.loss_and_grad(model.theta, X, np.eye(4)[y])
    assert l1 == pytest.approx(l2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_softmax_cross_entropy_gradients_and_value():
    X, y = data()
    model = tg.Sequential([tg.Dense(6, 4), tg.Softmax(), tg.CrossEntropy()], random_state=1)
    loss, _ = model.loss_and_grad(model.theta, X, y)
    z = X @ model.layers[0].W + model.layers[0].b
    expected = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y])
    assert loss == pytest.approx(expected, rel=1e-12)
    assert tg.check_gradients(model, X, y) < 1e-6
    assert tg.check_gradients(model, X, np.full((9, 4), 0.25)) < 1e-6


def test_single_sigmoid_output_binary_labels():
    X, _ = data()
    y = (X[:, 0] > 0).astype(int)
    model = tg.Sequential([tg.Dense(6, 1), tg.Sigmoid(), tg.CrossEntropy()], random_state=0)
    assert tg.check_gradients(model, X, y) < 1e-6
    assert set(np.unique(model.predict(X))) <= {0, 1}


def test_mse_value_and_gradients():
    X, _ = data()
    t = np.random.default_rng(5).standard_normal((9, 2))
    model = tg.Sequential([tg.Dense(6, 3), tg.Tanh(), tg.Dense(3, 2), tg.MeanSquaredError()], random_state=0)
    loss, _ = model.loss_and_grad(model.theta, X, t)
    assert loss == pytest.approx(0.5 * np.mean(np.sum((model.forward(X) - t) ** 2, axis=1)), rel=1e-12)
    assert tg.check_gradients(model, X, t) < 1e-6


def test_sample_weight_is_a_weighted_mean():
    X, y = data()
    model = course_net(l2=0.5)
    w = np.random.default_rng(2).uniform(0.1, 2.0, len(X))
    assert tg.check_gradients(model, X, y, sample_weight=w) < 1e-6
    ones = model.loss_and_grad(model.theta, X, y, sample_weight=np.ones(len(X)))
    plain = model.loss_and_grad(model.theta, X, y)
    assert ones[0] == pytest.approx(plain[0], rel=1e-13)
    # integer weights mean repeated rows
    rep = model.loss_and_grad(model.theta, np.repeat(X[:2], [2, 1], axis=0), np.repeat(y[:2], [2, 1]))
    wt = model.loss_and_grad(model.theta, X[:2], y[:2], sample_weight=[2, 1])
    assert rep[0] == pytest.approx(wt[0], rel=1e-12)
    np.testing.assert_allclose(rep[1], wt[1], rtol=1e-10)


@pytest.mark.parametrize("activation", [tg.Sigmoid, tg.Softmax])
def test_cross_entropy_saturation(activation):
    model = tg.Sequential([tg.Dense(2, 3), activation(), tg.CrossEntropy()], random_state=0)
    model.theta[:] = 0
    model.layers[0].W[...] = [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    X = np.array([[1000.0, 0.0], [-1000.0, 1000.0], [0.0, -1000.0]])
    loss, grad = model.loss_and_grad(model.theta, X, np.array([1, 0, 2]))
    assert np.isfinite(loss) and loss > 100 and np.isfinite(grad).all()
    assert np.isfinite(model.predict_proba(X)).all()


def test_cross_entropy_must_follow_sigmoid_or_softmax():
    with pytest.raises(TypeError, match="must follow Sigmoid or Softmax"):
        tg.Sequential([tg.Dense(2, 3), tg.Tanh(), tg.CrossEntropy()])
