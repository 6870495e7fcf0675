"""The GPT of models/gpt.py: whole-model gradient and curvature products against finite differences,
an overfit run in the shape of llm.c's test_gpt2, the drawing, and the example's main()."""
import numpy as np
import pytest
from _examples import load_example

import tinygraph as tg
from models.gpt import gpt
from tinygraph.curvature.gradcheck import relative_error
from tinygraph.render import summary

V, T, EPS = 7, 5, 1e-5


def small(**kw):
    return gpt(V, n_layer=kw.pop("n_layer", 2), n_head=2, n_embd=8, block_size=T, random_state=0,
               dtype=np.float64, **kw)


def data(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (n, T)), rng.integers(0, V, (n, T))


def test_gradient_matches_finite_differences():
    model = small()
    X, y = data()
    model.theta[...] += 0.2 * np.random.default_rng(1).standard_normal(model.n_params)  # away from init
    assert tg.check_gradients(model, X, y, n_checks=300) < 1e-6


def test_hvp_matches_finite_differences_of_the_gradient():
    model = small()
    X, y = data()
    rng = np.random.default_rng(2)
    theta = model.theta + 0.2 * rng.standard_normal(model.n_params)
    v = rng.standard_normal(model.n_params)
    hv = model.hvp(theta, v, X, y)
    gp = model.loss_and_grad(theta + EPS * v, X, y)[1]
    gm = model.loss_and_grad(theta - EPS * v, X, y)[1]
    assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6


def _logits(model, theta, X):
    model._load(theta)
    model._forward(X, model._train_plan)
    return model._values[model.nodes.index(model["lm_head"])].copy()


def test_gnvp_equals_jacobian_product_through_softmax_cross_entropy():
    """G v = Σ_positions Jᵀ (diag p − p pᵀ) J v / (N·T), J from central differences of the logits."""
    model = small(n_layer=1)
    X, y = data(2)
    rng = np.random.default_rng(3)
    theta = model.theta + 0.2 * rng.standard_normal(model.n_params)
    P = model.n_params
    J = np.empty((2, T, V, P))
    for i in range(P):
        e = np.zeros(P)
        e[i] = EPS
        J[..., i] = (_logits(model, theta + e, X) - _logits(model, theta - e, X)) / (2 * EPS)
    z = _logits(model, theta, X)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    HL = np.einsum("ntk,kl->ntkl", p, np.eye(V)) - np.einsum("ntk,ntl->ntkl", p, p)
    G = np.einsum("ntkp,ntkl,ntlq->pq", J, HL, J) / (2 * T)
    v = rng.standard_normal(P)
    assert relative_error(model.gnvp(theta, v, X, y), G @ v) < 1e-6


def test_overfits_one_batch():
    """llm.c's test_gpt2 shape: a few AdamW steps on one batch drive the loss far down."""
    model = gpt(V, n_layer=2, n_head=2, n_embd=16, block_size=T, random_state=0)
    X, y = data(4)
    X[:, 0] = np.arange(4)  # every prefix differs: every target can be learnt
    opt = tg.optim.AdamW(1e-2, weight_decay=0.0)
    first = model.loss_value(model.theta, X, y)
    for _ in range(100):
        _, g = model.loss_and_grad(model.theta, X, y, out=model.grad)
        opt.step(model.theta, g)
    assert first > 1.8 and model.loss_value(model.theta, X, y) < 0.1


def test_summary_and_drawing_name_the_blocks():
    model = small()
    text = summary(model)
    for name in ("wte", "wpe", "h0.attn", "h1.mlp.c_fc", "ln_f", "lm_head", "2 heads, causal"):
        assert name in text
    source = tg.to_graphviz(model).source
    assert "subgraph cluster_h0" in source and "subgraph cluster_h1" in source


def test_char_gpt_example_small_run():
    out = load_example("char_gpt").main(iters=30, n_layer=1, n_head=2, n_embd=16, block_size=16,
                                         eval_interval=15, eval_batches=2, final_batches=3,
                                         sample_chars=20, verbose=False)
    assert out["history"]["val_loss"][-1] < out["history"]["val_loss"][0]
    assert len(out["sample"]) == 21 and np.isfinite(out["val_loss"])


@pytest.mark.parametrize("t", [0, 99, 100, 1050, 2000, 2500])
def test_warmup_cosine_is_nanogpts_get_lr(t):
    lr = load_example("char_gpt").WarmupCosine(1e-3, 1e-4, 100, 2000)
    if t < 100:
        want = 1e-3 * (t + 1) / 101
    elif t > 2000:
        want = 1e-4
    else:
        want = 1e-4 + 0.5 * (1 + np.cos(np.pi * (t - 100) / 1900)) * 9e-4
    assert lr(t) == pytest.approx(want)


def test_save_and_load_round_trip(tmp_path):
    model = small()
    X, y = data()
    with pytest.warns(UserWarning, match="callable init"):  # nanoGPT's init is code: the weights are saved
        path = tg.save(model, tmp_path / "gpt.npz")
    back = tg.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.loss_value(back.theta, X, y) == model.loss_value(model.theta, X, y)
    assert back["h0.attn"].causal and back["h0.ln_1"].axis == -1
