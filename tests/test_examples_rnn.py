"""The recurrent examples run with small settings (their full figures are in docs/recurrent.md)."""
import numpy as np
from _examples import load_example

import tinygraph as tg


def test_rnn_mnist_small_run():
    with tg.blas_threads(1):
        r = load_example("rnn_mnist").main(epochs=1, units=16, n_train=1000, n_test=300, lr=1e-2,
                                           verbose=False)
    assert 0.2 < r["accuracy"] <= 1 and r["history"] == [r["accuracy"]]


def test_rnn_addition_small_run():
    r = load_example("rnn_addition").main(T=8, units=8, n_train=1000, n_test=200, epochs=2, verbose=False)
    assert len(r["history"]) == r["epochs"] <= 2 and np.isfinite(r["mse"])
    assert r["mse"] < 0.5


def test_rnn_hessian_free_small_run(tmp_path):
    module = load_example("rnn_hessian_free")
    results = module.main(Ts=(6,), budget=1.0, units=6, n_train=1000, n_test=200, out_dir=tmp_path,
                          verbose=False)
    assert set(results) == {(6, "adam"), (6, "hessian-free")}
    for r in results.values():
        curve = r["curve"]
        assert curve.shape[1] == 2 and np.all(np.diff(curve[:, 0]) >= 0) and r["steps"] >= 1
        assert r["mse"] < curve[0, 1]  # both methods lower the held-out error within the budget
    assert "| 6 |" in module.table(results, 1.0)
    assert (tmp_path / "rnn_hessian_free.png").stat().st_size > 10_000


def test_benchmark_rnn_small_run():
    r = load_example("benchmark_rnn").main(rounds=1, n=1, dtypes=("float64",), thread_counts=[1],
                                           peers=False)
    assert r["LSTM", "float64", 1]["tinygraph"] > 0 and "pytorch" not in r["LSTM", "float64", 1]
