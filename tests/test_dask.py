"""tinygraph.dask on a real LocalCluster (2 worker processes): the distributed loss and gradient
equal the single-process ones, L-BFGS-B reaches the same theta, a crashed worker is recovered
(or the failure is clear and the model keeps its last good theta), and minibatches follow the
documented order."""
import logging
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.optimize

import tinygraph as tg
from tinygraph.parallel import dask as tgd
from tinygraph.optim import Adam

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

N, D, K = 600, 12, 3


@pytest.fixture(scope="module")
def client():
    # silence_logs: the scheduler logs (not warns) about the workers these tests kill on purpose.
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = rng.integers(0, K, N)
    w = rng.random(N)
    w[:50] = 0.0  # with chunks of 50 rows: one whole partition weighs nothing
    return X, y, w


def softmax_net(l2=0.3, dtype=np.float64):
    return tg.Sequential([tg.Dense(D, 10), tg.Tanh(), tg.Dense(10, K), tg.Softmax(), tg.CrossEntropy()],
                         l2=l2, dtype=dtype, random_state=1)


def kill_one_worker(client, address=None):
    """SIGKILL a worker process (its nanny starts a fresh, empty one)."""
    address = address or min(client.scheduler_info()["workers"])
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("weighted, split_every", [(False, 8), (True, 2)])  # 2: a deeper reduction tree
def test_loss_and_grad_equal_single_process(client, weighted, split_every):
    X, y, w = data()
    model = softmax_net()
    sw = w if weighted else None
    # uneven row chunks; y chunked differently and sample_weight as numpy: both get aligned to X
    Xd = da.from_array(X, chunks=((50, 150, 100, 300), (5, 7)))
    yd = da.from_array(y, chunks=200)
    with tgd.objective(model, Xd, yd, sample_weight=sw, split_every=split_every) as fun:
        assert fun.n_partitions == 4 and fun.weight_sum == pytest.approx(N if sw is None else w.sum())
        for seed in range(2):
            theta = np.random.default_rng(seed).normal(scale=0.5, size=model.n_params)
            loss, grad = fun(theta)
            loss0, grad0 = model.loss_and_grad(theta, X, y, sample_weight=sw)
            assert abs(loss - loss0) <= 1e-10 * abs(loss0)
            np.testing.assert_allclose(grad, grad0, rtol=0, atol=1e-10 * np.abs(grad0).max())


@pytest.mark.parametrize("weighted", [False, True])
def test_per_step_targets_equal_single_process(client, weighted):
    """(N, T) labels and (N, T) step weights (zeros: padding) chunked by rows: the same loss and gradient,
    l2 term included (its m counts sequences: the step weights' sum over T)."""
    rng = np.random.default_rng(4)
    T = 5
    X, y = rng.normal(size=(120, T, 3)), rng.integers(0, K, (120, T))
    sw = (rng.random((120, T)) > 0.3) * rng.random((120, T)) if weighted else None
    model = tg.Sequential([tg.SimpleRNN(4, return_sequences=True), tg.Dense(K), tg.Softmax(),
                           tg.CrossEntropy()], input_shape=(T, 3), l2=0.3, random_state=0)
    Xd = da.from_array(X, chunks=((30, 50, 40), T, 3))
    with tgd.objective(model, Xd, da.from_array(y, chunks=60), sample_weight=sw) as fun:
        loss, grad = fun(model.theta)
    loss0, grad0 = model.loss_and_grad(model.theta, X, y, sample_weight=sw)
    assert abs(loss - loss0) <= 1e-10 * abs(loss0)
    np.testing.assert_allclose(grad, grad0, rtol=0, atol=1e-10 * np.abs(grad0).max())


def test_threads_of_one_worker_do_not_share_theta():
    # 4 threads run partitions at once: each needs its own copy of the model (theta, buffers)
    X, y, _ = data(9)
    model = softmax_net()
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=4, processes=False,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    with cluster, distributed.Client(cluster, set_as_default=False) as threads, \
            tgd.objective(model, da.from_array(X, chunks=25), y, client=threads) as fun:
        for seed in range(3):
            theta = np.random.default_rng(seed).normal(size=model.n_params)
            loss, grad = fun(theta)
            loss0, grad0 = model.loss_and_grad(theta, X, y)
            assert abs(loss - loss0) <= 1e-10 * loss0
            np.testing.assert_allclose(grad, grad0, rtol=0, atol=1e-10 * np.abs(grad0).max())


