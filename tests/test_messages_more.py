"""Messages that name the right thing: the whole feature shape of an image estimator, the pool's own
class, fit (not loss_and_grad) for n_jobs with BatchNorm."""
import warnings

import numpy as np
import pytest

import tinygraph as tg


def test_an_image_estimator_speaks_in_its_whole_feature_shape():
    pytest.importorskip("sklearn")
    import models
    X = np.random.default_rng(0).random((12, 1, 28, 28))
    y = np.arange(12) % 3
    est = tg.NeuralNetClassifier(model=models.lenet_net, model_params={"channels": (2, 3), "hidden": 4},
                                 max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 2 iterations
        est.fit(X, y)
    assert est.n_features_in_ == 784
    with pytest.raises(ValueError, match=r"expects X of shape \(N, 1, 28, 28\)"):
        est.predict(X.reshape(12, -1))
    with pytest.raises(ValueError, match=r"features of shape \(1, 27, 28\).*expecting features of shape \(1, 28, 28\)"):
        est.predict(X[:, :, :27])
    assert est.predict(X).shape == (12,)


@pytest.mark.parametrize("cls", [tg.MaxPool2D, tg.AvgPool2D])
def test_pools_name_their_own_class(cls):
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\.__init__\(\)"):
        cls()
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\.__init__\(\)"):
        cls(2, foo=1)


def test_fit_with_n_jobs_on_batchnorm_names_fit():
    model = tg.Sequential([tg.Dense(3, 4), tg.BatchNorm(), tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()],
                          random_state=0)
    X, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2
    before = model.theta.copy()
    with pytest.raises(ValueError, match=r"^fit: n_jobs=2 splits the rows into blocks, but batchnorm1"):
        tg.fit(model, X, y, "L-BFGS-B", n_jobs=2)
    np.testing.assert_array_equal(model.theta, before)
