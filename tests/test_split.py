"""Slice: part of a feature axis, against central differences, R-operators, PyTorch and saving."""
import numpy as np
import pytest

import tinygraph as tg


@pytest.mark.parametrize("shape, args", [((7,), (2, 5)), ((7,), (-3, 7)), ((3, 4, 5), (1, 3)),
                                         ((3, 4, 5), (0, 2, -1)), ((3, 4, 5), (1, 4, 2))])
def test_slice_gradients_and_r_operators(shape, args):
    node = tg.Slice(*args)
    errors = tg.check_node_gradients(node, shape)
    assert max(errors.values()) < 1e-6, errors
    r = tg.check_node_r_operators(tg.Slice(*args), shape)
    assert max(r.values()) < 1e-6, r


def test_slice_values_and_shapes():
    node = tg.Slice(1, 3)
    tg.check_node_gradients(node, (5,))
    x = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(node.forward(x), x[:, 1:3])
    assert node.out_shape == (2,)
    np.testing.assert_array_equal(node.backward(np.ones((2, 2))), [[0, 1, 1, 0, 0]] * 2)
    node = tg.Slice(0, 2, axis=-1)
    tg.check_node_gradients(node, (3, 4))
    assert node.out_shape == (3, 2)


def test_slice_saturates_without_warnings():
    node = tg.Slice(0, 2)
    tg.check_node_gradients(node, (4,))
    x = np.array([[-1000.0, 1000.0, 5.0, -5.0]])
    with np.errstate(all="raise"):
        assert np.isfinite(node.forward(x)).all() and np.isfinite(node.backward(np.ones((1, 2)))).all()


def test_slice_equals_torch_narrow_and_its_gradient():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for Slice")
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((4, 3, 6)), rng.standard_normal((4, 3, 2))
    node = tg.Slice(2, 4, axis=-1)
    tg.check_node_gradients(node, (3, 6))
    xt = torch.tensor(x, requires_grad=True)
    yt = xt.narrow(-1, 2, 2)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(node.forward(x), yt.detach().numpy(), rtol=1e-10, atol=0)
    np.testing.assert_allclose(node.backward(dy), xt.grad.numpy(), rtol=1e-10, atol=0)


@pytest.mark.parametrize("args, kwargs, shape, match", [
    ((3, 3), {}, (5,), "takes nothing"), ((0, 2), {"axis": 3}, (5,), "axis 3 does not exist"),
    ((6, 8), {}, (5,), "takes nothing")])
def test_slice_refuses_bad_ranges_by_name(args, kwargs, shape, match):
    x = tg.Input(shape)
    with pytest.raises(ValueError, match=f"slice1: .*{match}"):
        tg.Graph(x, tg.Slice(*args, **kwargs)(x))


def test_slice_refuses_the_batch_axis_and_non_integers():
    with pytest.raises(ValueError, match="batch axis"):
        tg.Slice(0, 1, axis=0)
    with pytest.raises(TypeError, match="start must be an int"):
        tg.Slice(0.5, 2)


def test_model_with_slices_saves_and_loads(tmp_path):
    x = tg.Input(6)
    a = tg.Dense(4, 3)(tg.Slice(0, 4)(x))
    out = tg.Concat()(a, tg.Slice(4, 6)(x))
    model = tg.Graph(x, tg.MeanSquaredError()(tg.Dense(5, 1)(out)), random_state=0)
    X, y = np.random.default_rng(0).standard_normal((30, 6)), np.arange(30.0)
    assert tg.check_gradients(model, X, y) < 1e-6
    back = tg.load(tg.save(model, tmp_path / "sliced.npz"))
    np.testing.assert_array_equal(back.forward(X), model.forward(X))
