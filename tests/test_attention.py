"""MultiHeadAttention and PositionalEmbedding: PyTorch equality, gradients, R-operators, saturation."""
import warnings

import numpy as np
import pytest

import tinygraph as tg

N, T, E, H = 3, 5, 8, 2


def _key_mask(rng):
    m = (rng.random((N, T)) > 0.3).astype(float)
    m[:, 0] = 1.0
    return m


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_torch_multihead_attention(causal, masked, bias):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this test")
    rng = np.random.default_rng(0)
    ref = torch.nn.MultiheadAttention(E, H, batch_first=True, bias=bias, dtype=torch.float64)
    x_in = tg.Input((T, E))
    ins = [x_in]
    if masked:
        ins.append(tg.Input(T, name="keys"))
    att = tg.MultiHeadAttention(H, causal=causal, bias=bias)(*ins)
    model = tg.Graph(ins if masked else x_in, att, random_state=0)
    att.W_qkv[...] = ref.in_proj_weight.detach().numpy()
    att.W_o[...] = ref.out_proj.weight.detach().numpy()
    if bias:
        att.b_qkv[...] = rng.standard_normal(3 * E)
        att.b_o[...] = rng.standard_normal(E)
        with torch.no_grad():
            ref.in_proj_bias.copy_(torch.from_numpy(att.b_qkv))
            ref.out_proj.bias.copy_(torch.from_numpy(att.b_o))
    x = rng.standard_normal((N, T, E))
    km = _key_mask(rng)
    X = (x, km) if masked else x
    y = model.forward(X, training=True).copy()
    xt = torch.tensor(x, requires_grad=True)
    kw = {}
    if causal:
        kw["attn_mask"] = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        kw["is_causal"] = True
    if masked:
        kw["key_padding_mask"] = torch.from_numpy(km == 0)
    yt, _ = ref(xt, xt, xt, need_weights=False, **kw)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(dy))
    model.grad[...] = 0.0
    att.set_graph_attributes(need_dx=True)  # the first node: the graph would skip dx
    dx = att.backward(dy)
    dx = dx[0] if masked else dx
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(att.dW_qkv, ref.in_proj_weight.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(att.dW_o, ref.out_proj.weight.grad.numpy(), atol=1e-10)
    if bias:
        np.testing.assert_allclose(att.db_qkv, ref.in_proj_bias.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(att.db_o, ref.out_proj.bias.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_gradients_and_r_operators(causal, dropout):
    for check in (tg.check_node_gradients, tg.check_node_r_operators):
        errors = check(_reseeded(tg.MultiHeadAttention(H, causal=causal, dropout=dropout)), (T, E))
        assert max(errors.values()) < 1e-6, errors


def _reseeded(node):
    """The node with its generator reset before every forward, as a Graph does within one step:
    every pass of a check draws the same dropout mask."""
    forward = node.forward

    def seeded(*xs):
        node.rng = np.random.default_rng(5)
        return forward(*xs)
    node.forward = seeded
    return node


def test_key_mask_gradients_and_r_operators():
    rng = np.random.default_rng(3)
    km = _key_mask(rng).astype(np.int64)
    km[1] = 0  # a sequence whose every key is masked: rows with no allowed key
    xs = [rng.standard_normal((N, T, E)), km]
    errors = tg.check_node_gradients(tg.MultiHeadAttention(H, causal=True), (T, E), (T,), n=N, xs=xs)
    assert max(errors.values()) < 1e-6, errors
    errors = tg.check_node_r_operators(tg.MultiHeadAttention(H), (T, E), (T,), n=N, xs=xs)
    assert max(errors.values()) < 1e-6, errors


def test_fully_masked_rows_give_the_output_bias():
    x_in, keys = tg.Input((T, E)), tg.Input(T, name="keys")
    att = tg.MultiHeadAttention(H)(x_in, keys)
    model = tg.Graph([x_in, keys], att, random_state=0)
    att.b_o[...] = np.arange(E)
    km = np.ones((N, T))
    km[2] = 0
    y = model.forward((np.ones((N, T, E)), km))
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y[2], np.broadcast_to(np.arange(E), (T, E)))


def test_saturation_no_nan_no_warning():
    rng = np.random.default_rng(0)
    for causal in (False, True):
        node = tg.MultiHeadAttention(H, causal=causal)
        model = tg.Sequential([node], input_shape=(T, E), random_state=0)
        node.set_graph_attributes(need_dx=True)
        x = 1000.0 * np.sign(rng.standard_normal((N, T, E)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = model.forward(x, training=True)
            dx = node.backward(np.ones_like(y))
            ry = node.rforward(rng.standard_normal(model.n_params), x)
            rdx = node.rbackward(np.ones_like(y), np.ones_like(y), rng.standard_normal(model.n_params),
                                 np.zeros(model.n_params))
        assert all(np.all(np.isfinite(a)) for a in (y, dx, ry, rdx))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        tg.Sequential([tg.MultiHeadAttention(3)], input_shape=(T, E))
    with pytest.raises(ValueError, match=r"expects x \(N, T, E\)"):
        tg.Sequential([tg.MultiHeadAttention(2)], input_shape=E)
    with pytest.raises(ValueError, match="dropout"):
        tg.MultiHeadAttention(2, dropout=1.0)
    x_in, keys = tg.Input((T, E)), tg.Input(T, name="keys")
    model = tg.Graph([x_in, keys], tg.MultiHeadAttention(2)(x_in, keys), random_state=0)
    with pytest.raises(ValueError, match="0 and 1 only"):
        model.forward((np.ones((N, T, E)), np.full((N, T), 2.0)))


def test_attention_dropout_uses_the_graph_generator():
    model = tg.Sequential([tg.MultiHeadAttention(H, dropout=0.5), tg.Flatten(), tg.MeanSquaredError()],
                          input_shape=(T, E), random_state=0)
    X, Y = np.random.default_rng(0).standard_normal((2, N, T, E))
    Y = Y.reshape(N, -1)
    a = model.loss_value(model.theta, X, Y)
    assert a == model.loss_value(model.theta, X, Y)       # same step, same mask
    np.testing.assert_array_equal(model.forward(X), model.forward(X))   # evaluation: no dropout


def test_positional_embedding():
    errors = tg.check_node_gradients(tg.PositionalEmbedding(7), (5, 3))
    assert max(errors.values()) < 1e-6
    errors = tg.check_node_r_operators(tg.PositionalEmbedding(7), (5, 3))
    assert max(errors.values()) < 1e-6
    with pytest.raises(ValueError, match="exceed max_len"):
        tg.Sequential([tg.PositionalEmbedding(4)], input_shape=(5, 3))


def test_embedding_scatter_matches_add_at():
    rng = np.random.default_rng(0)
    node = tg.Embedding(11, 4)
    model = tg.Sequential([node], input_shape=(30,), random_state=0)
    idx = rng.integers(0, 11, (7, 30))
    idx[idx == 3] = 4  # a token that never occurs keeps a zero gradient
    model.forward(idx, training=True)
    dy = rng.standard_normal((7, 30, 4))
    node.backward(dy)
    ref = np.zeros((11, 4))
    np.add.at(ref, idx.reshape(-1), dy.reshape(-1, 4))
    np.testing.assert_allclose(node.dW, ref, rtol=1e-13, atol=1e-13)
    assert not node.dW[3].any()
