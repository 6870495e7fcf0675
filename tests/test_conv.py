"""Conv2D: gradients and R-operators against central differences (float64, random upstream
gradient) over strides, paddings, odd sizes and batch 1, in both inner layouts; PyTorch's conv2d
as the oracle for outputs and every gradient; saturation; errors naming the node."""
import warnings

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.gradcheck import check_node_r_operators
from tinygraph.nodes import conv

CASES = [  # (kernel_size, stride, padding, (C, H, W), n)
    (3, 1, 0, (2, 7, 9), 2),
    ((3, 2), 2, 0, (3, 8, 7), 3),
    (3, 1, 1, (2, 5, 6), 1),
    (4, 1, "same", (1, 6, 5), 2),
    ((2, 3), (2, 3), (1, 2), (2, 7, 9), 2),
    (5, 3, 2, (1, 11, 10), 1),
]
IDS = [f"k{k}-s{s}-p{p}-{'x'.join(map(str, shp))}-n{n}" for k, s, p, shp, n in CASES]


@pytest.fixture(params=[True, False], ids=["batch_last", "batch_outer"])
def layout(request, monkeypatch):
    """Both inner layouts: batch-last is chosen for outputs below BATCH_LAST_BELOW positions."""
    monkeypatch.setattr(conv, "BATCH_LAST_BELOW", 10 ** 9 if request.param else 0)
    return request.param


@pytest.mark.parametrize("k, s, p, shape, n", CASES, ids=IDS)
def test_gradients(layout, k, s, p, shape, n):
    node = tg.Conv2D(3, k, stride=s, padding=p)
    errors = tg.check_node_gradients(node, shape, n=n)
    assert node.batch_last == layout
    assert set(errors) == {"x0", "W", "b"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("k, s, p, shape, n", CASES, ids=IDS)
def test_r_operators(layout, k, s, p, shape, n):
    errors = check_node_r_operators(tg.Conv2D(2, k, stride=s, padding=p), shape, n=n)
    gauss_newton = errors.pop("gauss_newton")
    assert max(errors.values()) < 1e-8, errors
    assert gauss_newton < 1e-12


def test_r_forward_of_data_is_the_parameter_part():
    rng = np.random.default_rng(0)
    node = tg.Conv2D(2, 3, padding=1)
    theta, _ = tg.gradcheck._standalone(node, ((2, 5, 5),), rng, True)
    x = rng.standard_normal((2, 2, 5, 5))
    y0 = node.forward(x).copy()
    v = rng.standard_normal(theta.size)
    ry = node.rforward(v, None).copy()
    theta += v  # conv is linear in (W, b): conv(x; θ + v) - conv(x; θ) = R{y}
    np.testing.assert_allclose(node.forward(x) - y0, ry, rtol=1e-12, atol=1e-12)


def test_first_layer_skips_dx():
    node = tg.Conv2D(2, 3)
    tg.check_node_gradients(node, (1, 5, 5))
    node.need_dx = False
    assert node.backward(np.ones((4, 2, 3, 3))) is None


@pytest.mark.parametrize("k, s, p, shape, n", CASES, ids=IDS)
def test_equals_pytorch_conv2d(layout, k, s, p, shape, n):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for conv2d")
    rng = np.random.default_rng(1)
    model = tg.Sequential([tg.Conv2D(4, k, stride=s, padding=p)], input_shape=shape, random_state=2)
    node = model.nodes[1]
    model.theta[:] = rng.standard_normal(model.n_params)
    x = rng.standard_normal((n, *shape))
    y = model.forward(x)
    dy = rng.standard_normal(y.shape)
    node.need_dx = True
    dx = node.backward(dy)

    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(node.W.copy(), requires_grad=True)
    bt = torch.tensor(node.b.copy(), requires_grad=True)
    if p == "same":
        pads = node.pads  # (top, bottom, left, right): F.pad takes (left, right, top, bottom)
        yt = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (pads[2], pads[3], pads[0], pads[1])),
                                        Wt, bt, stride=s)
        with warnings.catch_warnings():  # torch warns that an even kernel needs a padded copy
            warnings.simplefilter("ignore", UserWarning)
            yt_same = torch.nn.functional.conv2d(xt, Wt, bt, padding="same")
        np.testing.assert_allclose(yt.detach().numpy(), yt_same.detach().numpy(), rtol=0, atol=1e-12)
    else:
        yt = torch.nn.functional.conv2d(xt, Wt, bt, stride=s, padding=p)
    yt.backward(torch.tensor(dy))
    for ours, theirs in ((y, yt), (dx, xt.grad), (node.dW, Wt.grad), (node.db, bt.grad)):
        theirs = theirs.detach().numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10 * max(1.0, np.abs(theirs).max()))


