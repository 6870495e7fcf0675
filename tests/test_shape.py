"""Flatten and Reshape: shapes, gradients, R-operators, errors, configs."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.gradcheck import check_node_r_operators


@pytest.mark.parametrize("make, in_shape, out_shape", [
    (tg.Flatten, (2, 3, 4), (24,)),
    (lambda: tg.Reshape((4, -1)), (2, 3, 4), (4, 6)),
    (lambda: tg.Reshape((1, 5, 2)), (10,), (1, 5, 2)),
    (lambda: tg.Reshape(-1), (3, 2), (6,)),
])
def test_shapes_gradients_and_r_operators(make, in_shape, out_shape):
    node = make()
    errors = tg.check_node_gradients(node, in_shape, n=3)
    assert node.out_shape == out_shape
    assert max(errors.values()) < 1e-6, errors
    errors = check_node_r_operators(make(), in_shape, n=1)
    assert max(errors.values()) < 1e-8, errors


def test_flatten_matches_numpy_row_major_order():
    node = tg.Flatten()
    tg.check_node_gradients(node, (2, 2, 2))
    x = np.arange(16.0).reshape(2, 2, 2, 2)
    np.testing.assert_array_equal(node.forward(x), x.reshape(2, 8))
    np.testing.assert_array_equal(node.backward(x.reshape(2, 8)), x)


def test_errors():
    with pytest.raises(ValueError, match=r"reshape1: cannot reshape features of shape \(2, 3\) \(6 values\) to \(4,\)"):
        tg.Sequential([tg.Reshape(4)], input_shape=(2, 3))
    with pytest.raises(ValueError, match="at most one entry of shape may be -1"):
        tg.Reshape((-1, -1))
    with pytest.raises(ValueError, match="Reshape: the feature shape must be"):
        tg.Reshape((0, 2))


def test_config_rebuilds_the_node():
    for node in (tg.Flatten(name="f"), tg.Reshape((2, -1))):
        clone = type(node)(**node.get_config())
        assert clone.get_config() == node.get_config()
