"""LeakyReLU, ELU, Softplus, GELU and LogSoftmax: central differences with a random upstream gradient,
R-operators, saturation at ±1000 with every floating-point error raised, PyTorch equality (values,
gradients and R-operators, float64), save/load, bad arguments."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.gradcheck import relative_error

# (factory, kinks: where f' or f'' jumps, to keep finite differences away from)
NODES = {
    "leaky_relu": (lambda: tg.LeakyReLU(), [0.0]),
    "leaky_relu_0.2": (lambda: tg.LeakyReLU(0.2), [0.0]),
    "elu": (lambda: tg.ELU(), [0.0]),
    "elu_0.7": (lambda: tg.ELU(alpha=0.7), [0.0]),
    "softplus": (lambda: tg.Softplus(), [20.0]),
    "softplus_2_3": (lambda: tg.Softplus(beta=2.0, threshold=3.0), [1.5]),
    "gelu": (lambda: tg.GELU(), []),
    "gelu_tanh": (lambda: tg.GELU(approximate="tanh"), []),
    "log_softmax": (lambda: tg.LogSoftmax(), []),
}
ELEMENTWISE = [k for k in NODES if k != "log_softmax"]


def away_from(kinks, shape, seed=0, scale=2.5, gap=0.05):
    """Standard normal draws times ``scale``, pushed at least ``gap`` from every kink."""
    x = scale * np.random.default_rng(seed).standard_normal(shape)
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


@pytest.mark.parametrize("key", NODES)
def test_gradients_by_central_differences(key):
    make, kinks = NODES[key]
    x = away_from(kinks, (6, 5), seed=1)
    errors = tg.check_node_gradients(make(), (5,), xs=[x])
    assert errors["x0"] < 1e-6, errors


@pytest.mark.parametrize("key", ELEMENTWISE)
def test_elementwise_on_any_shape(key):
    make, kinks = NODES[key]
    node = make()
    errors = tg.check_node_gradients(node, (3, 2, 2), xs=[away_from(kinks, (4, 3, 2, 2), seed=2)])
    assert node.out_shape == (3, 2, 2)
    assert errors["x0"] < 1e-6, errors


@pytest.mark.parametrize("key", NODES)
def test_r_operators(key):
    make, kinks = NODES[key]
    errors = tg.check_node_r_operators(make(), (5,), xs=[away_from(kinks, (6, 5), seed=3)])
    assert errors.pop("gauss_newton") < 1e-12
    assert max(errors.values()) < 1e-8, errors


@pytest.mark.parametrize("key", NODES)
def test_saturation_raises_no_floating_point_error(key):
    node = NODES[key][0]()
    tg.check_node_gradients(node, (8,))
    x = np.array([[1000.0, -1000.0, 0.0, 740.0, -740.0, 40.0, -40.0, 1e-3],
                  [-1000.0] * 8, [1000.0] * 8])
    rng = np.random.default_rng(4)
    dy, rx, rdy = (rng.standard_normal(x.shape) for _ in range(3))
    with np.errstate(all="raise"):
        y = np.array(node.forward(x))
        dx = np.array(node.backward(dy))
        ry = np.array(node.rforward(np.zeros(0), rx))
        rdx = np.array(node.rbackward(rdy, dy, np.zeros(0), np.zeros(0)))
    for a in (y, dx, ry, rdx):
        assert np.isfinite(a).all()
    if key != "log_softmax":  # rectifiers: identity far right, a constant far left
        assert y[0, 0] == 1000.0 and dx[0, 0] == dy[0, 0]
        left = {"leaky_relu": -10.0, "leaky_relu_0.2": -200.0, "elu": -1.0, "elu_0.7": -0.7}.get(key, 0.0)
        assert y[0, 1] == pytest.approx(left, abs=1e-150)
    else:
        np.testing.assert_allclose(y[0, :3], [0.0, -2000.0, -1000.0])
        np.testing.assert_allclose(y[1], np.full(8, -np.log(8)))


@pytest.mark.parametrize("make", [tg.ELU, tg.Softplus, tg.GELU, lambda: tg.GELU("tanh"), tg.LeakyReLU,
                                  tg.LogSoftmax])
def test_float32_model_saturation(make):
    model = tg.Sequential([tg.Dense(2, 3), make(), tg.Dense(3, 2), tg.MeanSquaredError()],
                          dtype=np.float32, random_state=0)
    X = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [0.5, -0.5]], dtype=np.float32)
    with np.errstate(all="raise"):
        loss, grad = model.loss_and_grad(model.theta, X, np.zeros((3, 2)))
        hv = model.hvp(model.theta, np.ones(model.n_params, np.float32), X, np.zeros((3, 2)))
    assert np.isfinite(loss) and np.isfinite(grad).all() and np.isfinite(hv).all()


def torch_function(key):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the activations")
    F = torch.nn.functional
    return {
        "leaky_relu": lambda x: F.leaky_relu(x),
        "leaky_relu_0.2": lambda x: F.leaky_relu(x, 0.2),
        "elu": lambda x: F.elu(x),
        "elu_0.7": lambda x: F.elu(x, alpha=0.7),
        "softplus": lambda x: F.softplus(x),
        "softplus_2_3": lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        "gelu": lambda x: F.gelu(x),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "log_softmax": lambda x: F.log_softmax(x, dim=1),
    }[key]


@pytest.mark.parametrize("key", NODES)
def test_equals_pytorch(key):
    """Values, input gradients and both R-operators (PyTorch's jvp of its vjp) agree to 1e-10."""
    f = torch_function(key)
    import torch
    make, kinks = NODES[key]
    x = away_from(kinks, (7, 6), seed=5, scale=4.0)
    x[0] = [30.0, -30.0, 25.0, -25.0, 0.3, -0.3]  # the tails, where approximations would show
    rng = np.random.default_rng(6)
    dy, rx, rdy = (rng.standard_normal(x.shape) for _ in range(3))
    node = make()
    tg.check_node_gradients(node, (6,))
    y = np.array(node.forward(x))
    dx = np.array(node.backward(dy))
    ry = np.array(node.rforward(np.zeros(0), rx))
    rdx = np.array(node.rbackward(rdy, dy, np.zeros(0), np.zeros(0)))

    xt, dyt, rxt, rdyt = (torch.from_numpy(a) for a in (x, dy, rx, rdy))
    xt.requires_grad_(True)
    ty = f(xt)
    u = torch.zeros_like(ty, requires_grad=True)
    tdx = torch.autograd.grad(ty, xt, dyt, create_graph=True)[0]
    tjtu = torch.autograd.grad(ty, xt, u, create_graph=True)[0]  # linear in u: its grad along R{x} is J R{x}
    try_ = torch.autograd.grad(tjtu, u, rxt, retain_graph=True)[0]
    # R{dx} = (Σ_k dy_k ∇²y_k) R{x} + Jᵀ R{dy}; the bracket is symmetric
    trdx = torch.autograd.grad(tdx, xt, rxt, retain_graph=True)[0] + torch.autograd.grad(ty, xt, rdyt)[0]
    for ours, theirs in ((y, ty), (dx, tdx), (ry, try_), (rdx, trdx)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-13)


def every_node_model():
    return tg.Sequential([tg.Dense(4, 6), tg.LeakyReLU(0.2), tg.Dense(6, 6), tg.ELU(0.5), tg.Dense(6, 6),
                          tg.Softplus(2.0, 10.0), tg.Dense(6, 5), tg.GELU("tanh"), tg.Dense(5, 5),
                          tg.GELU(), tg.Dense(5, 4), tg.LogSoftmax(), tg.Dense(4, 3), tg.Softmax(),
                          tg.CrossEntropy()], random_state=0)


def test_save_load_round_trip(tmp_path):
    model = every_node_model()
    X = np.random.default_rng(7).standard_normal((9, 4))
    y = np.arange(9) % 3
    loaded = tg.load(model.save(tmp_path / "acts.npz"))
    assert [repr(n) for n in loaded.nodes] == [repr(n) for n in model.nodes]
    assert "LeakyReLU(negative_slope=0.2" in repr(loaded) and "GELU(approximate='tanh'" in repr(loaded)
    assert loaded.forward(X).tobytes() == model.forward(X).tobytes()
    l0, g0 = model.loss_and_grad(model.theta, X, y)
    l1, g1 = loaded.loss_and_grad(loaded.theta, X, y)
    assert l0 == l1 and g0.tobytes() == g1.tobytes()


def test_whole_model_gradient_and_hessian_products():
    model = every_node_model()
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    assert tg.check_gradients(model, X, y) < 1e-6
    theta, v, eps = model.theta.copy(), rng.standard_normal(model.n_params), 1e-5
    hv = model.hvp(theta, v, X, y)
    gp = model.loss_and_grad(theta + eps * v, X, y)[1]
    gm = model.loss_and_grad(theta - eps * v, X, y)[1]
    assert relative_error(hv, (gp - gm) / (2 * eps)) < 1e-6


@pytest.mark.parametrize("make, message", [
    (lambda: tg.LeakyReLU("steep"), "LeakyReLU: negative_slope must be a finite number"),
    (lambda: tg.ELU(alpha=np.nan), "ELU: alpha must be a finite number"),
    (lambda: tg.Softplus(beta=0.0), "Softplus: beta must be a positive finite number"),
    (lambda: tg.Softplus(threshold=-1), "Softplus: threshold must be a positive"),
    (lambda: tg.GELU(approximate="erf"), "GELU: approximate must be 'none' or 'tanh'"),
])
def test_bad_arguments_name_the_node(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_log_softmax_acts_on_the_last_axis():
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    model = tg.Sequential([tg.LogSoftmax()], input_shape=(2, 3))
    np.testing.assert_allclose(np.exp(model.forward(x)).sum(axis=-1), 1.0, rtol=1e-12)
    assert max(tg.check_node_gradients(tg.LogSoftmax(), (2, 3)).values()) < 1e-6


@pytest.mark.parametrize("key", NODES)
def test_float32_matches_float64(key):
    """float32 has its own formulas for ELU (tanh in place of expm1); every node keeps float32 precision,
    near 0 too (where e^x - 1 would lose it)."""
    make, kinks = NODES[key]
    x = np.concatenate([away_from(kinks, (40, 6), seed=9, scale=4.0),
                        [[1e-6, -1e-6, 3e-4, -3e-4, -20.0, 15.0]]]).astype(np.float32)
    dy = np.random.default_rng(10).standard_normal(x.shape).astype(np.float32)
    out = {}
    for dtype in (np.float32, np.float64):
        model = tg.Sequential([make()], input_shape=6, dtype=dtype)
        node = model.layers[0]
        model.forward(x[:1])
        y = np.array(node.forward(x.astype(dtype)))
        out[dtype] = y, np.array(node.backward(dy.astype(dtype)))
        assert y.dtype == dtype
    # relative precision everywhere for the rectifiers; GELU's tails (1 + tanh, Φ far left) and
    # LogSoftmax's differences hold float32 precision only against their scale
    # (the tanh form's slope far left is 1 + tanh: 3e-6 off at x ≈ -5, exactly as PyTorch's float32)
    atol = 1e-30 if key.startswith(("elu", "softplus", "leaky")) else 5e-6 if key == "gelu_tanh" else 1e-6
    for a, b in zip(out[np.float32], out[np.float64]):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=atol)
