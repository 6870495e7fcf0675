"""Dropout masks belong to rows, not to row blocks or threads: the same seeded fit gives the same
theta on an idle and a busy machine, and a spare replica draws the model's current masks."""
import threading
import warnings

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.parallel import threads as tg_threads

rng = np.random.default_rng(0)
X = rng.normal(size=(1100, 4))
y = (X[:, 0] > X[:, 1]).astype(int)


def _net(rate=0.4, **kwargs):
    return tg.Sequential([tg.Dense(4, 6), tg.Tanh(), tg.Dropout(rate), tg.Dense(6, 2), tg.Softmax(),
                          tg.CrossEntropy()], random_state=0, **kwargs)


@pytest.mark.parametrize("n_jobs", [2, 3])
def test_row_blocks_draw_the_one_pass_masks(n_jobs):
    model = _net()
    model.noise_step = 7
    loss1, g1 = model.loss_and_grad(model.theta, X, y)
    loss2, g2 = model.loss_and_grad(model.theta, X, y, n_jobs=n_jobs)
    assert loss2 == pytest.approx(loss1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("rate", [0.0, 0.4])
def test_a_fit_does_not_depend_on_the_machines_load(monkeypatch, rate):
    if not tg_threads.available():
        pytest.skip("threadpoolctl is not installed: tg.fit never picks row blocks")
    monkeypatch.setattr(tg_threads, "cores", lambda: 2)
    thetas = []
    for busy in (0.0, 5.0):
        monkeypatch.setattr(tg_threads, "busy_cores", lambda busy=busy: busy)
        model = _net(rate)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # one mask for the whole fit (full batch)
            tg.fit(model, X, y, "L-BFGS-B", maxiter=6)
        thetas.append(model.theta.copy())
    np.testing.assert_array_equal(thetas[0], thetas[1])


def test_a_spare_replica_draws_the_models_current_masks():
    model = _net()
    Xs = X[:50]

    def in_thread():
        out = []
        t = threading.Thread(target=lambda: out.append(model.forward(Xs, training=True)))
        t.start()
        t.join()
        return out[0]

    model._busy.acquire()  # the model's own buffers are taken: other threads use a spare replica
    try:
        in_thread()  # makes the spare at noise_step 0
        model.noise_step = 5
        threaded = in_thread()
    finally:
        model._busy.release()
    np.testing.assert_array_equal(threaded, model.forward(Xs, training=True))


def test_full_batch_scipy_with_dropout_warns_that_the_mask_is_fixed():
    model = _net()
    with pytest.warns(UserWarning, match="one dropout mask"):
        tg.fit(model, X[:40], y[:40], "L-BFGS-B", maxiter=2)
    plain = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.fit(model, X[:40], y[:40], "adam", batch_size=20, epochs=1)
        tg.fit(plain, X[:40], y[:40], "L-BFGS-B", maxiter=2)


class _Noise(tg.Node):
    """y = x + u, u ~ U[0, 1) from self.rng in training mode; a custom node without ``row_offset``."""

    stochastic = True

    def forward(self, x):
        return x + self.rng.random(x.shape) if self.training else x

    def backward(self, dy):
        return dy


def test_a_custom_stochastic_node_gets_a_stream_of_its_own_in_each_block():
    model = tg.Sequential([_Noise(), tg.Identity(), tg.MeanSquaredError()], input_shape=2, random_state=0)
    Xz, yz = np.zeros((8, 2)), np.zeros((8, 2))
    model.loss_and_grad(model.theta, Xz, yz, n_jobs=2)
    first, second = (rep._values[1] for rep in model._parallel[:2])
    assert not np.array_equal(first, second)  # not the same noise repeated in every block
