"""tg.fit for a new user: one seed makes one run; wrong keywords and habits get a pointer."""
import warnings

import numpy as np
import pytest

import tinygraph as tg


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def net(random_state=0, hidden=tg.Tanh):
    return tg.Sequential([tg.Dense(3, 4), hidden(), tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()],
                         random_state=random_state)


def test_the_models_seed_orders_the_batches():
    X, y = data()
    runs = [net() for _ in range(3)]
    for model in runs[:2]:
        tg.fit(model, X, y, "adam", batch_size=10, epochs=2)
    np.testing.assert_array_equal(runs[0].theta, runs[1].theta)
    tg.fit(runs[2], X, y, "adam", batch_size=10, epochs=2, random_state=0)  # the model's seed, said aloud
    np.testing.assert_array_equal(runs[0].theta, runs[2].theta)
    other = net()
    tg.fit(other, X, y, "adam", batch_size=10, epochs=2, random_state=1)  # fit's own seed overrides it
    assert not np.array_equal(other.theta, runs[0].theta)


@pytest.mark.parametrize("keyword, pointer", [
    ("clipnorm", r"'clipnorm' is a setting of the optimizer.*tg\.optim\.Adam\(clipnorm=1\.0\)"),
    ("lr", r"'lr' is a setting of the optimizer.*tg\.optim\.Adam\(lr=1\.0\)"),
    ("learning_rate", r"tg\.optim\.Adam\(lr=1\.0\)"),
    ("max_iter", r"did you mean maxiter=1\.0\?"),
    ("validation_split", r"validation_data=\(X_val, y_val\)"),
    ("frobnicate", r"fit takes: batch_size, .*verbose"),
])
def test_a_wrong_keyword_says_where_it_belongs(keyword, pointer):
    X, y = data()
    model = net()
    before = model.theta.copy()
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{keyword}'.*{pointer}"):
        tg.fit(model, X, y, **{keyword: 1.0})
    np.testing.assert_array_equal(model.theta, before)


def test_model_fit_points_to_tg_fit():
    with pytest.raises(AttributeError, match=r"no fit\(\) method.*tg\.fit\(model, X, y"):
        net().fit
    with pytest.raises(AttributeError, match="object has no attribute 'colour'"):
        net().colour
    assert not hasattr(net(), "partial_fit")


class NoCurvature(tg.Node):
    """tanh without R-operators: y = tanh x; dx = (1 - y²) dy."""

    cached = ("y",)

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return (1 - self.y ** 2) * dy


def test_finite_difference_hessian_products_are_announced_once():
    X, y = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tg.fit(net(hidden=NoCurvature), X, y, "trust-krylov", maxiter=3)
    said = [w for w in caught if "forward differences of the gradient" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
    assert "NoCurvature has no rforward" in str(said[0].message)
    assert said[0].filename == __file__  # the user's line, not tinygraph's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.fit(net(), X, y, "trust-krylov", maxiter=3)  # exact products: nothing to say
