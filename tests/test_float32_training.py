"""float32 end to end: every stochastic node and every model of ``models/`` trains in float32."""
import numpy as np
import pytest

import models
import tinygraph as tg

rng = np.random.default_rng(0)

# (builder call, X, y): small sizes, float32
CASES = {
    "digit_net": (lambda: models.digit_net(8, hidden=4, dtype=np.float32, random_state=0),
                  rng.random((6, 8)), np.arange(6) % 10),
    "moons_net": (lambda: models.moons_net(dtype=np.float32, random_state=0), rng.random((6, 2)), np.arange(6) % 2),
    "lenet_net": (lambda: models.lenet_net(channels=(2, 3), hidden=4, dtype=np.float32, random_state=0),
                  rng.random((3, 1, 28, 28)), np.arange(3)),
    "softmax_regression": (lambda: models.softmax_regression(8, 3, dtype=np.float32, random_state=0),
                           rng.random((6, 8)), np.arange(6) % 3),
    "autoencoder": (lambda: models.autoencoder(8, 3, dtype=np.float32, random_state=0), rng.random((6, 8)),
                    rng.random((6, 8))),
    "normalized_mlp": (lambda: models.normalized_mlp((6, 5), n_features=8, n_classes=3, dtype=np.float32,
                                                     random_state=0), rng.random((6, 8)), np.arange(6) % 3),
    "sequence_classifier": (lambda: models.sequence_classifier((4, 3), 3, units=4, dtype=np.float32,
                                                               random_state=0), rng.random((6, 4, 3)), np.arange(6) % 3),
    "sequence_regressor": (lambda: models.sequence_regressor((4, 3), 2, units=4, dtype=np.float32,
                                                             random_state=0), rng.random((6, 4, 3)), rng.random((6, 2))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_model_trains_in_float32(name):
    build, X, y = CASES[name]
    model = build()
    assert model.dtype == np.float32
    loss, g = model.loss_and_grad(model.theta, X, y)
    assert np.isfinite(loss) and g.dtype == np.float32 and np.isfinite(g).all()
    assert model.forward(X, training=True).dtype == np.float32
    before = model.theta.copy()
    tg.fit(model, X, y, "adam", batch_size=4, epochs=1, random_state=0)
    assert not np.array_equal(before, model.theta) and model.theta.dtype == np.float32


def test_mnist_net_trains_in_float32():
    model = models.mnist_net((5,), dtype=np.float32, random_state=0)
    X, y = rng.random((4, 784)), np.arange(4)
    loss, g = model.loss_and_grad(model.theta, X, y)
    assert np.isfinite(loss) and g.dtype == np.float32


def test_float32_dropout_draws_the_float64_models_masks():
    def net(dtype):
        return tg.Sequential([tg.Dense(5, 7), tg.Dropout(0.3), tg.Dense(7, 2), tg.Softmax(), tg.CrossEntropy()],
                             dtype=dtype, random_state=0)
    X = rng.random((9, 5))
    m64, m32 = net(np.float64), net(np.float32)
    assert m64.noise_seed == m32.noise_seed
    for step in (0, 3):
        m64.noise_step = m32.noise_step = step
        m64.forward(X, training=True)
        m32.forward(X, training=True)
        mask64, mask32 = m64.nodes[2].mask, m32.nodes[2].mask
        assert mask32.dtype == np.float32
        np.testing.assert_array_equal(mask32 != 0, mask64 != 0)
    with pytest.warns(UserWarning, match="one dropout mask"):  # full batch: one mask for the whole fit
        tg.fit(m32, X, np.arange(9) % 2, "L-BFGS-B", maxiter=3)
    assert np.isfinite(m32.theta).all()
