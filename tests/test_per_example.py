"""Per-example gradients, their norms and variance: against torch.func.vmap(grad) in float64."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.curvature.per_example import gradient_variance, per_example_grad_norms, per_example_grads

N = 5


def _mlp():
    return tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 3), tg.Softmax(), tg.CrossEntropy()],
                         random_state=0), (N, 4), 3


def _conv():
    return tg.Sequential([tg.Conv2D(3, 3, padding=1), tg.Tanh(), tg.Conv2D(2, 2, stride=2), tg.Flatten(),
                          tg.Dense(3), tg.Softmax(), tg.CrossEntropy()], input_shape=(2, 6, 6),
                         random_state=0), (N, 2, 6, 6), 3


def _conv_large():  # Ho·Wo ≥ 256: the node keeps (C, N, H, W) inside, not batch-last
    return tg.Sequential([tg.Conv2D(2, 3, padding="same"), tg.Tanh(), tg.Flatten(), tg.Dense(2),
                          tg.Softmax(), tg.CrossEntropy()], input_shape=(1, 17, 17), random_state=0), \
        (N, 1, 17, 17), 2


def _recurrent(cls, **kw):
    def make():
        return tg.Sequential([cls(4, **kw), tg.Dense(3), tg.Softmax(), tg.CrossEntropy()], input_shape=(3, 2),
                             random_state=0), (N, 3, 2), 3
    return make


def _sequence_dense():  # a time-distributed Dense on an LSTM's sequence
    return tg.Sequential([tg.GRU(3, return_sequences=True), tg.Dense(2), tg.Tanh(), tg.Flatten(), tg.Dense(3),
                          tg.Softmax(), tg.CrossEntropy()], input_shape=(4, 2), random_state=0), (N, 4, 2), 3


def _embedding():
    return tg.Sequential([tg.Embedding(6, 3), tg.Flatten(), tg.Dense(3), tg.Softmax(), tg.CrossEntropy()],
                         input_shape=4, random_state=0), "tokens", 3


def _layernorm():
    return tg.Sequential([tg.Dense(4, 5), tg.LayerNorm(), tg.Tanh(), tg.Dense(3), tg.Softmax(),
                          tg.CrossEntropy()], random_state=0), (N, 4), 3


def _binary():
    return tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(2), tg.Sigmoid(), tg.CrossEntropy()],
                         random_state=0), (N, 4), "binary"


def _squared():
    return tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(2), tg.MeanSquaredError()],
                         random_state=0), (N, 4), "real"


MODELS = {"dense": _mlp, "conv": _conv, "conv-large": _conv_large, "lstm": _recurrent(tg.LSTM),
          "gru": _recurrent(tg.GRU), "rnn": _recurrent(tg.SimpleRNN),
          "rnn-relu": _recurrent(tg.SimpleRNN, activation="relu"), "sequence-dense": _sequence_dense,
          "embedding": _embedding, "layernorm": _layernorm, "binary": _binary, "squared": _squared}


def _data(name, seed=1):
    model, xshape, k = MODELS[name]()
    rng = np.random.default_rng(seed)
    model.theta += 0.3 * rng.standard_normal(model.n_params)  # biases away from 0: every term shows
    X = rng.integers(0, 6, (N, 4)).astype(float) if xshape == "tokens" else rng.standard_normal(xshape)
    if k == "binary":
        y = (rng.random((N, 2)) < 0.5).astype(float)
    elif k == "real":
        y = rng.standard_normal((N, 2))
    else:
        y = rng.integers(0, k, N)
    return model, X, y


@pytest.mark.parametrize("name", MODELS)
def test_equals_torch_vmap_grad(name):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the per-example gradients")
    from _torch_oracle import torch_per_example
    torch.set_default_dtype(torch.float64)
    model, X, y = _data(name)
    G = per_example_grads(model, X, y)
    expected = torch_per_example(model, X, y)
    assert np.abs(G - expected).max() <= 1e-12 * max(1.0, np.abs(expected).max())


@pytest.mark.parametrize("name", ["dense", "conv", "lstm", "embedding", "sequence-dense"])
def test_rows_average_to_the_gradient_and_norms_match(name):
    model, X, y = _data(name)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0])
    G = per_example_grads(model, X, y, sample_weight=w, batch_size=2)
    _, grad = model.loss_and_grad(model.theta, X, y, sample_weight=w, regularize=False)
    np.testing.assert_allclose(G.sum(axis=0) / w.sum(), grad, rtol=1e-10, atol=1e-14)
    assert not G[2].any()  # weight 0: no gradient
    unweighted = per_example_grads(model, X, y)
    np.testing.assert_allclose(G, unweighted * w[:, None], rtol=1e-10, atol=1e-14)
    norms = per_example_grad_norms(model, X, y, sample_weight=w, batch_size=3)
    np.testing.assert_allclose(norms, (G ** 2).sum(axis=1), rtol=1e-10, atol=1e-14)


def test_variance_is_the_weighted_variance_of_the_rows():
    model, X, y = _data("conv")
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    per_row = per_example_grads(model, X, y)  # ∇ℓ_n
    mean = np.average(per_row, axis=0, weights=w)
    expected = np.average((per_row - mean) ** 2, axis=0, weights=w)
    np.testing.assert_allclose(gradient_variance(model, X, y, sample_weight=w, batch_size=2), expected,
                               rtol=1e-9, atol=1e-15)


def test_a_node_without_a_rule_is_split_row_by_row():
    """A custom node with a parameter (a per-feature scale): the row-masked backward still gives
    each example's gradient exactly."""
    class Scale(tg.Node):
        # y = x ⊙ s;  ds = Σ_n dy ⊙ x;  dx = dy ⊙ s
        def build(self, in_shape):
            self.params = (("s", in_shape),)
            return in_shape

        def init(self, rng, default=None):
            self.s[...] = rng.uniform(0.5, 1.5, self.s.shape)

        def forward(self, x):
            self.x = x
            return x * self.s

        def backward(self, dy):
            self.ds[...] = (dy * self.x).sum(axis=0)
            return dy * self.s

    model = tg.Sequential([tg.Dense(4, 3), Scale(), tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
                          random_state=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 4)), np.array([0, 1, 1, 0])
    G = per_example_grads(model, X, y)
    for n in range(4):
        _, g = model.loss_and_grad(model.theta, X[n:n + 1], y[n:n + 1])
        np.testing.assert_allclose(G[n], g, rtol=1e-12, atol=1e-15)


def test_batchnorm_is_refused_by_name():
    model = tg.Sequential([tg.Dense(4, 3), tg.BatchNorm(name="bn"), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
                          random_state=0)
    with pytest.raises(ValueError, match="bn normalises over the batch"):
        per_example_grads(model, np.ones((3, 4)), np.array([0, 1, 0]))


def test_bad_batch_size_is_named():
    model, X, y = _data("dense")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        per_example_grad_norms(model, X, y, batch_size=0)


def test_attention_rows_by_the_row_masked_backward():
    """MultiHeadAttention has no rule of its own: each row's gradient still equals that row's own."""
    if not hasattr(tg, "MultiHeadAttention"):
        pytest.skip("no attention node in this build")
    model = tg.Sequential([tg.MultiHeadAttention(2, causal=True), tg.Flatten(), tg.Dense(3), tg.Softmax(),
                           tg.CrossEntropy()], input_shape=(4, 4), random_state=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 4, 4)), np.array([0, 2, 1])
    G = per_example_grads(model, X, y)
    for n in range(3):
        _, g = model.loss_and_grad(model.theta, X[n:n + 1], y[n:n + 1])
        np.testing.assert_allclose(G[n], g, rtol=1e-10, atol=1e-13)
