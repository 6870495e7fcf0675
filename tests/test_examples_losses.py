"""examples/robust_losses.py runs (small settings): Huber beats squared error once targets have outliers."""
import pytest
from _examples import load_example


def test_robust_losses_example():
    pytest.importorskip("sklearn")
    reg, cls = load_example("robust_losses").main(maxiter=60, fractions=(0.2,), datasets=("iris",),
                                                  classify_maxiter=60)
    assert reg[0.2, "huber(0.5)"] < 0.1 and reg[0.2, "mse"] > 1.0
    assert min(cls.values()) > 0.85
