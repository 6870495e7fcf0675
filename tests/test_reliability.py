"""No silent wrong answers (issue 15): threads, warm starts, feature names, coef_, extreme weights,
divergence, the curvature cache, crafted files, and the loader refusing what the saver refuses."""
import json
import os
import threading
import warnings
import zipfile

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import io
from tinygraph.optim import SGD, Adam

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning

from tinygraph.sklearn import NeuralNetClassifier, NeuralNetRegressor


@pytest.fixture(autouse=True)
def one_blas_thread():
    with tg.blas_threads(1):
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y


def net(l2=0.0, random_state=0):
    return tg.Sequential([tg.Dense(16), tg.Tanh(), tg.Dense(16), tg.Tanh(), tg.Dense(3), tg.Softmax(),
                          tg.CrossEntropy()], n_features=4, l2=l2, random_state=random_state)


def hammer(fn, inputs, n_threads=8, calls=200):
    """Call ``fn(inputs[k])`` ``calls`` times on each of ``n_threads`` threads at once; the results."""
    barrier, out, errors = threading.Barrier(n_threads), [[] for _ in range(n_threads)], []

    def run(t):
        try:
            barrier.wait()
            for c in range(calls):
                out[t].append((c % len(inputs), fn(inputs[c % len(inputs)])))
        except BaseException as e:  # noqa: BLE001 -- reported by the test
            errors.append(e)
    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    return [r for rs in out for r in rs]


# 1. threads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["forward", "predict", "predict_proba", "score"])
def test_graph_inference_is_thread_safe(data, method):
    X, y = data
    model = net()
    chunks = [X[k::3] for k in range(3)]
    if method == "score":
        fn = lambda k: model.score(chunks[k], y[k::3])
    else:
        fn = lambda k: getattr(model, method)(chunks[k])
    serial = [fn(k) for k in range(3)]
    for k, got in hammer(fn, [0, 1, 2]):
        np.testing.assert_array_equal(got, serial[k])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_estimator_inference_is_thread_safe(data, method):
    X, y = data
    clf = NeuralNetClassifier((16, 16), max_iter=20, random_state=0).fit(X, y)
    fn = (lambda k: clf.score(X[k::3], y[k::3])) if method == "score" else \
        (lambda k: getattr(clf, method)(X[k::3]))
    serial = [fn(k) for k in range(3)]
    for k, got in hammer(fn, [0, 1, 2]):
        np.testing.assert_array_equal(got, serial[k])


def test_replicas_share_the_running_statistics(data):
    X, y = data
    model = tg.Sequential([tg.Dense(16), tg.BatchNorm(), tg.ReLU(), tg.Dropout(0.3), tg.Dense(3), tg.Softmax(),
                           tg.CrossEntropy()], n_features=4, random_state=0)
    tg.fit(model, X, y, Adam(1e-2), batch_size=20, epochs=3, random_state=0)
    assert np.abs(model.state).sum() > 0
    serial = [model.forward(X[k::3]) for k in range(3)]
    for k, got in hammer(lambda k: model.forward(X[k::3]), [0, 1, 2]):
        np.testing.assert_array_equal(got, serial[k])
    model.state[:] *= 0.5  # the replicas see the change: they hold views of the one state
    halved = [model.forward(X[k::3]) for k in range(3)]
    for k, got in hammer(lambda k: model.forward(X[k::3]), [0, 1, 2], calls=50):
        np.testing.assert_array_equal(got, halved[k])


def test_training_from_two_threads_is_refused_and_inference_meanwhile_is_right(data):
    X, y = data
    model = net()
    expected = model.forward(X)
    seen = {}

    def other_thread():
        try:
            model.loss_and_grad(model.theta, X, y)
        except RuntimeError as e:
            seen["error"] = str(e)
        seen["forward"] = model.forward(X)

    def callback(info):
        if info.step == 1:
            np.copyto(seen.setdefault("theta", np.empty_like(model.theta)), model.theta)
            th = threading.Thread(target=other_thread)
            th.start()
            th.join()
        return info.step == 1

    tg.fit(model, X, y, SGD(0.1), batch_size=10, epochs=1, callback=callback)
    assert "another thread" in seen["error"]
    # the other thread's forward ran on a replica sharing theta: the values of theta at that moment
    check = net()
    check.theta[...] = seen["theta"]
    np.testing.assert_array_equal(seen["forward"], check.forward(X))
    assert not np.array_equal(seen["forward"], expected)
    model.loss_and_grad(model.theta, X, y)  # free again once fit returned


