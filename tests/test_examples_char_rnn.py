"""examples/char_rnn.py with small settings: it trains on a stream of windows, validates on a fixed
set of batches and samples from the state-carrying LSTM (the full figures are in the README)."""
import numpy as np
from _examples import load_example

import tinygraph as tg


def test_char_rnn_small_run():
    module = load_example("char_rnn")
    text = tg.datasets.load_tinyshakespeare()[:20_000]
    with tg.blas_threads(1):
        r = module.main(steps=30, units=16, dim=8, T=16, eval_batches=4, eval_every=15, sample_chars=40,
                        text=text, verbose=False)
    assert len(r["history"]["val_loss"]) == 2 and np.isfinite(r["val_loss"])
    assert r["val_loss"] < np.log(len(set(text)))  # better than uniform over the characters
    assert len(r["sample"]) == 41 and set(r["sample"]) <= set(text)


def test_encode_and_windows():
    module = load_example("char_rnn")
    ids, chars = module.encode("abcab\n")
    assert chars == ["\n", "a", "b", "c"] and ids.tolist() == [1, 2, 3, 1, 2, 0]
    X, y = module.windows(np.arange(100), np.random.default_rng(0), 3, 8)
    assert X.shape == y.shape == (3, 8) and np.array_equal(y, X + 1)


def test_benchmark_char_rnn_small_run():
    r = load_example("benchmark_char_rnn").main(rounds=1, n=1, units=8, peers=False)
    assert r["tinygraph"] > 0 and "pytorch" not in r
