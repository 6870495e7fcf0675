"""Estimators on ready-made models: LeNet with N-D X and nested model__ parameters; a BatchNorm
model whose running statistics travel with the fitted estimator (pickle, tg.save)."""
import pickle
import warnings

import numpy as np
import pytest

import tinygraph as tg

pytest.importorskip("sklearn", reason="the estimators need scikit-learn")
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from models.lenet import lenet_net
from models.normalized import normalized_mlp


@pytest.fixture(scope="module")
def digits():
    X, y = tg.datasets.load_mnist()
    return X[:200].reshape(-1, 1, 28, 28), y[:200]


def test_lenet_builder_with_nd_images_and_nested_parameters(digits):
    X, y = digits
    clf = tg.NeuralNetClassifier(model=lenet_net, optimizer=tg.optim.Adam(3e-3), batch_size=50, max_iter=6,
                                 random_state=0).set_params(model__channels=(4, 8), model__hidden=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # six epochs on purpose
        clf.fit(X, y)
    assert clf.model_.input.shape == (1, 28, 28)
    assert clf.model_["conv2d1"].W.shape == (4, 1, 5, 5)
    assert clf.predict(X).shape == (200,)
    assert clf.score(X, y) > 0.3  # chance is 0.1
    other = clone(clf).set_params(model__hidden=16)
    assert other.get_params()["model__hidden"] == 16


def test_batchnorm_estimator_keeps_its_running_statistics(tmp_path):
    rng = np.random.default_rng(0)
    X = 3 + 2 * rng.standard_normal((120, 6))
    y = (X[:, 0] + X[:, 1] > 6).astype(int)

    clf = tg.NeuralNetClassifier(model=normalized_mlp, model_params={"hidden_layers": (16,)},
                                 optimizer=tg.optim.Adam(1e-2), batch_size=30, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    bn = clf.model_["batchnorm1"]
    assert not np.allclose(bn.running_mean, 0.0)
    proba = clf.predict_proba(X)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.model_.state, clf.model_.state)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    tg.save(clf, tmp_path / "clf.npz")
    loaded = tg.load(tmp_path / "clf.npz")
    np.testing.assert_array_equal(loaded.model_.state, clf.model_.state)
