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


def test_custom_loss_example():
    out = load_example("custom_loss").main(n=100, maxiter=100)
    assert out["squared error gradient error"] < 1e-6 and out["log-cosh gradient error"] < 1e-6
    assert out["r-operator error"] < 1e-6
    slope, intercept = out["log-cosh"]
    assert abs(slope - 2) < 0.1 and abs(intercept - 1) < 0.5  # the outliers barely move it
    assert abs(out["squared error"][1] - 1) > 1  # they drag the squared error's intercept


def test_custom_loss_checks_targets_saves_and_scales_by_weights(tmp_path):
    import numpy as np

    import tinygraph as tg
    LogCosh = load_example("custom_loss").LogCosh
    tg.register_node(LogCosh)  # the example module was loaded afresh: register this class
    model = tg.Sequential([tg.Dense(2, 1), LogCosh(delta=0.5)], random_state=0)
    X, y = np.random.default_rng(0).standard_normal((6, 2)), np.arange(6.0)
    with pytest.raises(ValueError, match="logcosh1: X has 6 rows but y has shape"):
        model.loss_and_grad(model.theta, X, y[:5])
    # doubling every weight changes nothing: the loss is the weighted mean, dx carries w / Σ w
    l1, g1 = model.loss_and_grad(model.theta, X, y, sample_weight=np.ones(6))
    l2, g2 = model.loss_and_grad(model.theta, X, y, sample_weight=np.full(6, 2.0))
    assert l1 == pytest.approx(l2) and np.allclose(g1, g2)
    with np.errstate(all="raise"):  # saturation: residuals of ±1000 overflow nothing
        assert np.isfinite(model.loss_and_grad(model.theta, 1000 * X, -1000 * y)[1]).all()
    back = tg.load(tg.save(model, tmp_path / "logcosh"))
    assert back.loss.delta == 0.5 and np.array_equal(back.theta, model.theta)
