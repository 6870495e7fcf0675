"""The attention examples run end to end at small settings (timings printed, never asserted)."""
import importlib.util

import numpy as np
from _examples import load_example


def test_benchmark_gpt_quick():
    peers = importlib.util.find_spec("torch") is not None
    res = load_example("benchmark_gpt").main(rounds=1, n=1, thread_counts=[1], peers=peers)
    assert res[1]["tinygraph"] > 0 and ("ratio" in res[1]) == peers
    assert {"MultiHeadAttention", "Dense", "GELU", "LayerNorm"} <= set(res["breakdown"])


def test_transformer_hessian_free_small_run():
    res = load_example("transformer_hessian_free").main(budget=1.0, n_train=300, n_test=100, verbose=False)
    for method in ("adam", "hessian-free"):
        r = res[method]
        assert r["steps"] >= 1 and np.isfinite(r["loss"]) and 0 <= r["accuracy"] <= 1
