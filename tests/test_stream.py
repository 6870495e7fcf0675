"""fit on a stream of minibatches: the same updates as a hand-written loop over the same batches,
validation on a fixed set of batches, checkpoints resume bit for bit, iterators end, errors name
what is wrong."""
import numpy as np
import pytest

import tinygraph as tg

T, V = 6, 5


def model(seed=0, **kw):
    return tg.Sequential([tg.Embedding(V, 4), tg.LSTM(6, return_sequences=True), tg.Dense(V), tg.Softmax(),
                          tg.CrossEntropy()], input_shape=T, random_state=seed, **kw)


def batches(step):
    """Seeded by the step: a resumed run draws what the uninterrupted one drew."""
    X = np.random.default_rng([7, step]).integers(0, V, (8, T))
    return X, (X + 1) % V


def optimizer():
    return tg.optim.AdamW(lambda t: 1e-2 * min(1.0, (t + 1) / 5), weight_decay=0.1, clipnorm=0.5)


def test_the_updates_of_a_hand_written_loop():
    """Schedule, clipnorm and weight decay act per step as in the array path: theta equals a loop of
    loss_and_grad and step over the same batches, to the bit."""
    a, b = model(), model()
    result = tg.fit(a, batches, optimizer(), steps=4, epochs=3)
    opt = optimizer()
    opt.freeze(b.trainable_mask)
    losses = []
    for t in range(12):
        loss, g = b.loss_and_grad(b.theta, *batches(t))
        opt.step(b.theta, g)
        losses.append(loss)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(result.history["loss"], losses)
    assert result.nit == 12 and result.n_epochs == 3 and result.message == "reached the number of epochs"
    np.testing.assert_allclose(result.history["epoch_loss"], np.mean(np.reshape(losses, (3, 4)), axis=1))


def test_validation_on_a_fixed_set_of_batches_and_early_stopping():
    net = model(l2=0.01)
    val = [batches(1000 + k) for k in range(3)]
    w = np.ones((8, T))
    w[:, 3:] = 0.0
    val.append((*batches(2000), w))  # masked steps count for nothing, in the loss and the accuracy
    result = tg.fit(net, batches, "adam", steps=5, epochs=3, validation_data=val, early_stopping=True)
    # batches weigh by their examples: 8 rows, and 4 for the half-masked one (Σ w / T)
    m = np.array([8, 8, 8, 4.0])
    losses = [net.loss_value(net.theta, X, y, sample_weight=sw) - net.penalty(k)
              for (X, y, *sw), k in zip(val, m) for sw in [sw[0] if sw else None]]
    loss = np.dot(m, losses) / m.sum()
    score = np.dot(m, [net.score(*v) for v in val]) / m.sum()
    best = result.best_epoch
    assert result.history["val_loss"][best] == pytest.approx(loss + net.penalty(m.sum()), rel=1e-12)
    assert result.history["val_score"][best] == pytest.approx(score, rel=1e-12)
    assert best == np.argmin(result.history["val_loss"])


def test_checkpoint_and_resume_repeat_the_run(tmp_path):
    whole = model()
    tg.fit(whole, batches, optimizer(), steps=3, epochs=4)
    first = model()
    path = tmp_path / "ck.npz"
    tg.fit(first, batches, optimizer(), steps=3, epochs=2, callback=tg.Checkpoint(path))
    ck = tg.load_checkpoint(path)
    opt = optimizer()
    ck.restore(opt)
    assert ck.epoch == 2
    tg.fit(ck.model, batches, opt, steps=3, epochs=4, initial_epoch=ck.epoch)
    np.testing.assert_array_equal(ck.model.theta, whole.theta)
    done = tg.fit(ck.model, batches, opt, steps=3, epochs=4, initial_epoch=4)
    assert done.nit == 0 and done.message == "nothing to do: epochs == initial_epoch"


def test_an_iterator_runs_until_it_ends():
    def gen(n):
        for k in range(n):
            X, y = batches(k)
            yield X, y, np.ones((8, T))
    result = tg.fit(model(), gen(7), tg.optim.Adam(1e-2))
    assert result.nit == 7 and result.n_epochs == 1 and result.message == "the stream of batches ended"
    result = tg.fit(model(), gen(7), optimizer="sgd", steps=3, epochs=5)  # 3 + 3 + 1: the last epoch counts
    assert result.nit == 7 and result.n_epochs == 3
    result = tg.fit(model(), gen(9), "adam", steps=4, epochs=5, maxiter=6)  # maxiter in epoch 2: not recorded
    assert result.nit == 6 and result.n_epochs == 1 and "maxiter" in result.message
    result = tg.fit(model(), gen(10), "CG", steps=2)  # a scipy method: a few iterations on each batch
    assert result.nit == 2 and np.isfinite(result.fun)


def test_progress_bar_and_callbacks():
    pytest.importorskip("tqdm")
    seen = []
    result = tg.fit(model(), batches, "adam", steps=3, epochs=2, progress=True,
                    callback=lambda info: seen.append(info.event) or info.step == 4)
    assert result.nit == 4 and seen == ["step", "step", "step", "epoch", "step", "end"]


@pytest.mark.parametrize("call, message", [
    (lambda m: tg.fit(m, batches, "adam"), "needs steps="),
    (lambda m: tg.fit(m, batches, np.zeros(3), steps=2), "carries its own targets"),
    (lambda m: tg.fit(m, batches, "adam", "sgd", steps=2), "give the optimizer once"),
    (lambda m: tg.fit(m, batches, "adam", steps=2, batch_size=4), "batch_size= and sample_weight="),
    (lambda m: tg.fit(m, lambda t: batches(t)[0], "adam", steps=2), "must be a tuple"),
    (lambda m: tg.fit(m, iter([]), "adam"), "is empty"),
    (lambda m: tg.fit(m, batches, "adam", steps=0), "steps must be an integer >= 1"),
    (lambda m: tg.fit(m, *batches(0), "adam", steps=3), "steps= is for a stream"),
    (lambda m: tg.fit(m, batches(0)[0]), "y is required"),
])
def test_bad_calls_say_what_is_wrong(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call(model())
