"""Modes, state and randomness at the model level: loss_and_grad never writes state, minibatch
steps fold it in once, a full-batch fit recomputes it, dropout is a function of (theta, step);
state survives save/load, checkpoints, pickling and row blocks; curvature products through them."""
import pickle

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import optim
from tinygraph.gradcheck import relative_error


def data(n=60, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = 2 + 3 * rng.standard_normal((n, d))
    return X, rng.integers(0, k, n)


def bn_net(rate=0.0, seed=0, **kwargs):
    layers = [tg.Dense(8), tg.BatchNorm(), tg.Tanh()]
    if rate:
        layers.append(tg.Dropout(rate))
    layers += [tg.Dense(3), tg.Softmax(), tg.CrossEntropy()]
    return tg.Sequential(layers, n_features=6, random_state=seed, **kwargs)


def test_state_is_apart_from_theta_and_starts_as_pytorch():
    model = bn_net()
    bn = model["batchnorm1"]
    assert model.n_params == 6 * 8 + 8 + 2 * 8 + 8 * 3 + 3
    assert model.n_state == 16
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    np.testing.assert_array_equal(bn.running_var, 1.0)
    assert np.shares_memory(bn.running_var, model.state)
    assert not np.shares_memory(bn.running_var, model.theta)


def test_loss_and_grad_never_writes_state_and_is_a_function_of_theta():
    X, y = data()
    model = bn_net(rate=0.3)
    before = model.state.copy()
    l1, g1 = model.loss_and_grad(model.theta, X, y)
    l2, g2 = model.loss_and_grad(model.theta, X, y)
    model.loss_value(model.theta, X, y)
    model.gnvp(model.theta, np.ones(model.n_params), X, y)
    np.testing.assert_array_equal(model.state, before)
    assert l1 == l2 and np.array_equal(g1, g2)
    assert tg.check_gradients(model, X, y) < 1e-6
    model.noise_step += 1  # the caller advances the noise: new masks
    assert model.loss_and_grad(model.theta, X, y)[0] != l1


def test_modes_training_for_losses_evaluation_for_predictions():
    X, y = data()
    model = bn_net(rate=0.5)
    model.loss_and_grad(model.theta, X, y)
    assert all(node.training for node in model.nodes)
    p_eval = model.forward(X)
    assert not any(node.training for node in model.nodes)
    np.testing.assert_array_equal(p_eval, model.forward(X))  # no dropout, running statistics
    p_train = model.forward(X, training=True)
    assert not np.allclose(p_train, p_eval)
    model.score(X, y)
    assert not model["batchnorm1"].training


def test_minibatch_steps_fold_batch_statistics_once_per_step():
    X, y = data(n=40)
    model = bn_net()
    first = model["dense1"]
    first.trainable = False  # BatchNorm's input stays what it was: the statistics below are exact
    tg.fit(model, X, y, optim.SGD(lr=0.1), batch_size=10, epochs=1, shuffle=False)
    # four steps of momentum 0.1 over the four batches, in order
    rm, rv = np.zeros(8), np.ones(8)
    for k in range(4):
        h = X[10 * k:10 * k + 10] @ first.W + first.b
        rm = 0.9 * rm + 0.1 * h.mean(axis=0)
        rv = 0.9 * rv + 0.1 * h.var(axis=0, ddof=1)
    np.testing.assert_allclose(model["batchnorm1"].running_mean, rm, rtol=1e-12)
    np.testing.assert_allclose(model["batchnorm1"].running_var, rv, rtol=1e-12)


def test_full_batch_fit_recomputes_population_statistics():
    X, y = data()
    model = bn_net()
    tg.fit(model, X, y, "L-BFGS-B", maxiter=20)
    first = model["dense1"]
    h = X @ first.W + first.b
    np.testing.assert_allclose(model["batchnorm1"].running_mean, h.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(model["batchnorm1"].running_var, h.var(axis=0, ddof=1), rtol=1e-10)


def test_recompute_state_in_chunks_averages_chunk_statistics():
    X, _ = data(n=40)
    model = bn_net()
    model.recompute_state(X, batch_size=10)
    first = model["dense1"]
    h = X @ first.W + first.b
    np.testing.assert_allclose(model["batchnorm1"].running_mean, h.mean(axis=0), rtol=1e-10)
    chunk_vars = np.mean([h[i:i + 10].var(axis=0, ddof=1) for i in range(0, 40, 10)], axis=0)
    np.testing.assert_allclose(model["batchnorm1"].running_var, chunk_vars, rtol=1e-10)


def test_dropout_masks_change_per_step_and_training_converges():
    X, y = data(n=120)
    model = tg.Sequential([tg.Dense(32), tg.ReLU(), tg.Dropout(0.2), tg.Dense(3), tg.Softmax(),
                           tg.CrossEntropy()], n_features=6, random_state=1)
    seen = []
    res = tg.fit(model, X, y, optim.Adam(lr=1e-2), batch_size=30, epochs=20, random_state=0,
                 callback=lambda info: seen.append(model.noise_step) and False)
    assert len(set(seen)) > 10
    assert res.history["loss"][-1] < res.history["loss"][0]
    # the same seed gives the same run, bit for bit
    again = tg.Sequential([tg.Dense(32), tg.ReLU(), tg.Dropout(0.2), tg.Dense(3), tg.Softmax(),
                           tg.CrossEntropy()], n_features=6, random_state=1)
    tg.fit(again, X, y, optim.Adam(lr=1e-2), batch_size=30, epochs=20, random_state=0)
    np.testing.assert_array_equal(again.theta, model.theta)


def test_dropout_inverted_scaling_and_rate_in_training():
    model = tg.Sequential([tg.Dropout(0.25), tg.Identity(), tg.MeanSquaredError()], n_features=4000,
                          random_state=0)
    X = np.ones((50, 4000))
    y = model.forward(X, training=True)
    assert abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.75)
    np.testing.assert_array_equal(model.forward(X), X)


def test_row_blocks_refuse_batchnorm_and_run_dropout_deterministically():
    X, y = data()
    with pytest.raises(ValueError, match="batchnorm1 normalises over the whole batch"):
        bn_net().loss_and_grad(None, X, y, n_jobs=2)
    model = tg.Sequential([tg.Dense(8), tg.Tanh(), tg.Dropout(0.3), tg.Dense(3), tg.Softmax(),
                           tg.CrossEntropy()], n_features=6, random_state=0)
    a = model.loss_and_grad(model.theta, X, y, n_jobs=2)
    b = model.loss_and_grad(model.theta, X, y, n_jobs=2)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


def test_dask_full_batch_refuses_batchnorm():
    pytest.importorskip("dask.array", reason="Dask is an optional extra")
    import dask.array as da

    X, y = data()
    with pytest.raises(ValueError, match="batchnorm1"):
        tg.dask.objective(bn_net(), da.from_array(X, chunks=20), da.from_array(y, chunks=20))


def test_save_load_pickle_and_checkpoint_carry_state(tmp_path):
    X, y = data()
    model = bn_net(rate=0.2)
    tg.fit(model, X, y, optim.Adam(lr=1e-2), batch_size=20, epochs=2,
           callback=tg.Checkpoint(tmp_path / "ck.npz"))
    assert not np.array_equal(model["batchnorm1"].running_var, 1.0)
    loaded = tg.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.state, model.state)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    assert np.shares_memory(copy["batchnorm1"].running_mean, copy.state)
    resumed = tg.load_checkpoint(tmp_path / "ck.npz")
    np.testing.assert_array_equal(resumed.model.state, model.state)


