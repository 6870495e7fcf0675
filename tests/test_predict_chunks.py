"""Evaluation runs X in chunks of bounded memory, with the whole-X results bit for bit, and a model
keeps no inference buffers after it answered. tracemalloc sees numpy's arrays; no timings here."""
import tracemalloc

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import prediction

rng = np.random.default_rng(0)


def _convnet():
    return tg.Sequential([tg.Conv2D(4, 3), tg.ReLU(), tg.MaxPool2D(2), tg.Flatten(), tg.Dense(10), tg.Softmax(),
                          tg.CrossEntropy()], input_shape=(1, 12, 12), random_state=0)


def _rnn():
    return tg.Sequential([tg.LSTM(5), tg.Dense(5, 3), tg.Softmax(), tg.CrossEntropy()], input_shape=(6, 2),
                         random_state=0)


def _mlp():
    return tg.Sequential([tg.Dense(8, 16), tg.Tanh(), tg.Dense(16, 1), tg.Identity(), tg.MeanSquaredError()],
                         random_state=0)


CASES = [(_convnet, (1, 12, 12), np.arange(503) % 10), (_rnn, (6, 2), np.arange(503) % 3),
         (_mlp, (8,), rng.random(503))]


def traced(fn):
    """(bytes still held after fn, peak during fn), above the start."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - base, peak - base


@pytest.mark.parametrize(("build", "shape", "y"), CASES)
def test_chunks_give_the_whole_pass_bit_for_bit(monkeypatch, build, shape, y):
    if not tg.parallel.threads.available():
        pytest.skip("bit for bit holds with one BLAS thread: needs threadpoolctl to hold it there")
    model, X = build(), rng.random((503,) + shape)
    with tg.blas_threads(1):  # more BLAS threads split a product differently with its size
        whole = model.forward(X)
        assert model._chunk_rows() >= 503  # the default budget holds these small passes at once
        monkeypatch.setattr(prediction, "_CHUNK_BYTES", 1)  # the smallest chunks the rule allows
        assert model._chunk_rows() == 64
        np.testing.assert_array_equal(model.forward(X), whole)
        np.testing.assert_array_equal(model.predict(X), model._decide(whole))
        assert model.score(X, y) == model._score(whole, y)


def test_peak_memory_is_bounded_by_the_chunk(monkeypatch):
    model, X = _convnet(), rng.random((4000, 1, 12, 12))
    model.forward(X[:64])
    monkeypatch.setattr(prediction, "_CHUNK_BYTES", 1)
    _, peak_chunked = traced(lambda: model.forward(X))
    monkeypatch.setattr(prediction, "_CHUNK_BYTES", 1 << 40)
    _, peak_whole = traced(lambda: model.forward(X))
    out_bytes = 4000 * 10 * 8
    assert peak_chunked < out_bytes + peak_whole / 10, (peak_chunked, peak_whole)


def test_no_inference_buffers_are_kept_after_predict():
    X = rng.random((500, 1, 12, 12))
    once, four = _convnet(), _convnet()
    once.predict(X[:10])
    four.predict(X[:10])
    held_once, _ = traced(lambda: once.predict(X))

    def calls():
        for n in (500, 499, 498, 497):
            four.predict(X[:n])
    held_four, _ = traced(calls)
    # what stays is what the last pass cached for a backward (one pass's arrays), not one set per shape
    assert held_four < 1.2 * held_once, (held_four, held_once)
    assert sum(b.nbytes for node in four.nodes for b in node._buffers.values()) < 20_000


def test_training_buffers_survive_a_predict():
    model = _mlp()
    X, y = rng.random((32, 8)), rng.random(32)
    model.loss_and_grad(model.theta, X, y)
    kept = [dict(node._buffers) for node in model.nodes]
    model.predict(rng.random((100, 8)))
    for node, before in zip(model.nodes, kept):
        for key, buf in before.items():
            assert node._buffers.get(key) is buf
