"""The core examples run (small settings) and reach the figures their docstrings claim."""

import pytest
from _examples import load_example


def test_moons_scipy_reaches_97_percent():
    pytest.importorskip("sklearn")
    results = load_example("moons_scipy").main()
    assert set(results) == {"L-BFGS-B", "CG", "TNC"}
    assert min(results.values()) >= 0.97


def test_mnist_scipy_small_run():
    results = load_example("mnist_scipy").main(methods=("L-BFGS-B",), maxiter=40, n_train=2000)
    assert results["L-BFGS-B"] > 0.8


def test_custom_node_example():
    errors, accuracy = load_example("custom_node").main(maxiter=30)
    assert max(errors.values()) < 1e-6
    assert accuracy > 0.7
