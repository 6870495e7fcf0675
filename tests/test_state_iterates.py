"""Running statistics belong to the theta they are used with: after every full-batch iteration (for
validation, early stopping, checkpoints), a warning when a model predicts with older ones, and no
training stops on a last minibatch of one row."""
import copy
import pickle
import warnings

import numpy as np
import pytest
import scipy.optimize

import tinygraph as tg
from tinygraph.statistics import StaleStatisticsWarning

rng = np.random.default_rng(0)
X = rng.normal(size=(80, 4)) * 4 + 3
y = (X[:, 0] + X[:, 1] > 6).astype(int)
Xv, yv = X[:30] + 0.1, y[:30]


def _bn(**kwargs):
    return tg.Sequential([tg.Dense(4, 6), tg.BatchNorm(), tg.ReLU(), tg.Dense(6, 2), tg.Softmax(),
                          tg.CrossEntropy()], random_state=0, **kwargs)


def _at(model, theta):
    """The model at ``theta`` with the population statistics of X at that theta."""
    other = copy.deepcopy(model)
    other.theta[:] = theta
    return other.recompute_state(X)


class _Record:
    def __init__(self):
        self.seen = []

    def __call__(self, info):
        if info.event == "epoch":
            self.seen.append((info.theta.copy(), info.model.state.copy(), info.val_score))


def test_full_batch_iterates_carry_their_own_statistics():
    model, rec = _bn(), _Record()
    result = tg.fit(model, X, y, "L-BFGS-B", maxiter=8, validation_data=(Xv, yv), callback=rec)
    assert len(rec.seen) == result.nit >= 3
    for theta, state, val_score in rec.seen:
        right = _at(model, theta)
        np.testing.assert_array_equal(state, right.state)
        assert val_score == right.score(Xv, yv)
    np.testing.assert_array_equal(model.state, _at(model, model.theta).state)


def test_early_stopping_keeps_the_best_iterate_with_its_statistics():
    model = _bn()
    result = tg.fit(model, X, y, "L-BFGS-B", maxiter=12, validation_data=(Xv, yv), early_stopping=True,
                    patience=2, tol=0.0)
    best = result.history["val_loss"].argmin()
    assert model.score(Xv, yv) == result.history["val_score"][best]


def test_a_checkpoint_of_a_full_batch_fit_holds_its_thetas_statistics(tmp_path):
    model = _bn()
    path = tmp_path / "ck.npz"
    tg.fit(model, X, y, "L-BFGS-B", maxiter=4, callback=tg.Checkpoint(path))
    ck = tg.load_checkpoint(path)
    np.testing.assert_array_equal(ck.model.state, _at(model, ck.model.theta).state)


def test_raw_scipy_then_predict_warns_until_recompute_state():
    model = _bn()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)  # the initial statistics go with the initial theta: no warning
    res = scipy.optimize.minimize(model.loss_and_grad, model.theta, args=(X, y), jac=True, method="L-BFGS-B",
                                  options={"maxiter": 10})
    model.theta[:] = res.x
    with pytest.warns(StaleStatisticsWarning, match="recompute_state"):
        model.predict(X)
    with pytest.warns(StaleStatisticsWarning):
        model.score(X, y)
    model.recompute_state(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)
        model.forward(X)


def test_no_warning_after_fit_load_pickle_or_copy(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for optimizer, kwargs in (("L-BFGS-B", {"maxiter": 5}), ("adam", {"batch_size": 16, "epochs": 2})):
            model = _bn()
            tg.fit(model, X, y, optimizer, **kwargs)
            model.predict(X)
            pickle.loads(pickle.dumps(model)).predict(X)
            copy.deepcopy(model).predict(X)
            model.save(tmp_path / "m.npz")
            tg.load(tmp_path / "m.npz").predict(X)


def test_models_without_statistics_never_warn():
    model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    model.theta[:] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)


@pytest.mark.parametrize("optimizer", ["adam", "L-BFGS-B"])
def test_a_last_minibatch_of_one_row_joins_the_one_before(optimizer):
    model = _bn()
    X65, y65 = X[:65], y[:65]
    result = tg.fit(model, X65, y65, optimizer, batch_size=64, epochs=2, random_state=0)
    assert result.n_examples_seen >= 130 and np.isfinite(model.theta).all()
    assert len(result.history["loss"]) == 2  # one step of 65 rows per epoch
    result = tg.fit(model, X65, y65, optimizer, batch_size=32, epochs=1, random_state=0, shuffle=False)
    assert len(result.history["loss"]) == 2  # 32 rows, then 33


def test_batch_size_one_with_batchnorm_fails_at_the_first_step_before_any_update():
    model = _bn()
    before = model.theta.copy()
    with pytest.raises(ValueError, match="batchnorm1: training mode needs more than 1 value per channel"):
        tg.fit(model, X, y, "adam", batch_size=1, epochs=1)
    np.testing.assert_array_equal(model.theta, before)


def test_recompute_state_with_a_last_chunk_of_one_row():
    model = _bn()
    model.recompute_state(X[:65], batch_size=64)
    assert np.isfinite(model.state).all()


def test_estimator_default_batch_at_201_rows():
    pytest.importorskip("sklearn")
    import models
    Xb, yb = rng.normal(size=(201, 4)), np.arange(201) % 2
    est = tg.NeuralNetClassifier(model=models.normalized_mlp, model_params={"hidden_layers": (5,), "dropout": 0.0},
                                 optimizer="adam", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # ConvergenceWarning after 2 epochs
        est.fit(Xb, yb)
    assert est.n_iter_ == 2
