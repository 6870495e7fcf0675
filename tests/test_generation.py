"""The recurrent layers' stateful step and ``generate``: steps equal the forward pass, stateful
sampling equals re-running the window, the draws follow softmax(log p / temperature) over the top k."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.generation import generate


@pytest.mark.parametrize("cls", [tg.SimpleRNN, tg.LSTM, tg.GRU])
def test_steps_equal_forward(cls):
    node = cls(5, return_sequences=True)
    model = tg.Sequential([node], input_shape=(7, 3), random_state=0)
    X = np.random.default_rng(0).standard_normal((4, 7, 3))
    state, hs = None, []
    for t in range(7):
        h, state = node.step(X[:, t], state)
        hs.append(h)
    np.testing.assert_allclose(np.stack(hs, axis=1), model.forward(X), rtol=0, atol=1e-14)
    assert len(state) == (2 if cls is tg.LSTM else 1)
    with pytest.raises(ValueError, match=r"step expects x of shape \(N, 3\), got \(4, 2\)"):
        node.step(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"step expects a state of"):
        node.step(X[:, 0], tuple(s[:2] for s in state))


def lstm_lm(T=12, V=5, seed=0):
    return tg.Sequential([tg.Embedding(V, 3), tg.LSTM(4, return_sequences=True), tg.Dense(V), tg.Softmax(),
                          tg.CrossEntropy()], input_shape=T, random_state=seed)


@pytest.mark.parametrize("kw", [{}, {"temperature": 0.5, "top_k": 2}])
def test_stateful_sampling_equals_the_window(kw):
    """Within one window the two ways see the same context: the same draws, token for token."""
    model = lstm_lm()
    for prompt in ([1, 2], [[1, 2, 0], [3, 4, 4]]):
        a = generate(model, prompt, 8, random_state=3, stateful=True, **kw)
        b = generate(model, prompt, 8, random_state=3, stateful=False, **kw)
        np.testing.assert_array_equal(a, b)
        assert a.shape == (np.shape(prompt)[-1] + 8,) if np.ndim(prompt) == 1 else (2, 11)
        np.testing.assert_array_equal(a[..., :np.shape(prompt)[-1]], prompt)


def test_greedy_decoding_follows_the_argmax():
    model = lstm_lm(seed=1)
    ids = generate(model, [1], 6, top_k=1)
    for t in range(1, len(ids)):
        context = np.zeros((1, 12), dtype=int)
        context[0, :t] = ids[:t]
        assert ids[t] == model.forward(context)[0, t - 1].argmax()


def test_draws_follow_temperature_and_top_k():
    """A model whose output ignores its input (W = 0, b = log p): token frequencies over 20,000 draws
    match softmax(log p / τ) restricted to the top k, within 4.5 standard errors."""
    p = np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    model = tg.Sequential([tg.Embedding(5, 2), tg.GRU(3), tg.Dense(5), tg.Softmax(), tg.CrossEntropy()],
                          input_shape=4, random_state=0)
    dense = model.layers[2]
    dense.W[...] = 0.0
    dense.b[...] = np.log(p)
    B = 20000
    for temperature, top_k in ((1.0, None), (0.5, None), (2.0, 3)):
        q = p ** (1 / temperature)
        if top_k is not None:
            q[np.argsort(q)[:-top_k]] = 0.0
        q /= q.sum()
        draws = generate(model, np.zeros((B, 4), dtype=int), 1, temperature=temperature, top_k=top_k,
                         random_state=0)[:, -1]
        freq = np.bincount(draws, minlength=5) / B
        assert np.all(np.abs(freq - q) <= 4.5 * np.sqrt(q * (1 - q) / B) + 1e-12), (temperature, top_k, freq)


def test_models_that_cannot_step_rerun_the_window():
    """A causal attention model steps by windows (auto); stateful=True names the node in the way; a
    model with one output per window needs a full window of prompt."""
    x = tg.Input(6, name="ids")
    h = tg.Embedding(5, 8)(x)
    h = tg.PositionalEmbedding(6)(h)
    h = tg.MultiHeadAttention(2, causal=True, name="attn")(h)
    model = tg.Graph(x, tg.CrossEntropy()(tg.Softmax()(tg.Dense(5)(h))), random_state=0)
    ids = generate(model, [1, 2], 9, random_state=0)
    assert ids.shape == (11,) and ids.min() >= 0 and ids.max() < 5
    with pytest.raises(ValueError, match="has no recurrent layer"):
        generate(model, [1, 2], 3, stateful=True)
    x = tg.Input(6, name="ids")
    h = tg.LSTM(4, return_sequences=True)(tg.Embedding(5, 8)(x))
    h = tg.MultiHeadAttention(2, causal=True, name="attn")(h)
    mixed = tg.Graph(x, tg.CrossEntropy()(tg.Softmax()(tg.Dense(5)(h))), random_state=0)
    with pytest.raises(ValueError, match="attn \\(MultiHeadAttention\\), which mixes positions"):
        generate(mixed, [1, 2], 3, stateful=True)
    assert generate(mixed, [1, 2], 3, random_state=0).shape == (5,)
    many_to_one = tg.Sequential([tg.Embedding(5, 2), tg.Flatten(), tg.Dense(5), tg.Softmax(),
                                 tg.CrossEntropy()], input_shape=4, random_state=0)
    with pytest.raises(ValueError, match="prompt needs at least 4 tokens, got 2"):
        generate(many_to_one, [1, 2], 3)
    assert generate(many_to_one, [1, 2, 3, 4, 0], 3, random_state=0).shape == (8,)


@pytest.mark.parametrize("kw, message", [({"n": -1}, "n must be"), ({"temperature": 0.0}, "temperature"),
                                         ({"top_k": 0}, "top_k"), ({"prompt": [0.5]}, "integer token ids"),
                                         ({"prompt": []}, "P ≥ 1")])
def test_bad_arguments(kw, message):
    args = {"prompt": [1], "n": 2, **kw}
    with pytest.raises(ValueError, match=message):
        generate(lstm_lm(), args.pop("prompt"), args.pop("n"), **args)