def test_dask_dataframe_input(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y, w = data(6)
    model = softmax_net()
    frame = dd.from_pandas(pd.DataFrame(X, columns=[f"px{j}" for j in range(D)]), npartitions=3)
    with tgd.objective(model, frame, dd.from_pandas(pd.Series(y), npartitions=2), sample_weight=w) as fun:
        assert fun.n_partitions == 3
        loss, grad = fun(model.theta)
    loss0, grad0 = model.loss_and_grad(model.theta, X, y, sample_weight=w)
    assert abs(loss - loss0) <= 1e-10 * loss0
    np.testing.assert_allclose(grad, grad0, rtol=0, atol=1e-10 * np.abs(grad0).max())


def test_objective_leaves_model_alone_and_returns_fresh_arrays(client):
    X, y, _ = data(1)
    model = softmax_net(dtype=np.float32)
    theta0 = model.theta.copy()
    with tgd.objective(model, da.from_array(X, chunks=200), y) as fun:
        loss1, g1 = fun(theta0 * 2)
        kept = g1.copy()
        fun(theta0 * 3)
    np.testing.assert_array_equal(model.theta, theta0)
    np.testing.assert_array_equal(g1, kept)
    with pytest.raises(ValueError, match="closed"):
        fun(theta0)
    assert g1.dtype == np.float32 and isinstance(loss1, float)
    assert abs(loss1 - model.loss_and_grad(theta0 * 2, X, y)[0]) < 1e-5


def test_lbfgs_reaches_the_same_theta(client):
    X, y, _ = data(2)
    model = softmax_net()
    x0 = model.theta.copy()
    opts = {"maxiter": 15}
    with tgd.objective(model, da.from_array(X, chunks=100), y) as fun:
        res = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", options=opts)
    ref = scipy.optimize.minimize(model.loss_and_grad, x0, args=(X, y), jac=True, method="L-BFGS-B",
                                  options=opts)
    assert res.nit == ref.nit == 15
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=1e-9)


def test_fit_keeps_frozen_nodes_fixed(client):
    X, y, _ = data(7)
    model = softmax_net()
    model["dense1"].trainable = False
    before, mask, loss0 = model.theta.copy(), model.trainable_mask, model.loss_value(model.theta, X, y)
    res = tgd.fit(model, da.from_array(X, chunks=200), y, maxiter=3)
    assert res.nit == 3 and res.fun < loss0
    np.testing.assert_array_equal(model.theta[~mask], before[~mask])
    assert np.abs(model.theta[mask] - before[mask]).max() > 1e-3