def test_saturated_inputs_stay_finite_without_warnings():
    node = tg.Conv2D(3, 3, padding=1)
    tg.check_node_gradients(node, (2, 5, 5))
    x = 1000.0 * np.sign(np.random.default_rng(0).standard_normal((2, 2, 5, 5)))
    with np.errstate(all="raise"):
        y = node.forward(x)
        dx = node.backward(np.ones_like(y))
    assert np.isfinite(y).all() and np.isfinite(dx).all()


def test_float32_matches_float64():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 9, 9))
    y = rng.integers(0, 3, 5)
    out = []
    for dtype in (np.float64, np.float32):
        model = tg.Sequential([tg.Conv2D(4, 3, stride=2), tg.ReLU(), tg.Flatten(), tg.Dense(3), tg.Softmax(),
                               tg.CrossEntropy()], input_shape=(2, 9, 9), dtype=dtype, random_state=0)
        loss, g = model.loss_and_grad(model.theta, x, y)
        assert g.dtype == dtype and model.nodes[1].cols.dtype == dtype
        out.append((loss, g))
    assert abs(out[0][0] - out[1][0]) < 1e-5
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=0, atol=1e-5)


def test_weights_follow_pytorch_layout_and_initializer_fan_in():
    model = tg.Sequential([tg.Conv2D(6, (3, 5))], input_shape=(4, 10, 10), init="he", random_state=0)
    node = model.nodes[1]
    assert node.params == (("W", (6, 4, 3, 5)), ("b", (6,)))
    assert model.n_params == 6 * 4 * 3 * 5 + 6
    assert node.out_shape == (6, 8, 6)
    assert np.all(node.b == 0) and 0.5 < node.W.std() / np.sqrt(2 / 60) < 1.5  # He: fan-in 4·3·5


@pytest.mark.parametrize("kwargs, msg", [
    ({"out_channels": 0, "kernel_size": 3}, "out_channels must be a positive int"),
    ({"out_channels": 2, "kernel_size": (3, 0)}, "kernel_size must be an int >= 1"),
    ({"out_channels": 2, "kernel_size": 3, "stride": 0}, "stride must be an int >= 1"),
    ({"out_channels": 2, "kernel_size": 3, "padding": -1}, "padding must be an int >= 0"),
    ({"out_channels": 2, "kernel_size": 3, "padding": "valid"}, "padding must be"),
    ({"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": "same"}, "'same' needs stride 1"),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        tg.Conv2D(**kwargs)


def test_build_errors_name_the_node_and_shapes():
    with pytest.raises(ValueError, match=r"conv2d1: expects images of shape \(N, C, H, W\), got \(N, 784\)"):
        tg.Sequential([tg.Conv2D(2, 3)], input_shape=784)
    with pytest.raises(ValueError, match=r"conv2d1: a 5×5 kernel does not fit images of 3×3"):
        tg.Sequential([tg.Conv2D(2, 5)], input_shape=(1, 3, 3))
    model = tg.Sequential([tg.Conv2D(2, 3)], input_shape=(1, 5, 5))
    with pytest.raises(ValueError, match=r"expects X of shape \(N, 1, 5, 5\), got an array of shape \(2, 25\)"):
        model.forward(np.zeros((2, 25)))


def test_config_rebuilds_the_node():
    node = tg.Conv2D(3, (3, 2), padding="same", init="he", name="c")
    clone = tg.Conv2D(**node.get_config())
    assert clone.get_config() == node.get_config()
    assert (clone.kernel_size, clone.stride, clone.padding) == ((3, 2), (1, 1), "same")
