"""Per-step targets through the rest of the library: predict, predict_proba, score over unmasked
positions, fit with validation data and early stopping, row blocks (n_jobs), the l2 term, the
regressor estimator and HessianFree."""
import numpy as np
import pytest

import tinygraph as tg

N, T, V = 24, 7, 4


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, V, (N, T))
    y = np.maximum.accumulate(X, axis=1)  # the running maximum: needs the past, not just x_t
    w = np.ones((N, T))
    for n, length in enumerate(rng.integers(2, T + 1, N)):  # padded sequences: zero weight after the end
        w[n, length:] = 0.0
    return X, y, w


def lm(seed=0, l2=0.0):
    return tg.Sequential([tg.Embedding(V, 4), tg.GRU(8, return_sequences=True), tg.Dense(V), tg.Softmax(),
                          tg.CrossEntropy()], input_shape=T, l2=l2, random_state=seed)


def test_predict_and_score_per_position():
    X, y, w = data()
    model = lm()
    p = model.predict_proba(X)
    assert p.shape == (N, T, V) and np.allclose(p.sum(axis=-1), 1.0)
    pred = model.predict(X)
    np.testing.assert_array_equal(pred, p.argmax(axis=-1))
    assert model.score(X, y) == pytest.approx(np.mean(pred == y), rel=1e-15)
    assert model.score(X, y, w) == pytest.approx(np.mean(pred[w > 0] == y[w > 0]), rel=1e-15)
    assert model.score(X, np.eye(V)[y]) == model.score(X, y)  # one-hot per step


def test_fit_with_masks_validation_and_early_stopping():
    X, y, w = data()
    Xv, yv, wv = data(1)
    model = lm()
    result = tg.fit(model, X, y, tg.optim.Adam(2e-2), batch_size=8, epochs=12, sample_weight=w,
                    validation_data=(Xv, yv, wv), early_stopping=True, patience=20, random_state=0)
    best = result.best_epoch
    assert result.history["val_loss"][best] == pytest.approx(model.loss_value(model.theta, Xv, yv,
                                                                              sample_weight=wv), rel=1e-12)
    assert result.history["val_score"][best] == pytest.approx(model.score(Xv, yv, wv), rel=1e-12)
    assert model.score(Xv, yv, wv) > 0.6


def test_masked_steps_never_reach_the_parameters():
    """Shuffled minibatches gather the (N, T) weights with their rows: targets at masked steps may be
    anything, the trained theta is the same."""
    X, y, w = data()
    noise = np.where(w > 0, y, (y + 1) % V)
    a, b = lm(), lm()
    for model, target in ((a, y), (b, noise)):
        tg.fit(model, X, target, tg.optim.Adam(1e-2), batch_size=5, epochs=2, sample_weight=w, random_state=0)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, lm().theta)


def test_row_blocks_and_all_ones_weights_change_nothing():
    """n_jobs=2 splits the rows (each block weighs by its steps' weights); step weights of one equal
    no weights, l2 term included (it counts sequences, not steps)."""
    X, y, w = data()
    model = lm(l2=0.5)
    loss, grad = model.loss_and_grad(model.theta, X, y, sample_weight=w)
    loss2, grad2 = model.loss_and_grad(model.theta, X, y, sample_weight=w, n_jobs=2)
    assert loss2 == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad2, grad, rtol=1e-10, atol=1e-14)
    loss, grad = model.loss_and_grad(model.theta, X, y)
    loss1, grad1 = model.loss_and_grad(model.theta, X, y, sample_weight=np.ones((N, T)))
    assert loss1 == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(grad1, grad, rtol=1e-12, atol=1e-16)
    assert tg.check_gradients(model, X[:4], y[:4], sample_weight=w[:4]) < 1e-6


def test_step_weights_of_the_wrong_shape_are_named():
    X, y, _ = data()
    model = lm()
    with pytest.raises(ValueError, match=rf"must have shape \({N},\) or \({N}, {T}\), got \({N}, 3\)"):
        model.loss_value(model.theta, X, y, sample_weight=np.ones((N, 3)))


def test_regression_per_step_r2_and_the_estimator():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, T, 2))
    y = 0.3 * np.cumsum(X[..., 0], axis=1)
    w = (rng.random((60, T)) > 0.2).astype(float)

    def builder(input_shape, random_state):
        return tg.Sequential([tg.LSTM(8, return_sequences=True), tg.Dense(1), tg.MeanSquaredError()],
                             input_shape=input_shape, random_state=random_state)

    model = builder((T, 2), 0)
    pred = model.predict(X)
    assert pred.shape == (60, T)
    r2 = sklearn.r2_score(y.ravel(), pred.ravel(), sample_weight=w.ravel())
    assert model.score(X, y, w) == pytest.approx(r2, rel=1e-12)
    reg = tg.NeuralNetRegressor(model=builder, max_iter=60, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (60, T) and reg.score(X, y) > 0.8


def test_hessian_free_on_per_step_targets():
    X, y, w = data()
    model = lm()
    before = model.loss_value(model.theta, X, y, sample_weight=w)
    result = tg.fit(model, X, y, tg.HessianFree(model=model, random_state=0), batch_size=N, epochs=3,
                    sample_weight=w)
    assert np.isfinite(result.fun) and model.loss_value(model.theta, X, y, sample_weight=w) < before


def test_array_fit_validates_on_a_list_of_batches():
    """validation_data as a list of batches: the examples-weighted mean of their losses and scores,
    equal to the whole set's (l2 term over all of it) when the batches split it."""
    X, y, _ = data()
    Xv, yv, _ = data(1)
    whole, split = lm(l2=0.1), lm(l2=0.1)
    kw = {"batch_size": 8, "epochs": 2, "random_state": 0}
    a = tg.fit(whole, X, y, "adam", validation_data=(Xv, yv), **kw)
    b = tg.fit(split, X, y, "adam", validation_data=[(Xv[:10], yv[:10]), (Xv[10:], yv[10:])], **kw)
    np.testing.assert_allclose(b.history["val_loss"], a.history["val_loss"], rtol=1e-12)
    np.testing.assert_allclose(b.history["val_score"], a.history["val_score"], rtol=1e-12)
