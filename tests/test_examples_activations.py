"""The activation and loss examples run (small settings): Huber beats squared error once targets have
outliers; the activation benchmark times every node (and PyTorch's, when installed)."""
import importlib.util

import pytest
from _examples import load_example


def test_robust_losses_example():
    pytest.importorskip("sklearn")
    reg, cls = load_example("robust_losses").main(maxiter=60, fractions=(0.2,), datasets=("iris",),
                                                  classify_maxiter=60)
    assert reg[0.2, "huber(0.5)"] < 0.1 and reg[0.2, "mse"] > 1.0
    assert min(cls.values()) > 0.85


def test_benchmark_activations_example():
    example = load_example("benchmark_activations")
    results = example.main(n=50, d=8, repeats=2, dtypes=("float32",))
    assert set(results) == {("float32", name) for name in example.NODES}
    has_torch = importlib.util.find_spec("torch") is not None
    for mine, peer in results.values():
        assert mine[1] <= mine[0] and (peer is not None) == has_torch