def test_single_thread_results_and_loss_and_grad_unchanged(data):
    X, y = data
    model = net(l2=0.1)
    loss, g = model.loss_and_grad(model.theta, X, y)
    loss2, g2 = model.loss_and_grad(model.theta, X, y, n_jobs=2)
    np.testing.assert_allclose(loss, loss2, rtol=1e-12)
    np.testing.assert_allclose(g, g2, rtol=1e-10, atol=1e-14)
    assert model.forward(X).shape == (60, 3)


# 9, 10. crafted files -------------------------------------------------------------------------

def small_chain():
    return tg.Sequential([tg.Dense(5, 4), tg.Sigmoid(), tg.Dense(4, 2), tg.Sigmoid(), tg.CrossEntropy()],
                         random_state=0)


def members(path):
    with np.load(path, allow_pickle=False) as npz:
        out = {k: npz[k] for k in npz.files}
    return json.loads(out.pop("header").tobytes()), out


def repack(path, header, arrays, extra=None):
    """Write a file as ``fileformat.write`` would, from a (possibly crafted) header and members."""
    from tinygraph.io.format import _digest
    header = dict(header, arrays={k: _digest(a) for k, a in arrays.items()})
    payload = dict(arrays, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    np.savez(path, **payload)
    if extra is not None:
        with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in extra.items():
                zf.writestr(name, data)
    return path


def peak_while(fn):
    import tracemalloc
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            fn()
        except io.FormatError as e:
            error = e
        else:
            error = None
        return tracemalloc.get_traced_memory()[1] - base, error
    finally:
        tracemalloc.stop()


def test_a_config_that_asks_for_a_huge_layer_is_refused_before_anything_is_allocated(tmp_path):
    path = small_chain().save(tmp_path / "big.npz")
    header, arrays = members(path)
    nodes = header["model"]["nodes"]  # params still declare the small layers
    nodes[0]["config"]["shape"] = nodes[1]["config"]["n_in"] = nodes[1]["config"]["n_out"] = 3000
    nodes[3]["config"]["n_in"] = 3000
    repack(path, header, arrays)
    assert os.path.getsize(path) < 4000
    peak, error = peak_while(lambda: tg.load(path))
    assert error is not None and "dense1" in str(error) and "3000" in str(error)
    assert peak < 3e6, peak


def test_an_undeclared_member_is_never_decompressed(tmp_path):
    path = small_chain().save(tmp_path / "bomb.npz")
    header, arrays = members(path)
    repack(path, header, arrays, extra={"evil.npy": bytes(60_000_000)})
    assert os.path.getsize(path) < 200_000
    peak, error = peak_while(lambda: tg.load(path))
    assert error is not None and "evil" in str(error)
    assert peak < 3e6, peak


@pytest.mark.parametrize("change, match", [
    (lambda h, a: a.__setitem__("theta", np.full_like(a["theta"], np.nan)), "NaN or inf"),
    (lambda h, a: h.__setitem__("version", True), "version"),
    (lambda h, a: h["model"].__setitem__("class", "Evil"), "class"),
    (lambda h, a: h.__setitem__("meta", [1, 2]), "meta"),
    (lambda h, a: h.__setitem__("kind", "virus"), "kind"),
    (lambda h, a: h["model"].__setitem__("l2", float("inf")), "l2"),
    (lambda h, a: h["model"]["nodes"][1].__setitem__("params", "W"), "params"),
], ids=["nan-theta", "bool-version", "class", "meta-list", "kind", "l2", "params"])
def test_the_loader_refuses_what_the_saver_refuses(tmp_path, change, match):
    path = small_chain().save(tmp_path / "m.npz")
    header, arrays = members(path)
    change(header, arrays)
    repack(path, header, arrays)
    with pytest.raises(io.FormatError, match=match):
        tg.load(path)


@pytest.mark.parametrize("key", ["epoch", "optimizer_scalars", "optimizer"])
def test_a_checkpoint_missing_meta_keys_is_a_format_error(tmp_path, data, key):
    X, y = data
    model = net()
    path = tmp_path / "c.npz"
    tg.fit(model, X, y, Adam(1e-2), batch_size=20, epochs=1, callback=tg.Checkpoint(path))
    header, arrays = members(path)
    del header["meta"][key]
    repack(path, header, arrays)
    with pytest.raises(io.FormatError, match=key):
        tg.load_checkpoint(path)


def test_a_later_save_cleans_the_temporaries_of_killed_saves(tmp_path):
    import subprocess
    import sys
    code = ("import numpy as np, os, tinygraph as tg\n"
            "np.savez = lambda f, **a: os._exit(3)\n"
            "m = tg.Sequential([tg.Dense(2, 2), tg.MeanSquaredError()])\n"
            f"m.save({str(tmp_path / 'm.npz')!r})\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, check=False, env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 3
    assert len(os.listdir(tmp_path)) == 1  # the killed save's orphan
    (tmp_path / f".m.npz.{os.getppid()}.live.tmp").write_bytes(b"")  # a writer still running: kept
    small_chain().save(tmp_path / "m.npz")
    assert sorted(os.listdir(tmp_path)) == [f".m.npz.{os.getppid()}.live.tmp", "m.npz"]


# 2. warm_start ----------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_takes_new_regularisation_and_optimizer_settings(data):
    X, y = data
    clf = NeuralNetClassifier((8,), l2=1e-4, max_iter=300, tol=0.0, warm_start=True, random_state=0).fit(X, y)
    norm = np.linalg.norm(clf.coef_)
    clf.set_params(l2=1000.0).fit(X, y)
    assert clf.model_.l2 == 1000.0 and np.linalg.norm(clf.coef_) < 0.5 * norm
    clf.set_params(optimizer=Adam(1e-2), batch_size=20, max_iter=2)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert isinstance(clf.optimizer_, Adam) and clf.optimizer_.t == 6
    clf.set_params(optimizer=Adam(5e-3))  # other settings: a new optimizer, its state afresh
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.optimizer_.lr == 5e-3 and clf.optimizer_.t == 6


@pytest.mark.parametrize("param, value", [("hidden_layers", (9,)), ("activation", "relu"),
                                          ("output", "sigmoid")])
def test_warm_start_refuses_an_architecture_change(data, param, value):
    X, y = data
    clf = NeuralNetClassifier((8,), max_iter=5, warm_start=True, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    clf.set_params(**{param: value})
    with pytest.raises(ValueError, match=param):
        clf.fit(X, y)
    clf.set_params(warm_start=False)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)  # a cold fit rebuilds


# 3. feature names, scikit-learn's own validation -------------------------------------------------

def test_feature_names_are_recorded_and_checked(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = NeuralNetClassifier((8,), max_iter=300, random_state=0).fit(df, y)
    assert clf.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[["b", "a", "c", "d"]])
    np.testing.assert_array_equal(clf.predict_proba(df), clf.model_.forward(X))


def test_scikit_learn_messages_for_bad_input(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    clf = NeuralNetClassifier((4,), max_iter=5)
    bad = pd.DataFrame(X).astype("Float64")
    bad.iloc[0, 0] = pd.NA
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(bad, y)
    with pytest.raises(ValueError, match="could not convert|Unable to convert"):
        clf.fit(np.where(X > 0, "x", "y"), y)
    mixed = np.array([1, "a"] * 30, dtype=object)
    with pytest.raises(ValueError, match="Mix of label input types|Unknown label type"):
        clf.fit(X, mixed)
    for sw, match in ((np.full(60, 1 + 1j), "Complex data not supported"),
                      (np.array(["a"] * 60), "could not convert string to float")):
        with pytest.raises(ValueError, match=match):
            clf.fit(X, y, sample_weight=sw)


# 4. coef_ is theta -------------------------------------------------------------------------------

def test_coef_stays_theta_across_joblib_and_partial_fit(tmp_path, data):
    import joblib
    X, y = data
    clf = NeuralNetClassifier((6,), optimizer=Adam(1e-2), batch_size=20, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    joblib.dump(clf, tmp_path / "c.joblib")
    back = joblib.load(tmp_path / "c.joblib")
    assert back.coef_ is back.model_.theta
    back.partial_fit(X, y)
    assert back.coef_ is back.model_.theta
    loaded = tg.load(tg.save(back, tmp_path / "c.npz"))
    assert np.array_equal(loaded.coef_, back.coef_)


# 5. extreme weights, l2 ------------------------------------------------------------------------

@pytest.mark.parametrize("w", [1e308, 1e-320])
def test_overflowing_or_subnormal_weights_are_refused(data, w):
    X, y = data
    with pytest.raises(ValueError, match="sample_weight"):
        tg.fit(net(l2=1e-4), X, y, sample_weight=np.full(60, w))
    with pytest.raises(ValueError, match="sample_weight"):
        NeuralNetClassifier((4,), max_iter=5).fit(X, y, sample_weight=np.full(60, w))


def test_weights_spanning_a_wide_range_still_train(data):
    X, y = data
    w = np.full(60, 1e200)
    model = net(l2=1e-4)
    result = tg.fit(model, X, y, sample_weight=w, maxiter=50)
    ref = net(l2=1e-4)
    tg.fit(ref, X, y, sample_weight=np.ones(60), maxiter=50)
    assert result.fun < 1.0 and model.score(X, y) == ref.score(X, y)


@pytest.mark.parametrize("l2", [np.inf, np.nan, -1.0])
def test_graph_refuses_a_non_finite_l2(l2):
    with pytest.raises(ValueError, match="l2"):
        net(l2=l2)
    with pytest.raises(ValueError, match="l2"):
        NeuralNetClassifier(l2=l2).fit(np.ones((4, 2)), [0, 1, 0, 1])


# 6. early stopping with zero weights ----------------------------------------------------------

def test_early_stopping_with_mostly_zero_weights_splits_both_sides_positive(data):
    X, _ = data
    sw = np.zeros(60)
    sw[:12] = 1.0
    y2 = np.arange(60) % 2
    clf = NeuralNetClassifier((4,), early_stopping=True, validation_fraction=0.1, max_iter=30,
                              n_iter_no_change=50, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y2, sample_weight=sw)
    assert len(clf.validation_scores_) == 30
    one = np.zeros(60)
    one[[0, 1]] = 1.0
    with pytest.raises(ValueError, match="positive sample_weight"):
        clf.fit(X, y2, sample_weight=one)


# 8. divergence, ConvergenceWarning ---------------------------------------------------------------

def test_divergence_is_a_failure_with_a_warning(data):
    X, y = data
    model = net()
    with pytest.warns(RuntimeWarning, match="diverged"):
        result = tg.fit(model, X * 1e200, y, SGD(lr=1e10), batch_size=10, epochs=3)
    assert not result.success and "diverged" in result.message


def test_a_good_run_raises_no_divergence_warning(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = tg.fit(net(), X, y, Adam(1e-2), batch_size=10, epochs=3)
    assert result.success


@pytest.mark.parametrize("optimizer", ["L-BFGS-B", Adam(1e-3)])
def test_estimators_warn_when_max_iter_is_reached(data, optimizer):
    X, y = data
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        NeuralNetClassifier((8,), optimizer=optimizer, max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NeuralNetRegressor((), max_iter=500, random_state=0).fit(X, X @ [1.0, 2.0, 0.0, 1.0])


# 7. the curvature cache -------------------------------------------------------------------------

def test_hvp_sees_data_modified_in_place(data):
    X, y = data
    model = net()
    X = X.copy()
    v = np.random.default_rng(1).standard_normal(model.n_params)
    model.hvp(model.theta, v, X, y)
    X *= 2.0
    fresh = net().hvp(model.theta, v, X.copy(), y)
    np.testing.assert_allclose(model.hvp(model.theta, v, X, y), fresh, rtol=1e-12)
    np.testing.assert_allclose(model.gnvp(model.theta, v, X, y), net().gnvp(model.theta, v, X.copy(), y),
                               rtol=1e-12)


# 11. small ones -------------------------------------------------------------------------------------

@pytest.mark.parametrize("epochs", [np.inf, np.nan, 2.5, True])
def test_epochs_must_be_an_integer(data, epochs):
    X, y = data
    with pytest.raises(ValueError, match="epochs must be an integer"):
        tg.fit(net(), X, y, SGD(0.1), epochs=epochs)


def test_resuming_a_finished_run_returns_at_once(tmp_path, data):
    X, y = data
    model = net()
    path = tmp_path / "c.npz"
    tg.fit(model, X, y, Adam(1e-2), batch_size=20, epochs=2, callback=tg.Checkpoint(path))
    ck = tg.load_checkpoint(path)
    opt = Adam(1e-2)
    ck.restore(opt)
    result = tg.fit(ck.model, X, y, opt, batch_size=20, epochs=2, initial_epoch=ck.epoch)
    assert result.nit == 0 and result.success and np.array_equal(ck.model.theta, model.theta)


def test_dense_refuses_a_bool_size():
    with pytest.raises((TypeError, ValueError), match="Dense"):
        tg.Dense(5, True)


def test_benchmark_threads_example_runs():
    from _examples import load_example
    out = load_example("benchmark_threads").main(rows=4, hidden=4, calls=40, threads=2, repeats=1)
    assert set(out) == {"bare_us", "forward_us", "threads_us", "step_us", "step_before_us"}
    assert all(v > 0 for v in out.values())
