"""Every model in ``models/`` trains on small real data to a stated accuracy (held-out rows)."""
import numpy as np
import pytest

import tinygraph as tg
from models import autoencoders, course_digits, linear, mnist, moons

sklearn_datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(autouse=True)
def one_blas_thread():
    """These nets are small: a second BLAS thread only spins (and slows a shared machine down)."""
    with tg.blas_threads(1):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = sklearn_datasets.load_digits(return_X_y=True)
    return tg.datasets.train_test_split(X / 16.0, y, test_size=500, random_state=0)


@pytest.fixture(scope="module")
def mnist_small():
    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    return Xtr[:2000], Xte[:1000], ytr[:2000], yte[:1000]


def test_course_digit_net_is_the_course_architecture():
    model = course_digits.digit_net(random_state=0)
    assert [type(n).__name__ for n in model.nodes] == ["Input", "Dense", "Sigmoid", "Dense", "Sigmoid",
                                                       "CrossEntropy"]
    assert model.n_params == 400 * 25 + 25 + 25 * 10 + 10 and model.l2 == 1.0
    assert np.abs(model.theta).max() <= 0.12  # the course's U(±0.12), biases included
    assert model.loss.kind == "binary"


def test_course_digit_net_on_load_digits(digits):
    Xtr, Xte, ytr, yte = digits
    model = course_digits.digit_net(Xtr.shape[1], random_state=0)
    first = model.loss_value(model.theta, Xtr, ytr)
    tg.fit(model, Xtr, ytr, **{**course_digits.TRAINING, "maxiter": 100})
    assert model.loss_value(model.theta, Xtr, ytr) < first / 10
    assert model.score(Xte, yte) >= 0.95  # measured 0.968


def test_softmax_regression_on_load_digits(digits):
    Xtr, Xte, ytr, yte = digits
    model = linear.softmax_regression(64, 10, random_state=0)
    assert model.n_params == 64 * 10 + 10 and model.loss.kind == "categorical"
    tg.fit(model, Xtr, ytr, **{**linear.TRAINING, "maxiter": 100})
    assert model.score(Xte, yte) >= 0.94  # measured 0.956
    np.testing.assert_allclose(model.predict_proba(Xte).sum(axis=1), 1.0)


def test_autoencoder_reconstructs_digits(digits):
    Xtr, Xte, _, _ = digits
    model = autoencoders.autoencoder(64, code=16, random_state=0)
    tg.fit(model, Xtr, Xtr, **{**autoencoders.TRAINING, "maxiter": 100})
    error = ((model.forward(Xte) - Xte) ** 2).sum(axis=1).mean()
    baseline = ((Xte - Xtr.mean(axis=0)) ** 2).sum(axis=1).mean()  # predict the mean digit
    assert error < 0.25 * baseline  # measured 0.79 against 4.67
    assert model.activations["sigmoid1"].shape == (len(Xte), 16)


def test_moons_net_reaches_the_posts_cost():
    X, y = sklearn_datasets.make_moons(200, noise=0.2, random_state=0)
    Xte, yte = sklearn_datasets.make_moons(1000, noise=0.2, random_state=1)
    model = moons.moons_net(random_state=0)
    assert model.n_params == 2 * 3 + 3 + 3 * 2 + 2
    res = tg.fit(model, X, y, **moons.TRAINING)
    assert res.fun < 0.14  # the post: 0.132428; measured 0.13242
    assert model.score(X, y) >= 0.97 and model.score(Xte, yte) >= 0.95  # measured 0.98, 0.962


def test_mnist_net_784_25_10(mnist_small):
    Xtr, Xte, ytr, yte = mnist_small
    model = mnist.mnist_net(random_state=0)
    assert model.n_params == 784 * 25 + 25 + 25 * 10 + 10
    tg.fit(model, Xtr, ytr, **{**mnist.TRAINING, "maxiter": 60})
    assert model.score(Xte, yte) >= 0.88  # measured 0.91 (2,000 training digits)


def test_mnist_net_deeper(mnist_small):
    Xtr, Xte, ytr, yte = mnist_small
    model = mnist.mnist_net(mnist.DEEP, activation="relu", random_state=0)
    assert [n.n_out for n in model.nodes if isinstance(n, tg.Dense)] == [128, 64, 32, 10]
    assert model.init_name == "he"  # the scheme follows the activation
    tg.fit(model, Xtr, ytr, tg.optim.Adam(1e-2), batch_size=100, epochs=5, random_state=0)
    assert model.score(Xte, yte) >= 0.87  # measured 0.902
    with pytest.raises(ValueError, match="activation"):
        mnist.mnist_net(activation="swish")
