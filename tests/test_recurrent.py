"""Recurrent nodes (SimpleRNN, LSTM, GRU), Embedding and Dense over time: gradients and R-operators
against central differences, whole recurrent models' curvature products, PyTorch as the oracle,
saturation, edge sizes, saving, checkpoints and clipping (float64 unless stated)."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.training.checkpoint import Checkpoint, load_checkpoint
from tinygraph.gradcheck import (
    check_gradients,
    check_node_gradients,
    check_node_r_operators,
    relative_error,
)
from tinygraph.render import summary

EPS = 1e-5
CELLS = {
    "rnn-tanh": lambda **kw: tg.SimpleRNN(3, **kw),
    "rnn-relu": lambda **kw: tg.SimpleRNN(3, "relu", **kw),
    "lstm": lambda **kw: tg.LSTM(3, **kw),
    "gru": lambda **kw: tg.GRU(3, **kw),
}
CASES = [(name, seq) for name in CELLS for seq in (False, True)]
IDS = [f"{name}-{'seq' if seq else 'last'}" for name, seq in CASES]


@pytest.mark.parametrize("name, seq", CASES, ids=IDS)
def test_cell_gradients_match_central_differences(name, seq):
    errors = check_node_gradients(CELLS[name](return_sequences=seq), (4, 2), n=3)
    assert set(errors) == {"x0", "W_ih", "W_hh", "b_ih", "b_hh"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("name, seq", CASES, ids=IDS)
def test_cell_r_operators_match_central_differences(name, seq):
    errors = check_node_r_operators(CELLS[name](return_sequences=seq), (4, 2), n=3)
    gauss_newton = errors.pop("gauss_newton")
    assert set(errors) == {"ry", "rdx0", "rdtheta"}
    assert max(errors.values()) < 1e-6, errors
    assert gauss_newton < 1e-12


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("n, T", [(1, 1), (1, 3), (2, 1)])
def test_one_step_and_one_row(name, n, T):
    node = CELLS[name](return_sequences=True)
    assert max(check_node_gradients(node, (T, 2), n=n).values()) < 1e-6
    errors = check_node_r_operators(CELLS[name](), (T, 2), n=n)
    assert max(errors.values()) < 1e-6, errors


def test_dense_over_time_and_embedding():
    errors = check_node_gradients(tg.Dense(3, 2), (4, 3), n=3)
    assert max(errors.values()) < 1e-6
    assert max(check_node_r_operators(tg.Dense(3, 2), (4, 3)).values()) < 1e-8
    ids = [np.random.default_rng(0).integers(0, 5, (3, 4))]
    errors = check_node_gradients(tg.Embedding(5, 2), (4,), xs=ids)
    assert set(errors) == {"W"} and errors["W"] < 1e-6  # no entry for the integer input
    errors = check_node_r_operators(tg.Embedding(5, 2), (4,), xs=ids)
    assert max(errors.values()) < 1e-8


def stack(loss="categorical", l2=0.1):
    """Embedding → LSTM (sequences) → Dense over time → GRU (sequences) → SimpleRNN → Dense → loss."""
    layers = [tg.Embedding(6, 3), tg.LSTM(4, return_sequences=True), tg.Dense(3), tg.Tanh(),
              tg.GRU(3, return_sequences=True), tg.SimpleRNN(3)]
    if loss == "categorical":
        layers += [tg.Dense(3), tg.Softmax(), tg.CrossEntropy()]
    else:
        layers += [tg.Dense(2), tg.MeanSquaredError()]
    return tg.Sequential(layers, input_shape=5, l2=l2, random_state=0)


def stack_data(loss, n=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 6, (n, 5))
    y = rng.integers(0, 3, n) if loss == "categorical" else rng.standard_normal((n, 2))
    return X, y


@pytest.mark.parametrize("loss", ["categorical", "mse"])
def test_stack_gradient_and_curvature_products(loss):
    """Whole model: the gradient against central differences of the loss; H v and G v against
    central differences of the gradient and an explicit Jacobian of the outputs."""
    model = stack(loss)
    X, y = stack_data(loss)
    assert check_gradients(model, X, y) < 1e-6
    rng = np.random.default_rng(2)
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    hv = model.hvp(theta, v, X, y)
    gp = model.loss_and_grad(theta + EPS * v, X, y)[1]
    gm = model.loss_and_grad(theta - EPS * v, X, y)[1]
    assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6

    def z(t):
        model.theta[:] = t
        return model._forward(model._check_data(X, y, None)[0], model._train_plan)[model._loss_index].copy()

    P, N = model.n_params, X.shape[0]
    J = np.stack([(z(theta + EPS * e) - z(theta - EPS * e)) / (2 * EPS) for e in np.eye(P)], axis=-1)
    zz = z(theta)
    if loss == "categorical":
        p = np.exp(zz - zz.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        HL = np.einsum("nk,kl->nkl", p, np.eye(3)) - np.einsum("nk,nl->nkl", p, p)
    else:
        HL = np.broadcast_to(np.eye(2), (N, 2, 2))
    reg = np.zeros(P)
    for node in model.nodes:
        for name in node.regularized:
            node.views(reg)[name][...] = model.l2 / N
    G = np.einsum("nkp,nkl,nlq->pq", J, HL, J) / N + np.diag(reg)
    assert relative_error(model.gnvp(theta, v, X, y), G @ v) < 1e-6


def test_hessian_free_and_trust_krylov_lower_the_loss():
    model = stack("mse", l2=0.0)
    X, y = stack_data("mse", n=16)
    start = model.loss_value(model.theta, X, y)
    for mu in (0.0, 0.3):  # plain, and with structural damping on the hidden states
        model.initialize()
        res = tg.fit(model, X, y, tg.HessianFree(model, damping=1.0, structural_damping=mu), batch_size=16,
                     epochs=5)
        assert res.fun < start
    assert all(node.structural == 0.0 for node in model.nodes if hasattr(node, "structural"))
    with pytest.raises(ValueError, match="structural_damping must be >= 0"):
        tg.HessianFree(model, structural_damping=-1.0)
    import scipy.optimize
    model.initialize()
    Xc, yc, _ = model._check_data(X, y, None)
    out = scipy.optimize.minimize(model.loss_and_grad, model.theta.copy(), args=(Xc, yc), jac=True,
                                  hessp=model.gnvp, method="trust-krylov", options={"maxiter": 5})
    assert out.fun < start


TORCH_NAMES = {"W_ih": "weight_ih_l0", "W_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}


def to_torch(node, torch):
    """The torch module with ``node``'s weights (float64)."""
    F, H = node.F, node.units
    if isinstance(node, tg.LSTM):
        m = torch.nn.LSTM(F, H, batch_first=True)
    elif isinstance(node, tg.GRU):
        m = torch.nn.GRU(F, H, batch_first=True)
    else:
        m = torch.nn.RNN(F, H, nonlinearity=node.activation, batch_first=True)
    m = m.double()
    with torch.no_grad():
        for p, tp in TORCH_NAMES.items():
            getattr(m, tp).copy_(torch.from_numpy(getattr(node, p)))
    return m