def test_a_file_without_state_still_loads(tmp_path):
    """Files written before state existed have no 'state' member: the running statistics start fresh."""
    import json

    model = bn_net()
    model.state[:] = 7.0
    path = model.save(tmp_path / "m.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "state"}
    header = json.loads(arrays["header"].tobytes())
    del header["arrays"]["state"]
    for spec in header["model"]["nodes"]:  # nor did its nodes declare any
        spec.pop("states", None)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    loaded = tg.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded.theta, model.theta)
    np.testing.assert_array_equal(loaded["batchnorm1"].running_var, 1.0)


@pytest.mark.parametrize("kind", ["gnvp", "hvp"])
def test_curvature_products_through_batchnorm_and_dropout(kind):
    """G v and H v against finite differences of the gradient (float64, training mode)."""
    X, y = data(n=20)
    model = bn_net(rate=0.3)
    rng = np.random.default_rng(3)
    theta = model.theta.copy()
    v = rng.standard_normal(model.n_params)
    eps = 1e-5
    gp = model.loss_and_grad(theta + eps * v, X, y)[1]
    gm = model.loss_and_grad(theta - eps * v, X, y)[1]
    hv = model.hvp(theta, v, X, y)
    assert relative_error(hv, (gp - gm) / (2 * eps)) < 1e-6
    if kind == "gnvp":
        gv = model.gnvp(theta, v, X, y)
        assert float(v @ gv) > 0  # positive semi-definite
        assert relative_error(gv, model.gnvp(theta, v, X, y)) == 0


def test_second_order_methods_train_a_batchnorm_model():
    X, y = data(n=80)
    for method in ("trust-krylov", "Newton-CG"):
        model = bn_net()
        l0 = model.loss_value(model.theta, X, y)
        res = tg.fit(model, X, y, method, maxiter=10)
        assert res.fun < 0.7 * l0, (method, res.fun, l0)
    model = bn_net()
    l0 = model.loss_value(model.theta, X, y)
    res = tg.fit(model, X, y, tg.HessianFree(model), maxiter=10)
    assert res.fun < 0.7 * l0
