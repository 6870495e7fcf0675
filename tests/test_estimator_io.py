"""Fitted estimators round-trip through tg.save/tg.load: same predictions, same continued training."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.sklearn import NeuralNetClassifier, NeuralNetRegressor

pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # small max_iter


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 4))
    labels = np.array(["ant", "bee", "cat"])
    return X, labels[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]


def same_fitted_state(a, b):
    assert type(a) is type(b)
    assert repr(a.get_params()) == repr(b.get_params())
    assert a.coef_.tobytes() == b.coef_.tobytes() and b.coef_ is b.model_.theta
    assert a.n_iter_ == b.n_iter_ and a.loss_curve_ == b.loss_curve_


def test_classifier_round_trip_with_string_labels(tmp_path, blobs):
    X, y = blobs
    est = NeuralNetClassifier((5,), "tanh", l2=0.01, max_iter=30, random_state=0).fit(X, y)
    loaded = tg.load(tg.save(est, tmp_path / "clf.npz"))
    same_fitted_state(est, loaded)
    assert np.array_equal(loaded.classes_, est.classes_) and loaded.classes_.dtype == est.classes_.dtype
    assert loaded.predict_proba(X).tobytes() == est.predict_proba(X).tobytes()
    assert np.array_equal(loaded.predict(X), est.predict(X))


def test_partial_fit_continues_exactly_after_loading(tmp_path, blobs):
    X, y = blobs
    est = NeuralNetClassifier((6,), "relu", optimizer=tg.optim.Adam(0.01, clipnorm=5.0), batch_size=16,
                              random_state=1)
    est.partial_fit(X[:45], y[:45], classes=np.unique(y))
    loaded = tg.load(tg.save(est, tmp_path / "clf.npz"))
    assert repr(loaded.optimizer_) == repr(est.optimizer_) and loaded.optimizer_.t == est.optimizer_.t > 0
    est.partial_fit(X[45:], y[45:])
    loaded.partial_fit(X[45:], y[45:])
    same_fitted_state(est, loaded)


def test_regressor_with_a_schedule_warm_starts_exactly(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 3))
    Y = np.column_stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])])
    opt = tg.optim.SGD(tg.schedules.ExponentialDecay(0.05, 0.99), momentum=0.9)
    est = NeuralNetRegressor([4, 3], "sigmoid", optimizer=opt, batch_size=10, max_iter=3, warm_start=True,
                             random_state=3).fit(X, Y)
    loaded = tg.load(tg.save(est, tmp_path / "reg.npz"))
    assert isinstance(loaded.hidden_layers, list) and repr(loaded.optimizer) == repr(opt)
    assert loaded.predict(X).tobytes() == est.predict(X).tobytes()
    est.fit(X, Y)
    loaded.fit(X, Y)
    same_fitted_state(est, loaded)


def test_what_cannot_be_saved_is_refused_or_announced(tmp_path, blobs):
    X, y = blobs
    with pytest.raises(TypeError, match="expects a Graph or a fitted tinygraph estimator"):
        tg.save(NeuralNetClassifier(), tmp_path / "unfitted.npz")
    est = NeuralNetClassifier((3,), max_iter=5, random_state=np.random.default_rng(0)).fit(X, y)
    with pytest.warns(UserWarning, match=r"params\['random_state'\] = Generator.* is not saved"):
        loaded = tg.load(tg.save(est, tmp_path / "gen.npz"))
    assert loaded.random_state is None
    assert np.array_equal(loaded.predict(X), est.predict(X))


def test_a_model_file_is_not_an_estimator(tmp_path, blobs):
    X, y = blobs
    est = NeuralNetClassifier((3,), max_iter=5, random_state=0).fit(X, y)
    path = est.model_.save(tmp_path / "model.npz")
    assert isinstance(tg.load(path), tg.Sequential)


def test_a_model_builder_is_saved_by_name_and_found_when_imported(tmp_path, blobs):
    from models.moons import moons_net
    X, y = blobs
    est = NeuralNetClassifier(model=moons_net, model_params={"hidden": 4}, max_iter=20, warm_start=True,
                              random_state=0).fit(X[:, :2], y == "ant")
    loaded = tg.load(tg.save(est, tmp_path / "b.npz"))
    assert loaded.model is moons_net and loaded.model_params == {"hidden": 4}
    est.fit(X[:, :2], y == "ant")
    loaded.fit(X[:, :2], y == "ant")
    same_fitted_state(est, loaded)


def test_a_loaded_estimator_still_refuses_an_architecture_change_on_warm_start(tmp_path, blobs):
    X, y = blobs
    est = NeuralNetClassifier((5,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    loaded = tg.load(tg.save(est, tmp_path / "w.npz"))
    with pytest.raises(ValueError, match="hidden_layers"):
        loaded.set_params(hidden_layers=(7,)).fit(X, y)
