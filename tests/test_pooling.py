"""MaxPool2D, AvgPool2D, GlobalAvgPool2D: gradients and R-operators against central differences
(max-pool inputs drawn away from ties), PyTorch's max_pool2d/avg_pool2d as the oracle (ties
included), saturation, errors."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.gradcheck import check_node_r_operators

CASES = [  # (pool_size, stride, (C, H, W), n): tiling, remainder, overlap, gaps, odd, batch 1
    (2, None, (2, 6, 8), 2),
    (2, None, (3, 7, 5), 1),
    (3, 2, (2, 7, 9), 2),
    ((2, 3), (3, 2), (1, 8, 9), 3),
    (3, 1, (1, 5, 5), 1),
]
IDS = [f"p{p}-s{s}-{'x'.join(map(str, shp))}-n{n}" for p, s, shp, n in CASES]


def distinct(n, shape, seed=0):
    """Inputs whose values differ by at least 0.01: no window ties within the probe's reach."""
    size = n * int(np.prod(shape))
    values = np.random.default_rng(seed).permutation(size) * 0.01 - 0.005 * size
    return values.reshape(n, *shape)


@pytest.mark.parametrize("p, s, shape, n", CASES, ids=IDS)
def test_maxpool_gradients(p, s, shape, n):
    errors = tg.check_node_gradients(tg.MaxPool2D(p, s), shape, xs=[distinct(n, shape)])
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("p, s, shape, n", CASES, ids=IDS)
def test_maxpool_r_operators(p, s, shape, n):
    errors = check_node_r_operators(tg.MaxPool2D(p, s), shape, xs=[distinct(n, shape, 1)])
    assert max(errors.values()) < 1e-8, errors


@pytest.mark.parametrize("cls", [tg.AvgPool2D, tg.GlobalAvgPool2D])
@pytest.mark.parametrize("p, s, shape, n", CASES, ids=IDS)
def test_average_pools(cls, p, s, shape, n):
    node = cls(p, s) if cls is tg.AvgPool2D else cls()
    errors = tg.check_node_gradients(node, shape, n=n)
    assert max(errors.values()) < 1e-6, errors
    errors = check_node_r_operators(cls(p, s) if cls is tg.AvgPool2D else cls(), shape, n=n)
    assert max(errors.values()) < 1e-8, errors


@pytest.mark.parametrize("p, s, shape, n", CASES, ids=IDS)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "relu_zeros"])
def test_equal_pytorch(p, s, shape, n, ties):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the pools")
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, *shape))
    if ties:  # after a ReLU whole windows are 0: the first offset wins in both
        x = np.maximum(x, 0.0)
    for node, fn in ((tg.MaxPool2D(p, s), F.max_pool2d), (tg.AvgPool2D(p, s), F.avg_pool2d),
                     (tg.GlobalAvgPool2D(), lambda t, *_: t.mean(dim=(2, 3)))):
        tg.check_node_gradients(node, shape, n=1)  # builds it
        y = node.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = node.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        yt = fn(xt, p, s)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)


def test_maxpool_ties_go_to_the_first_offset():
    node = tg.MaxPool2D(2)
    tg.check_node_gradients(node, (1, 2, 2), n=1)
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    assert node.forward(x)[0, 0, 0, 0] == 3.0
    np.testing.assert_array_equal(node.backward(np.ones((1, 1, 1, 1)))[0, 0], [[0, 1], [0, 0]])


@pytest.mark.parametrize("make", [lambda: tg.MaxPool2D(2), lambda: tg.AvgPool2D(3, 2), tg.GlobalAvgPool2D])
def test_saturated_inputs_stay_finite_without_warnings(make):
    node = make()
    tg.check_node_gradients(node, (2, 6, 6), n=1)
    x = 1000.0 * np.sign(np.random.default_rng(0).standard_normal((2, 2, 6, 6)))
    with np.errstate(all="raise"):
        y = node.forward(x)
        dx = node.backward(np.ones_like(y))
        ry = node.rforward(None, x)
    assert np.isfinite(y).all() and np.isfinite(dx).all() and np.isfinite(ry).all()


def test_errors_name_the_node_and_shapes():
    with pytest.raises(ValueError, match=r"maxpool2d1: expects images of shape \(N, C, H, W\), got \(N, 10\)"):
        tg.Sequential([tg.MaxPool2D(2)], input_shape=10)
    with pytest.raises(ValueError, match=r"avgpool2d1: a 3×3 window does not fit images of 2×5"):
        tg.Sequential([tg.AvgPool2D(3)], input_shape=(1, 2, 5))
    with pytest.raises(ValueError, match=r"globalavgpool2d1: expects images"):
        tg.Sequential([tg.GlobalAvgPool2D()], input_shape=(4, 4))
    with pytest.raises(ValueError, match="MaxPool2D: pool_size must be an int >= 1"):
        tg.MaxPool2D(0)
    with pytest.raises(ValueError, match="AvgPool2D: stride must be an int >= 1"):
        tg.AvgPool2D(2, (1, 2, 3))


def test_config_rebuilds_the_node():
    for node in (tg.MaxPool2D((2, 3), 1, name="m"), tg.AvgPool2D(2), tg.GlobalAvgPool2D()):
        clone = type(node)(**node.get_config())
        assert clone.get_config() == node.get_config()
