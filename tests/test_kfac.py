"""K-FAC: factors against their definitions, the exact Newton step on a linear model, resume, errors."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.curvature.fisher import sample_targets
from tinygraph.curvature.per_example import per_example_grads
from tinygraph.optim.kfac import KFAC
from tinygraph.training.checkpoint import Checkpoint, load_checkpoint


def _batch_factors(opt, model, X, y, w=None):
    """The optimizer's factors of one batch, and the targets it drew for them."""
    model.loss_and_grad(model.theta, X, y, sample_weight=w)
    z = model._values[model._loss_index]
    drawn = sample_targets(model.loss, z, np.random.default_rng([opt.random_state, opt.t]))
    model.loss.forward(z, y, w)
    _, _, _, wl, n = opt._batch()
    factors, _ = opt._batch_factors(z, wl, n, np.random.default_rng([opt.random_state, opt.t]))
    return factors, drawn


def test_dense_factors_are_the_weighted_expectations_of_a_and_g():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    w = rng.uniform(0.2, 2.0, 7)
    model = tg.Sequential([tg.Dense(4, 5), tg.Tanh(), tg.Dense(3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    opt = KFAC(model, random_state=3)
    factors, drawn = _batch_factors(opt, model, X, y, w)
    p = w / w.sum()
    h = np.tanh(X @ model["dense1"].W + model["dense1"].b)
    G_rows = per_example_grads(model, X, drawn)  # ∇ℓ_n at the drawn targets; a bias's part is g_n
    for (A, G), a, node in zip(factors, (X, h), (model["dense1"], model["dense2"])):
        abar = np.column_stack([a, np.ones(7)])
        np.testing.assert_allclose(A, (abar * p[:, None]).T @ abar, rtol=1e-12, atol=1e-15)
        g = G_rows[:, node.views(np.arange(model.n_params))["b"]]
        np.testing.assert_allclose(G, (g * p[:, None]).T @ g, rtol=1e-12, atol=1e-15)


def test_conv_and_lstm_factors_against_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the per-position gradients")
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((4, 2, 5, 5)), rng.integers(0, 3, 4)
    conv = tg.Sequential([tg.Conv2D(3, 3, padding=1), tg.Tanh(), tg.Flatten(), tg.Dense(3), tg.Softmax(),
                          tg.CrossEntropy()], input_shape=(2, 5, 5), random_state=0)
    opt = KFAC(conv)
    factors, drawn = _batch_factors(opt, conv, X, y)
    A, G = factors[0]
    node, dense = conv["conv2d1"], conv["dense1"]
    x = torch.from_numpy(X)
    s = torch.nn.functional.conv2d(x, torch.from_numpy(node.W).requires_grad_(), torch.from_numpy(node.b),
                                   padding=1)
    s.retain_grad()
    logits = torch.tanh(s).reshape(4, -1) @ torch.from_numpy(dense.W) + torch.from_numpy(dense.b)
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(drawn), reduction="sum").backward()
    L = 25
    g = s.grad.numpy().transpose(0, 2, 3, 1).reshape(-1, 3)  # per example and position
    np.testing.assert_allclose(G, g.T @ g / (4 * L), rtol=1e-12, atol=1e-15)
    patches = torch.nn.functional.unfold(x, 3, padding=1).numpy().transpose(0, 2, 1).reshape(-1, 18)
    abar = np.column_stack([patches, np.ones(4 * L)])
    np.testing.assert_allclose(A, abar.T @ abar / 4, rtol=1e-12, atol=1e-15)

    X, y = rng.standard_normal((3, 4, 2)), rng.integers(0, 2, 3)
    lstm = tg.Sequential([tg.LSTM(3), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()], input_shape=(4, 2),
                         random_state=0)
    opt = KFAC(lstm)
    factors, drawn = _batch_factors(opt, lstm, X, y)
    cell, dense = lstm["lstm1"], lstm["dense1"]
    P = {k: torch.from_numpy(getattr(cell, k).copy()).requires_grad_() for k in ("W_ih", "W_hh", "b_ih", "b_hh")}
    h, c, pre, hs = torch.zeros(3, 3), torch.zeros(3, 3), [], []
    for t in range(4):
        hs.append(h)
        a = torch.from_numpy(X[:, t]) @ P["W_ih"].T + P["b_ih"] + h @ P["W_hh"].T + P["b_hh"]
        a.retain_grad()
        pre.append(a)
        i, f, gg, o = a.split(3, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(c)
    logits = h @ torch.from_numpy(dense.W) + torch.from_numpy(dense.b)
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(drawn), reduction="sum").backward()
    D = np.concatenate([a.grad.numpy() for a in pre])  # (T·N, 4H)
    xs = np.column_stack([X.transpose(1, 0, 2).reshape(-1, 2), np.ones(12)])
    hprev = np.column_stack([torch.cat(hs).detach().numpy(), np.ones(12)])
    (A_ih, G_ih), (A_hh, G_hh) = factors[0], factors[1]
    np.testing.assert_allclose(A_ih, xs.T @ xs / 3, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A_hh, hprev.T @ hprev / 3, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(G_ih, D.T @ D / (3 * 4), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(G_hh, G_ih, rtol=1e-12, atol=1e-15)  # LSTM: the same gate gradients


@pytest.mark.parametrize("inverse", ["eigh", "cholesky"])
def test_one_step_on_a_linear_least_squares_model_is_the_newton_step(inverse):
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    model = tg.Sequential([tg.Dense(3, 2), tg.MeanSquaredError()], random_state=0)
    theta0 = model.theta.copy()
    _, g = model.loss_and_grad(theta0, X, Y)
    GN = tg.CurvatureOperator(model, X, Y) @ np.eye(model.n_params)
    newton = theta0 - np.linalg.solve(GN, g)
    opt = KFAC(model, damping=1e-20, fisher="exact", inverse=inverse)  # √λ = 1e-10: the factored damping vanishes
    tg.fit(model, X, Y, opt, batch_size=40, epochs=1)
    np.testing.assert_allclose(model.theta, newton, rtol=1e-8, atol=1e-10)
    assert np.abs(model.loss_and_grad(model.theta, X, Y)[1]).max() < 1e-9  # at the minimum


def test_trains_a_classifier_and_adapts_the_damping():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = tg.Sequential([tg.Dense(4, 16), tg.Tanh(), tg.LayerNorm(), tg.Dense(2), tg.Softmax(),
                           tg.CrossEntropy()], random_state=0)
    start = model.loss_value(model.theta, X, y)
    opt = KFAC(model, damping=1.0, update_every=2, adapt_every=2)
    tg.fit(model, X, y, opt, batch_size=50, epochs=15, random_state=0)
    assert model.loss_value(model.theta, X, y) < 0.5 * start
    assert np.isfinite(opt.rho) and opt.damping != 1.0


def test_a_frozen_node_does_not_move():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 2, 30)
    first = tg.Dense(4, 5, trainable=False)
    model = tg.Sequential([first, tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    before = first.W.copy()
    tg.fit(model, X, y, KFAC(model), batch_size=10, epochs=2)
    np.testing.assert_array_equal(first.W, before)


def _ck_model():
    return tg.Sequential([tg.Conv2D(2, 3), tg.Tanh(), tg.Flatten(), tg.Dense(3), tg.Softmax(), tg.CrossEntropy()],
                         input_shape=(1, 5, 5), l2=0.1, random_state=0)


@pytest.mark.parametrize("inverse", ["eigh", "cholesky"])
def test_resume_equals_the_uninterrupted_run(tmp_path, inverse):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((48, 1, 5, 5)), rng.integers(0, 3, 48)

    def opt(m):
        return KFAC(m, update_every=3, adapt_every=2, inverse=inverse)
    straight = _ck_model()
    tg.fit(straight, X, y, opt(straight), batch_size=16, epochs=4, random_state=7)
    first = _ck_model()
    tg.fit(first, X, y, opt(first), batch_size=16, epochs=2, random_state=7,
           callback=Checkpoint(tmp_path / "ck.npz", every=2))
    resume = load_checkpoint(tmp_path / "ck.npz")
    o = opt(resume.model)
    resume.restore(o)
    assert o.t == 6 and o.factors[0] is not None
    tg.fit(resume.model, X, y, o, batch_size=16, epochs=4, initial_epoch=resume.epoch, random_state=7)
    assert resume.model.theta.tobytes() == straight.theta.tobytes()


def test_bad_arguments_are_named():
    model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    with pytest.raises(ValueError, match="damping must be"):
        KFAC(model, damping=0)
    with pytest.raises(ValueError, match="update_every must be"):
        KFAC(model, update_every=0)
    with pytest.raises(ValueError, match="inverse must be"):
        KFAC(model, inverse="lu")
    with pytest.raises(ValueError, match="fisher must be"):
        KFAC(model, fisher="empirical")
    with pytest.raises(TypeError, match="ending in a loss node"):
        KFAC(None)
    with pytest.raises(ValueError, match="model's own theta"):
        KFAC(model).step(model.theta.copy(), np.zeros(model.n_params))
    assert tg.optim.KFAC is KFAC


@pytest.mark.parametrize("cell", [tg.GRU, tg.SimpleRNN])
def test_trains_recurrent_and_embedding_models(cell):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, (120, 6)).astype(float)
    y = (X[:, 0] > X[:, -1]).astype(int)
    model = tg.Sequential([tg.Embedding(5, 4), cell(8), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
                          input_shape=6, random_state=0)
    opt = KFAC(model, update_every=3)
    assert [b.weight for b in opt.blocks] == ["W_ih", "W_hh", "W"] and opt._diag_index.size == 20
    start = model.loss_value(model.theta, X, y)
    tg.fit(model, X, y, opt, batch_size=40, epochs=10, random_state=0)
    assert model.loss_value(model.theta, X, y) < 0.7 * start