def test_batches_follow_the_documented_order(client):
    n, chunk, bs = 230, 60, 25
    X = np.arange(n, dtype=float)[:, None] * np.ones((1, 2))  # column 0: the row's index
    Xd = da.from_array(X, chunks=(chunk, 2))
    y = np.arange(n)
    for epoch in (0, 1):
        got = list(tgd.batches(Xd, y, batch_size=bs, epoch=epoch, random_state=7))
        rng = np.random.default_rng([7, epoch])
        expected = []
        for k in rng.permutation(4):
            rows = np.arange(k * chunk, min((k + 1) * chunk, n))[rng.permutation(min(chunk, n - k * chunk))]
            expected += [rows[i:i + bs] for i in range(0, rows.size, bs)]
        assert len(got) == len(expected)
        for (Xb, yb, swb), idx in zip(got, expected):
            np.testing.assert_array_equal(Xb[:, 0], idx)
            np.testing.assert_array_equal(yb, idx)
            assert swb is None and len(set(idx // chunk)) == 1  # a batch never spans two partitions
    ordered = np.concatenate([b[1] for b in tgd.batches(Xd, y, batch_size=bs, shuffle=False)])
    np.testing.assert_array_equal(ordered, y)


def test_minibatch_fit_equals_adam_on_the_same_batches(client):
    X, y, w = data(5)
    model, ref = softmax_net(), softmax_net()
    res = tgd.fit(model, da.from_array(X, chunks=150), y, Adam(0.01), sample_weight=w, batch_size=64,
                  epochs=2, random_state=3)
    opt, steps = Adam(0.01), 0
    for epoch in range(2):
        rng = np.random.default_rng([3, epoch])
        for k in rng.permutation(4):
            rows = np.arange(150 * k, 150 * (k + 1))[rng.permutation(150)]
            for i in range(0, 150, 64):
                idx = rows[i:i + 64]
                if w[idx].sum() == 0:
                    continue
                _, g = ref.loss_and_grad(ref.theta, X[idx], y[idx], sample_weight=w[idx])
                opt.step(ref.theta, g)
                steps += 1
    assert res.nit == steps and res.history["epoch_loss"].size == 2
    np.testing.assert_allclose(model.theta, ref.theta, rtol=0, atol=1e-12)


def test_bad_input_is_named(client):
    X, y, _ = data()
    with pytest.raises(TypeError, match="dask array"):
        tgd.objective(softmax_net(), X, y)
    with pytest.raises(ValueError, match="600 rows but y has 599"):
        tgd.objective(softmax_net(), da.from_array(X, chunks=100), y[:-1])
    with pytest.raises(ValueError, match="labels must lie"):
        tgd.objective(softmax_net(), da.from_array(X, chunks=100), y + 5)


def test_tinygraph_imports_without_dask():
    code = ("import sys; sys.modules['dask'] = sys.modules['distributed'] = None; import tinygraph as tg\n"
            "try:\n    tg.dask.objective(None, None, None)\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "dask[distributed]"' in out


# The two tests below kill a worker; its nanny restarts it in the background (no test waits for that).
def test_fit_recovers_from_a_crashed_worker(client):
    X, y, _ = data(3)
    model, ref_model = softmax_net(), softmax_net()

    def crash_at_3(info):
        if info.step == 3:
            kill_one_worker(client)

    res = tgd.fit(model, da.from_array(X, chunks=100), y, "L-BFGS-B", maxiter=8, callback=crash_at_3,
                  timeout=60)
    ref = scipy.optimize.minimize(ref_model.loss_and_grad, ref_model.theta, args=(X, y), jac=True,
                                  method="L-BFGS-B", options={"maxiter": 8})
    assert res.nit == 8 and res.n_evaluations >= 8
    np.testing.assert_allclose(model.theta, ref.x, rtol=0, atol=1e-9)


def test_evaluations_survive_a_worker_killed_while_they_run(client):
    X, y, _ = data(8)
    model = softmax_net()
    thetas = np.random.default_rng(8).normal(scale=0.5, size=(8, model.n_params))
    client.wait_for_workers(2, timeout=60)  # another test may have killed one
    with tgd.objective(model, da.from_array(X, chunks=50), y, timeout=60) as fun:
        fun(thetas[0])
        killer = threading.Timer(0.3, kill_one_worker, (client,))
        killer.start()  # lands during one of the evaluations below (or between two)
        results = [fun(theta) for theta in thetas]
        killer.join()
    for theta, (loss, grad) in zip(thetas, results):
        loss0, grad0 = model.loss_and_grad(theta, X, y)
        assert abs(loss - loss0) <= 1e-10 * loss0
        np.testing.assert_allclose(grad, grad0, rtol=0, atol=1e-10 * np.abs(grad0).max())


def test_lost_data_fails_clearly_and_keeps_the_last_good_theta(client):
    X, y, _ = data(4)
    model = softmax_net()
    client.wait_for_workers(1, timeout=60)  # a worker killed by another test may still be restarting
    worker = min(client.scheduler_info()["workers"])
    # data scattered from the client has no recipe: Dask cannot recompute it once its worker dies
    halves = [client.scatter(X[:300], workers=[worker]), client.scatter(X[300:], workers=[worker])]
    Xd = da.concatenate([da.from_delayed(h, shape=(300, D), dtype=X.dtype) for h in halves])
    seen = []

    def crash_at_2(info):
        seen.append(info.theta.copy())
        if info.step == 2:  # kill the data's worker and any that holds a validated copy of a partition
            held = client.has_what()
            for address in {worker} | {w for w, keys in held.items() if any("_prepare" in str(k) for k in keys)}:
                kill_one_worker(client, address)

    with pytest.raises(tgd.ClusterError, match="could not recover.*last accepted iterate"):
        tgd.fit(model, Xd, y, "L-BFGS-B", maxiter=10, callback=crash_at_2, timeout=60)
    assert len(seen) == 2
    np.testing.assert_array_equal(model.theta, seen[-1])


def test_tg_fit_takes_dask_arrays(client):
    X, y, _ = data(3)
    a, b = softmax_net(), softmax_net()
    res = tg.fit(a, da.from_array(X, chunks=150), y, "L-BFGS-B", maxiter=5)
    ref = tg.fit(b, X, y, "L-BFGS-B", maxiter=5)
    assert res.nit == ref.nit == 5
    np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="not available for dask arrays"):
        tg.fit(a, da.from_array(X, chunks=150), y, "L-BFGS-B", validation_data=(X, y))
    with pytest.raises(ValueError, match="n_jobs are not available for dask arrays"):
        tg.fit(a, da.from_array(X, chunks=150), y, "L-BFGS-B", n_jobs=2)
