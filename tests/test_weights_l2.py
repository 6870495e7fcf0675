"""l2 reaches every weight matrix (Dense, Conv2D, the recurrent cells' W_ih and W_hh, Embedding's
table) and never a bias, a norm gain or shift."""
import numpy as np
import pytest

import tinygraph as tg


def _penalised(model) -> set:
    return {(node.name, p) for node in model.nodes for p in node.regularized}


@pytest.mark.parametrize("cell", [tg.SimpleRNN, tg.LSTM, tg.GRU])
def test_recurrent_weights_are_penalised(cell):
    model = tg.Sequential([cell(3), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], input_shape=(4, 2),
                          l2=1.0, random_state=0)
    rnn = model.nodes[1]
    assert _penalised(model) == {(rnn.name, "W_ih"), (rnn.name, "W_hh"), ("dense1", "W")}
    m = 5.0
    want = 0.5 / m * sum(float((W ** 2).sum()) for W in (rnn.W_ih, rnn.W_hh, model.nodes[2].W))
    assert model.penalty(m) == pytest.approx(want, rel=1e-12)


def test_embedding_table_is_penalised_and_the_gradient_has_l2_over_m_W():
    model = tg.Sequential([tg.Embedding(6, 3), tg.Flatten(), tg.Dense(6, 2), tg.Softmax(), tg.CrossEntropy()],
                          input_shape=(2,), l2=1.0, random_state=0)
    X, y = np.array([[0, 1], [2, 3]]), np.array([0, 1])
    _, g1 = model.loss_and_grad(model.theta, X, y)
    _, g0 = model.loss_and_grad(model.theta, X, y, regularize=False)
    emb = model.nodes[1]
    np.testing.assert_allclose(emb.views(g1 - g0)["W"], emb.W / 2, rtol=1e-12, atol=1e-15)


def test_biases_and_norm_parameters_are_not_penalised():
    model = tg.Sequential([tg.Dense(3, 4), tg.BatchNorm(), tg.LayerNorm(), tg.Dense(4, 1), tg.Identity(),
                           tg.MeanSquaredError()], l2=1.0, random_state=0)
    assert {p for _, p in _penalised(model)} == {"W"}
    assert _penalised(model) == {("dense1", "W"), ("dense2", "W")}
