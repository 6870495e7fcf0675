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
