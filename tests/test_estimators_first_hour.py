"""The scikit-learn face as a new user meets it: warnings that say what ran out and point at the
user's line, per-layer coefs_/intercepts_ as MLPClassifier has them, and a documented fitted state."""
import re
import warnings

import numpy as np
import pytest

import tinygraph as tg

pytest.importorskip("sklearn", reason="the estimators need scikit-learn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


def test_tnc_warning_says_max_iter_counts_evaluations_and_points_here(digits):
    X, y = digits
    clf = tg.NeuralNetClassifier(optimizer="TNC", max_iter=25, random_state=0)
    with pytest.warns(ConvergenceWarning) as caught:
        clf.fit(X, y)
    message = str(caught[0].message)
    assert "max_iter=25 loss-and-gradient evaluations" in message
    assert f"n_iter_={clf.n_iter_} iterations" in message and clf.n_iter_ < 25
    assert caught[0].filename == __file__


def test_minibatch_warning_counts_epochs_and_points_here(digits):
    X, y = digits
    clf = tg.NeuralNetClassifier(optimizer=tg.optim.Adam(1e-3), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2 epochs ran out after n_iter_=2") as caught:
        clf.fit(X, y)
    assert caught[0].filename == __file__


@pytest.mark.parametrize("method", ["TNC", "L-BFGS-B", "CG"])
def test_partial_fit_with_a_scipy_method_is_quiet(digits, method):
    X, y = digits
    clf = tg.NeuralNetClassifier(optimizer=method, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.partial_fit(X[:150], y[:150], classes=np.arange(10))
        clf.partial_fit(X[150:], y[150:])
    assert clf.n_iter_ == 2


def test_coefs_and_intercepts_per_layer_as_mlpclassifier(digits):
    X, y = digits
    clf = tg.NeuralNetClassifier(hidden_layers=(20, 15), max_iter=20, tol=1e-2, random_state=0)
    with pytest.raises(AttributeError, match="before fit"):
        clf.coefs_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert [W.shape for W in clf.coefs_] == [(64, 20), (20, 15), (15, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (15,), (10,)]
    assert all(np.shares_memory(a, clf.coef_) for a in [*clf.coefs_, *clf.intercepts_])
    dense1 = clf.model_.nodes[1]
    np.testing.assert_array_equal(clf.coefs_[0], dense1.W)
    np.testing.assert_array_equal(clf.intercepts_[0], dense1.b)


@pytest.mark.parametrize("cls", ["NeuralNetClassifier", "NeuralNetRegressor"])
def test_the_fitted_attributes_are_documented(cls):
    doc = getattr(tg, cls).__doc__
    assert re.search(r"\n    Attributes\n    -+\n", doc)
    for name in ("coef_", "coefs_", "intercepts_", "loss_curve_", "n_iter_", "model_", "feature_names_in_",
                 "classes_" if cls == "NeuralNetClassifier" else "n_outputs_"):
        assert re.search(rf"\n    {name} : ", doc), name


def test_partial_fit_with_a_trust_region_method_says_what_to_use(digits):
    X, y = digits
    clf = tg.NeuralNetClassifier(optimizer="trust-ncg", random_state=0)
    with pytest.raises(ValueError, match=r"Scipy\('trust-ncg'\) needs Hessian products.*full batch"):
        clf.partial_fit(X, y, classes=np.arange(10))
