"""Names users type: optimizers by name, the result's fun after minibatches, file suffixes."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.training.loop import OPTIMIZERS


def net(random_state=0):
    return tg.Sequential([tg.Dense(4, 5), tg.Tanh(), tg.Dense(5, 3), tg.Softmax(), tg.CrossEntropy()],
                         random_state=random_state)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 4)), rng.integers(0, 3, 300)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_by_name_is_the_class_with_defaults_and_sklearns_batch(data, name):
    X, y = data
    a, b = net(), net()
    res = tg.fit(a, X, y, name.upper() if name == "adam" else name, epochs=2, random_state=0)
    tg.fit(b, X, y, OPTIMIZERS[name](), batch_size=200, epochs=2, random_state=0)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert res.nit == 4  # min(200, N) rows per batch: 2 batches per epoch


def test_scipy_names_are_case_insensitive(data):
    X, y = data
    assert tg.fit(net(), X, y, "l-bfgs-b", maxiter=5).nit == tg.fit(net(), X, y, "L-BFGS-B", maxiter=5).nit


def test_minibatch_fun_is_the_final_epochs_mean_not_the_last_batch(data):
    X, y = data
    res = tg.fit(net(), X, y, tg.optim.SGD(0.1), batch_size=128, epochs=3, random_state=0)
    h = res.history
    assert res.fun == h["epoch_loss"][-1]
    last = h["loss"][-3:]  # batches of 128, 128 and 44 rows
    assert res.fun == pytest.approx((128 * last[0] + 128 * last[1] + 44 * last[2]) / 300)
    assert res.fun != h["loss"][-1]


def test_fun_after_maxiter_mid_epoch_is_the_mean_of_the_batches_run(data):
    X, y = data
    res = tg.fit(net(), X, y, tg.optim.SGD(0.1), batch_size=100, maxiter=5, random_state=0)
    assert res.fun == pytest.approx(np.mean(res.history["loss"][3:5]))


def test_save_and_render_add_the_suffix_the_same_way(tmp_path):
    model = net()
    assert tg.save(model, tmp_path / "model") == str(tmp_path / "model.npz")
    assert (tmp_path / "model.npz").exists() and not (tmp_path / "model").exists()
    np.testing.assert_array_equal(tg.load(tmp_path / "model").theta, model.theta)  # found as model.npz
    assert model.save(tmp_path / "m2.keep") == str(tmp_path / "m2.keep")  # a suffix is kept
    try:
        model.render(tmp_path / "picture")
    except tg.DotNotFoundError:
        pytest.skip("Graphviz dot is not installed")
    assert (tmp_path / "picture.svg").exists()
