"""Checkpoints: resuming reproduces the uninterrupted run bit for bit; interrupts are saved."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.training.checkpoint import Checkpoint, load_checkpoint

EPOCHS, K, SEED = 5, 2, 7


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


def model():
    return tg.Sequential([tg.Dense(4, 6), tg.Tanh(), tg.Dense(6, 3), tg.Softmax(), tg.CrossEntropy()],
                         l2=0.1, random_state=0)


OPTIMIZERS = {
    "sgd": lambda: tg.optim.SGD(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: tg.optim.AdaGrad(0.1),
    "rmsprop": lambda: tg.optim.RMSProp(0.01),
    "adadelta": lambda: tg.optim.Adadelta(),
    "adam": lambda: tg.optim.Adam(0.01),
    "adamw": lambda: tg.optim.AdamW(0.01, clipnorm=1.0),
    "rprop": lambda: tg.optim.Rprop(0.01),
    "scipy-cg": lambda: tg.optim.Scipy("CG", maxiter=2),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resume_equals_the_uninterrupted_run(tmp_path, data, name):
    X, y = data
    straight = model()
    tg.fit(straight, X, y, OPTIMIZERS[name](), batch_size=16, epochs=EPOCHS, random_state=SEED)

    first = model()
    ck = Checkpoint(tmp_path / "ck.npz", every=K)
    tg.fit(first, X, y, OPTIMIZERS[name](), batch_size=16, epochs=K, random_state=SEED, callback=ck)
    assert ck.last_epoch == K
    resume = load_checkpoint(tmp_path / "ck.npz")
    assert resume.epoch == K and resume.meta["complete"]
    assert resume.model.theta.tobytes() == first.theta.tobytes()
    opt = OPTIMIZERS[name]()
    resume.restore(opt)
    assert opt.t == resume.optimizer_state["t"] > 0
    tg.fit(resume.model, X, y, opt, batch_size=16, epochs=EPOCHS, initial_epoch=resume.epoch,
           random_state=SEED)
    assert resume.model.theta.tobytes() == straight.theta.tobytes()


def test_without_the_optimizer_state_the_run_differs(tmp_path, data):
    """The test above can fail: dropping Adam's moments changes the result."""
    X, y = data
    straight = model()
    tg.fit(straight, X, y, tg.optim.Adam(0.01), batch_size=16, epochs=EPOCHS, random_state=SEED)
    first = model()
    tg.fit(first, X, y, tg.optim.Adam(0.01), batch_size=16, epochs=K, random_state=SEED,
           callback=Checkpoint(tmp_path / "ck.npz"))
    resume = load_checkpoint(tmp_path / "ck.npz")
    tg.fit(resume.model, X, y, tg.optim.Adam(0.01), batch_size=16, epochs=EPOCHS, initial_epoch=K,
           random_state=SEED)
    assert not np.array_equal(resume.model.theta, straight.theta)


def test_every_n_epochs_and_history(tmp_path, data):
    X, y = data
    written = []
    ck = Checkpoint(tmp_path / "ck.npz", every=2)

    def callback(info):
        ck(info)
        if info.event == "epoch":
            written.append(ck.last_epoch)

    res = tg.fit(model(), X, y, tg.optim.Adam(0.01), batch_size=20, epochs=5, random_state=0,
                 callback=callback)
    assert written == [None, 2, 2, 4, 4]
    resume = load_checkpoint(tmp_path / "ck.npz")
    assert resume.epoch == 4
    assert np.array_equal(resume.history["epoch_loss"], res.history["epoch_loss"][:4])
    assert resume.history["loss"].size == 4 * 3  # 3 minibatches of 20 per epoch


def interrupt_at(step, ck):
    def callback(info):
        ck(info)
        if info.event == "step" and info.step == step:
            raise KeyboardInterrupt
    return callback


