"""The curvature toolbox: Fisher products, trace, diagonal, spectral density, against dense matrices."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.curvature import spectrum
from tinygraph.curvature.fisher import sample_targets
from tinygraph.curvature.per_example import per_example_grads
from tinygraph.curvature.products import CurvatureOperator, curvature

KINDS = ("gauss-newton", "hessian", "fisher", "mc-fisher")


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3), tg.Softmax(), tg.CrossEntropy()],
                          random_state=0)
    return model, X, y


def _dense(model, X, y, kind, **kw):
    return CurvatureOperator(model, X, y, kind=kind, **kw) @ np.eye(model.n_params)


def test_empirical_fisher_is_the_weighted_outer_product_of_the_example_gradients(small):
    model, X, y = small
    w = np.linspace(0.2, 2.0, 10)
    G = per_example_grads(model, X, y, sample_weight=w)  # rows w_n g_n
    expected = G.T @ (G / w[:, None]) / w.sum()
    np.testing.assert_allclose(_dense(model, X, y, "fisher", sample_weight=w), expected, rtol=1e-12,
                               atol=1e-14)


def test_sampled_fisher_is_the_empirical_one_on_the_sampled_targets(small):
    model, X, y = small
    model.loss_and_grad(model.theta, X, y)
    z = model._values[model._loss_index]
    drawn = sample_targets(model.loss, z, np.random.default_rng(7))
    np.testing.assert_array_equal(_dense(model, X, y, "mc-fisher", random_state=7),
                                  _dense(model, X, drawn, "fisher"))


@pytest.mark.parametrize("last", ["softmax", "sigmoid"])
def test_the_fisher_averaged_over_the_model_targets_is_the_gauss_newton_matrix(last):
    """E_y~p[F] written exactly: every row once per possible target, weighted by its probability."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3))
    act = tg.Softmax() if last == "softmax" else tg.Sigmoid()
    model = tg.Sequential([tg.Dense(3, 4), tg.Tanh(), tg.Dense(1 if last == "sigmoid" else 3), act,
                           tg.CrossEntropy()], random_state=0)
    p = model.predict_proba(X) if last == "softmax" else model.forward(X)
    if last == "softmax":
        Xs, ys, ws = np.repeat(X, 3, axis=0), np.tile(np.arange(3), 6), p.reshape(-1)
        y = np.arange(6) % 3
    else:
        Xs, ys = np.repeat(X, 2, axis=0), np.tile([[0.0], [1.0]], (6, 1))
        ws = np.column_stack([1 - p[:, 0], p[:, 0]]).reshape(-1)
        y = (np.arange(6) % 2).astype(float)[:, None]
    np.testing.assert_allclose(_dense(model, Xs, ys, "fisher", sample_weight=ws),
                               _dense(model, X, y, "gauss-newton"), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_top_eigenvalues_and_exact_trace_match_the_dense_matrix(small, kind):
    model, X, y = small
    A = _dense(model, X, y, kind)
    np.testing.assert_allclose(A, A.T, atol=1e-14)
    eig = np.sort(np.linalg.eigvalsh(A))[::-1]
    np.testing.assert_allclose(curvature(model, X, y, k=3, kind=kind), eig[:3], rtol=1e-9)
    exact = spectrum.trace(model, X, y, kind=kind, method="exact")
    assert exact.value == pytest.approx(np.trace(A), rel=1e-12) and exact.products == model.n_params


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_stochastic_trace_lies_within_its_standard_error(small, method):
    model, X, y = small
    truth = np.trace(_dense(model, X, y, "hessian"))
    est = spectrum.trace(model, X, y, kind="hessian", probes=90, method=method, random_state=3)
    assert est.products == 90 and np.isfinite(est.stderr)
    assert abs(est.value - truth) <= 4 * est.stderr + 1e-12
    hutch = spectrum.trace(model, X, y, kind="hessian", probes=90, random_state=3)
    if method == "hutch++":  # a 29-vector sketch of a 27-dimensional matrix: exact up to rounding
        assert abs(est.value - truth) < 1e-10 < abs(hutch.value - truth)


def test_diagonal_exact_and_hutchinson(small):
    model, X, y = small
    d = np.diag(_dense(model, X, y, "gauss-newton"))
    np.testing.assert_allclose(spectrum.diagonal(model, X, y, kind="gauss-newton", method="exact").value, d,
                               rtol=1e-12, atol=1e-15)
    est = spectrum.diagonal(model, X, y, kind="gauss-newton", probes=400, random_state=0)
    z = np.abs(est.value - d) / np.maximum(est.stderr, 1e-15)
    assert z.max() < 5 and np.median(z) < 1.5


def test_density_integrates_to_one_and_matches_the_eigenvalue_histogram(small):
    model, X, y = small
    n = model.n_params
    eig = np.linalg.eigvalsh(_dense(model, X, y, "hessian"))
    s = spectrum.density(model, X, y, kind="hessian", iter=n, n_v=60, random_state=0)
    assert s.products <= 60 * n
    grid = s.grid(4000)
    assert np.trapezoid(s.pdf(grid), grid) == pytest.approx(1.0, abs=1e-6)
    full = s.weights.sum(axis=1)
    np.testing.assert_allclose(full, 1.0, atol=1e-12)
    # the quadrature's distribution against the exact eigenvalues': their CDFs' L1 distance (W1)
    t = np.linspace(eig[0] - 1e-3, eig[-1] + 1e-3, 20001)
    order = np.argsort(s.nodes.ravel())
    cdf = np.cumsum(s.weights.ravel()[order]) / s.nodes.shape[0]
    quad = np.concatenate([[0.0], cdf])[np.searchsorted(s.nodes.ravel()[order], t, side="right")]
    exact = np.searchsorted(eig, t, side="right") / n
    assert np.trapezoid(np.abs(quad - exact), t) < 0.02 * (eig[-1] - eig[0])


def test_plot_spectrum_draws_on_an_axes(small):
    matplotlib = pytest.importorskip("matplotlib", reason="plot_spectrum's optional extra")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    model, X, y = small
    ax = spectrum.plot_spectrum(spectrum.density(model, X, y, iter=10))
    assert ax.get_yscale() == "log" and len(ax.lines) == 1
    plt.close(ax.figure)


def test_errors_name_the_problem(small):
    model, X, y = small
    with pytest.raises(ValueError, match="method must be"):
        spectrum.trace(model, X, y, method="power")
    with pytest.raises(ValueError, match="probes must be an integer >= 3"):
        spectrum.trace(model, X, y, method="hutch++", probes=2)
    with pytest.raises(ValueError, match="kind must be one of"):
        CurvatureOperator(model, X, y, kind="kfac")
    hinge = tg.Sequential([tg.Dense(4, 3), tg.Hinge(name="svm")], random_state=0)
    with pytest.raises(TypeError, match="svm: Hinge defines no predictive distribution"):
        CurvatureOperator(hinge, X, y, kind="mc-fisher")