@pytest.mark.parametrize("name, seq", CASES, ids=IDS)
def test_equals_pytorch(name, seq):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the recurrent layers")
    rng = np.random.default_rng(3)
    model = tg.Sequential([CELLS[name](return_sequences=seq, init="uniform")], input_shape=(5, 4),
                          random_state=0)
    node = model.nodes[1]
    node.need_dx = True
    x = rng.standard_normal((3, 5, 4))
    y = node.forward(x).copy()
    dy = rng.standard_normal(y.shape)
    dx = node.backward(dy).copy()
    m = to_torch(node, torch)
    xt = torch.from_numpy(x).requires_grad_()
    out, _ = m(xt)
    out = out if seq else out[:, -1]
    np.testing.assert_allclose(out.detach().numpy(), y, rtol=1e-10, atol=1e-12)
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=1e-10, atol=1e-12)
    for p, tp in TORCH_NAMES.items():
        np.testing.assert_allclose(getattr(m, tp).grad.numpy(), getattr(node, "d" + p),
                                   rtol=1e-10, atol=1e-12)
    # and back: torch's own initial weights copied in give torch's outputs
    fresh = {"rnn-tanh": torch.nn.RNN, "rnn-relu": torch.nn.RNN, "lstm": torch.nn.LSTM,
             "gru": torch.nn.GRU}[name](4, 3, batch_first=True,
                                         **({"nonlinearity": "relu"} if name == "rnn-relu" else {}))
    fresh = fresh.double()
    for p, tp in TORCH_NAMES.items():
        getattr(node, p)[...] = getattr(fresh, tp).detach().numpy()
    expected = fresh(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(model.forward(x), expected if seq else expected[:, -1], rtol=1e-10)


def test_lstm_forget_bias_and_inits():
    lstm = tg.LSTM(4)
    tg.Sequential([lstm], input_shape=(3, 2), random_state=0)
    np.testing.assert_array_equal(lstm.b_ih[4:8], 1.0)
    np.testing.assert_array_equal(lstm.b_hh, 0.0)
    block = lstm.W_hh[8:12]
    np.testing.assert_allclose(block @ block.T, np.eye(4), atol=1e-12)  # orthogonal per gate
    plain = tg.LSTM(4, init="uniform", forget_bias=None)
    tg.Sequential([plain], input_shape=(3, 2), random_state=0)
    assert np.abs(plain.W_hh).max() <= 0.5 and np.abs(plain.b_hh).min() > 0  # U(±1/√4), as PyTorch


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturation_raises_no_floating_point_warning(name, dtype):
    rng = np.random.default_rng(4)
    model = tg.Sequential([CELLS[name](return_sequences=True), CELLS[name](), tg.MeanSquaredError()],
                          input_shape=(4, 2), dtype=dtype, random_state=0)
    model.theta[:] *= 50.0
    X = 1000.0 * np.sign(rng.standard_normal((3, 4, 2)))
    y, v = np.full((3, 3), 0.5), rng.standard_normal(model.n_params)
    with np.errstate(all="raise"):
        loss, g = model.loss_and_grad(model.theta, X, y)
        hv, gv = model.hvp(model.theta, v, X, y), model.gnvp(model.theta, v, X, y)
    assert np.isfinite(loss) and np.isfinite(g).all() and np.isfinite(hv).all() and np.isfinite(gv).all()


def test_bad_shapes_and_ids_are_named():
    with pytest.raises(ValueError, match="lstm.*sequences of shape \\(N, T, F\\).*\\(N, 7\\)"):
        tg.Sequential([tg.LSTM(3, name="lstm")], input_shape=7)
    with pytest.raises(ValueError, match=r"meansquarederror1: expects inputs of shape \(N, K\) or "
                                         r"\(N, T, K\), got \(N, 1, 5, 2\)"):
        tg.Sequential([tg.Conv2D(1, 1), tg.MeanSquaredError()], input_shape=(1, 5, 2))
    with pytest.raises(ValueError, match="units must be a positive integer"):
        tg.GRU(0)
    with pytest.raises(ValueError, match="activation"):
        tg.SimpleRNN(3, "sigmoid")
    with pytest.raises(ValueError, match="init"):
        tg.LSTM(3, init="he")
    model = tg.Sequential([tg.Embedding(5, 2, name="emb"), tg.SimpleRNN(2), tg.Dense(1),
                           tg.MeanSquaredError()], input_shape=3)
    with pytest.raises(ValueError, match=r"emb: token ids must lie in \[0, 4\]"):
        model.forward(np.array([[0, 1, 5]]))
    with pytest.raises(ValueError, match="emb: token ids must be whole numbers"):
        model.forward(np.array([[0, 1.5, 2]]))


def test_save_load_checkpoint_and_clipping(tmp_path):
    rng = np.random.default_rng(5)
    X, y = rng.integers(0, 6, (40, 5)), rng.integers(0, 3, 40)
    model = stack()
    path = tg.save(model, tmp_path / "m.npz")
    back = tg.load(path)
    assert [type(n) for n in back.nodes] == [type(n) for n in model.nodes]
    assert back.nodes[2].return_sequences and back.nodes[2].forget_bias == 1.0
    np.testing.assert_array_equal(back.forward(X), model.forward(X))

    ck = Checkpoint(tmp_path / "ck.npz", every=1)
    tg.fit(model, X, y, tg.optim.Adam(0.01, clipnorm=0.5), batch_size=8, epochs=2, random_state=0,
           callback=ck)
    resume = load_checkpoint(tmp_path / "ck.npz")
    np.testing.assert_array_equal(resume.model.theta, model.theta)
    np.testing.assert_array_equal(resume.model.forward(X), model.forward(X))

    # clipping by norm: one SGD step moves theta by exactly lr × clipnorm along the gradient
    model = stack()
    _, g = model.loss_and_grad(model.theta, X, y)
    before = model.theta.copy()
    opt = tg.optim.SGD(1.0, clipnorm=1e-3 * np.linalg.norm(g))
    tg.fit(model, X, y, opt, batch_size=40, epochs=1, shuffle=False)
    step = before - model.theta
    assert np.linalg.norm(step) == pytest.approx(1e-3 * np.linalg.norm(g), rel=1e-9)
    assert relative_error(step / np.linalg.norm(step), g / np.linalg.norm(g)) < 1e-10


def test_summary_and_picture_show_the_time_axis():
    model = stack()
    text = summary(model)
    assert "N×T=5×4" in text and "N×3" in text
    dot = model.to_graphviz().source
    assert "N×T=5×4" in dot


def test_structural_damping_adds_c_times_the_hidden_state_gauss_newton():
    """With ``structural = c`` a recurrent node's Gauss-Newton product gains c·J_hᵀJ_h v, J_h the
    Jacobian of every hidden state h_1..h_T (central differences here); the Hessian product does not."""
    from tinygraph.curvature import CurvatureOperator
    rng = np.random.default_rng(6)
    model = tg.Sequential([tg.GRU(3), tg.Dense(1), tg.MeanSquaredError()], input_shape=(4, 2),
                          random_state=0)
    X, y = rng.standard_normal((5, 4, 2)), rng.standard_normal(5)
    node, theta = model.nodes[1], model.theta.copy()
    v = rng.standard_normal(model.n_params)
    op = CurvatureOperator(model, X, y)
    plain = op.product(v)
    node.structural = 0.7
    try:
        damped = op.product(v)
    finally:
        node.structural = 0.0

    def hidden(t):
        model.forward(X, theta=t)
        return node._ws["f"]["h"][1:].ravel().copy()

    J = np.stack([(hidden(theta + EPS * e) - hidden(theta - EPS * e)) / (2 * EPS)
                  for e in np.eye(model.n_params)], axis=1)
    assert relative_error(damped - plain, 0.7 * J.T @ (J @ v)) < 1e-6
