"""Per-node output shapes, gradient checks (float64, random upstream gradient) and saturation."""
import numpy as np
import pytest

import tinygraph as tg

ELEMENTWISE = [tg.Sigmoid, tg.Tanh, tg.Identity, tg.Softmax]


@pytest.mark.parametrize("node", [tg.Dense(5, 3), tg.Dense(3)], ids=["n_in_n_out", "n_out"])
def test_dense_gradients(node):
    errors = tg.check_node_gradients(node, (5,))
    assert node.out_shape == (3,)
    assert set(errors) == {"x0", "W", "b"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("cls", ELEMENTWISE)
def test_elementwise_gradients(cls):
    errors = tg.check_node_gradients(cls(), (6,), scale=3.0)
    assert max(errors.values()) < 1e-6, errors


def test_relu_gradient_away_from_kink():
    node = tg.ReLU()
    errors = tg.check_node_gradients(node, (7,), random_state=3)
    assert errors["x0"] < 1e-6


def test_relu_values():
    node = tg.ReLU()
    tg.check_node_gradients(node, (3,))
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(node.forward(x), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(node.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("cls", [tg.Add, tg.Concat])
def test_merge_gradients(cls):
    errors = tg.check_node_gradients(cls(), (4,), (4,), (4,))
    assert set(errors) == {"x0", "x1", "x2"}
    assert max(errors.values()) < 1e-6, errors


def test_concat_shapes():
    node = tg.Concat()
    tg.check_node_gradients(node, (2,), (5,))
    assert node.out_shape == (7,)


@pytest.mark.parametrize("cls", [tg.Sigmoid, tg.Tanh, tg.ReLU, tg.Softmax])
def test_saturation_is_finite(cls):
    node = cls()
    tg.check_node_gradients(node, (4,))
    x = np.array([[1000.0, -1000.0, 0.0, 1000.0], [-1000.0, -1000.0, -1000.0, -1000.0]])
    y = node.forward(x)
    dx = node.backward(np.ones_like(x))
    assert np.isfinite(y).all() and np.isfinite(dx).all()


def test_sigmoid_and_softmax_values():
    s, sm = tg.Sigmoid(), tg.Softmax()
    tg.check_node_gradients(s, (3,))
    tg.check_node_gradients(sm, (3,))
    x = np.array([[0.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(s.forward(x), [[0.5, 1.0, 0.0]])
    np.testing.assert_allclose(sm.forward(x), [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(sm.forward(np.log([[1.0, 2.0, 5.0]])), [[0.125, 0.25, 0.625]])


def test_sigmoid_float32_matches_expit_and_never_overflows():
    """float32 has its own formula (numpy's exp on x clipped to ±87): the hidden node and the
    binary cross-entropy's fused sigmoid both use it."""
    from scipy.special import expit
    x = np.concatenate([np.linspace(-100, 100, 20001), [-1000.0, -88.0, 88.0, 1000.0]]).astype(np.float32)
    X, y = x[:, None], (x > 0).astype(np.float32)[:, None]
    hidden = tg.Sequential([tg.Dense(1, 1), tg.Sigmoid(), tg.Dense(1, 1), tg.MeanSquaredError()],
                           dtype=np.float32)
    fused = tg.Sequential([tg.Dense(1, 1), tg.Sigmoid(), tg.CrossEntropy()], dtype=np.float32)
    for model in (hidden, fused):
        model.theta[:] = 0.0
        model.layers[0].W[...] = 1.0  # the sigmoid sees x itself
    with np.errstate(all="raise"):  # no overflow, underflow or invalid, not even as a flag
        tg.nodes.activations.sigmoid(X, np.empty_like(X))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _, g = hidden.loss_and_grad(hidden.theta, X, y)
        _, g2 = fused.loss_and_grad(fused.theta, X, y)
    for s in (hidden.layers[1].y[:, 0], fused.loss.p[:, 0]):
        assert s.dtype == np.float32
        np.testing.assert_allclose(s, expit(x), rtol=4e-7, atol=2e-38)
        assert s[-1] == 1.0 and 0.0 < s[-4] < 2e-38 and np.all(np.diff(s[:-4]) >= 0)
    assert np.isfinite(g).all() and np.isfinite(g2).all()


def test_dense_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_out"):
        tg.Dense(3, 0)
    with pytest.raises(ValueError, match="init"):
        tg.Dense(3, 2, init="bogus")


def test_node_wired_once():
    d = tg.Dense(2, 2)
    x = tg.Input(2)
    d(x)
    with pytest.raises(ValueError, match="already wired"):
        d(x)