def test_an_interrupt_saves_the_last_whole_epoch_and_resumes_exactly(tmp_path, data):
    X, y = data
    straight = model()
    tg.fit(straight, X, y, tg.optim.Adam(0.01), batch_size=16, epochs=EPOCHS, random_state=SEED)
    m = model()
    ck = Checkpoint(tmp_path / "ck.npz", every=100)
    # 4 steps per epoch: step 10 is in the third epoch, after two whole ones
    res = tg.fit(m, X, y, tg.optim.Adam(0.01), batch_size=16, epochs=EPOCHS, random_state=SEED,
                 callback=interrupt_at(10, ck))
    assert res.interrupted
    resume = load_checkpoint(tmp_path / "ck.npz")
    assert resume.epoch == 2 and resume.meta["step"] == 8
    assert resume.meta["complete"] and resume.meta["interrupted"]
    assert resume.history["loss"].size == 8 and not np.array_equal(resume.model.theta, m.theta)
    opt = tg.optim.Adam(0.01)
    resume.restore(opt)
    tg.fit(resume.model, X, y, opt, batch_size=16, epochs=EPOCHS, initial_epoch=resume.epoch,
           random_state=SEED)
    assert resume.model.theta.tobytes() == straight.theta.tobytes()


def test_an_interrupt_in_the_first_epoch_keeps_the_partial_work(tmp_path, data):
    X, y = data
    ck = Checkpoint(tmp_path / "ck.npz")
    m = model()
    res = tg.fit(m, X, y, tg.optim.SGD(0.1), batch_size=16, epochs=5, random_state=0,
                 callback=interrupt_at(3, ck))
    assert res.interrupted
    resume = load_checkpoint(tmp_path / "ck.npz")
    assert resume.meta["complete"] is False and resume.meta["step"] == 3 and resume.epoch == 0
    assert resume.model.theta.tobytes() == m.theta.tobytes()


def test_restore_checks_the_optimizer_class(tmp_path, data):
    X, y = data
    tg.fit(model(), X, y, tg.optim.Adam(0.01), batch_size=30, epochs=1, random_state=0,
           callback=Checkpoint(tmp_path / "ck.npz"))
    resume = load_checkpoint(tmp_path / "ck.npz")
    with pytest.raises(TypeError, match=r"the state of a Adam\(lr=0.01.*got a SGD"):
        resume.restore(tg.optim.SGD(0.1))


def test_scipy_full_batch_checkpoints_hold_no_optimizer_state(tmp_path, data):
    X, y = data
    m = model()
    tg.fit(m, X, y, "L-BFGS-B", maxiter=4, callback=Checkpoint(tmp_path / "ck.npz"))
    resume = load_checkpoint(tmp_path / "ck.npz")
    assert resume.optimizer_state == {} and resume.epoch >= 1
    with pytest.raises(ValueError, match="no optimizer state"):
        resume.restore(tg.optim.Adam())


def test_a_saved_model_is_not_a_checkpoint(tmp_path):
    path = model().save(tmp_path / "m.npz")
    with pytest.raises(tg.io.FormatError, match="m.npz: a saved model, not a checkpoint"):
        load_checkpoint(path)


def test_every_must_be_a_positive_integer():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="every must be a positive integer"):
            Checkpoint("x.npz", every=bad)


class Recorder:
    """An optimizer stand-in whose state holds every kind of value get_state may return."""

    def get_state(self):
        return {"t": 3, "rate": np.float32(0.5), "flag": True, "name": "x", "none": None,
                "v": np.arange(4.0), "mask": np.array([True, False])}


def test_optimizer_state_values_keep_their_types(tmp_path):
    Checkpoint(tmp_path / "ck.npz").write(model(), Recorder(), 3)
    state = load_checkpoint(tmp_path / "ck.npz").optimizer_state
    expected = Recorder().get_state()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert type(state[key]) is type(value) and np.array_equal(state[key], value)
    assert state["v"].dtype == np.float64 and state["rate"].dtype == np.float32
