"""The core examples run (small settings) and reach the figures their docstrings claim."""
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moons_scipy_reaches_97_percent():
    pytest.importorskip("sklearn")
    results = load("moons_scipy").main()
    assert set(results) == {"L-BFGS-B", "CG", "TNC"}
    assert min(results.values()) >= 0.97


def test_mnist_scipy_small_run():
    results = load("mnist_scipy").main(methods=("L-BFGS-B",), maxiter=40, n_train=2000)
    assert results["L-BFGS-B"] > 0.8


def test_custom_node_example():
    errors, accuracy = load("custom_node").main(maxiter=30)
    assert max(errors.values()) < 1e-6
    assert accuracy > 0.7
