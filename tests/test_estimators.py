"""The estimators against scikit-learn's own checks, in its tools, and on every kind of label."""
import numpy as np
import pytest

import tinygraph as tg
from models.linear import softmax_regression
from tinygraph.sklearn import NeuralNetClassifier, NeuralNetRegressor

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks

# Small max_iter keeps these fits quick and ends many before tol: the ConvergenceWarning is right,
# and tested in test_reliability.py.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def one_blas_thread():
    """These nets are small: a second BLAS thread only spins (and slows a shared machine down)."""
    with tg.blas_threads(1):
        yield


# Small max_iter keeps the ~60 checks per estimator fast; they still train to the accuracy the
# checks demand (0.83 on their blobs, R² 0.5 on their regression data). No check is skipped or
# expected to fail. scikit-learn itself skips two kinds: the pandas checks when pandas is missing
# (it is in the test extra), and check_array_api_input unless SCIPY_ARRAY_API=1 is set — the
# estimators compute in numpy and do not claim array-API support, so that one does not apply.
@parametrize_with_checks([NeuralNetClassifier(max_iter=50, random_state=0),
                          NeuralNetRegressor(max_iter=50, random_state=0),
                          NeuralNetClassifier(model=softmax_regression, model_params={"l2": 1e-3}, max_iter=50,
                                              random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return tg.datasets.train_test_split(X / 16.0, y, test_size=500, random_state=0)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("kind", ["strings", "one_to_three", "negative_floats", "bools"])
def test_labels_of_any_kind_come_back_from_predict(iris, output, kind):
    X, y = iris
    if kind == "bools":  # two classes
        labels = y == 0
    else:
        labels = {"strings": np.array(["setosa", "versicolor", "virginica"]),
                  "one_to_three": np.array([1, 2, 3]),
                  "negative_floats": np.array([-1.0, 0.0, 7.0])}[kind][y]
    clf = NeuralNetClassifier(output=output, max_iter=100, random_state=0).fit(X, labels)
    assert clf.classes_.tolist() == sorted(set(labels.tolist()))
    pred = clf.predict(X)
    assert pred.dtype == labels.dtype and set(pred.tolist()) <= set(labels.tolist())
    assert clf.score(X, labels) >= 0.95
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), clf.classes_.size)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    n_out = 1 if output == "sigmoid" and clf.classes_.size == 2 else clf.classes_.size
    assert clf.model_.output.out_shape == (n_out,)


def test_course_labels_1_to_10_on_digits(digits):
    Xtr, Xte, ytr, yte = digits
    clf = NeuralNetClassifier(output="sigmoid", l2=1.0, init="uniform", max_iter=100, random_state=0)
    clf.fit(Xtr, ytr + 1)  # the course data labels its digits 1..10 ("0" is 10)
    assert clf.classes_.tolist() == list(range(1, 11))
    assert clf.score(Xte, yte + 1) >= 0.95  # measured 0.968
    assert clf.coef_ is clf.model_.theta and clf.coef_.size == 64 * 25 + 25 + 25 * 10 + 10
    assert clf.n_features_in_ == 64 and clf.n_iter_ == len(clf.loss_curve_) <= 100
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert "dense1" in tg.to_graphviz(clf.model_).source  # the fitted graph renders


def test_regressor_fits_a_curve_and_several_outputs():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = np.sin(X[:, 0])
    reg = NeuralNetRegressor((20,), "tanh", max_iter=300, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (300,) and reg.score(X, y) >= 0.97  # measured 0.982
    Y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 0])])
    reg2 = NeuralNetRegressor((20,), "tanh", max_iter=300, random_state=0).fit(X, Y)
    assert reg2.predict(X).shape == (300, 2) and reg2.score(X, Y) >= 0.97 and reg2.n_outputs_ == 2


def test_partial_fit_keeps_the_optimizer_state(digits):
    Xtr, Xte, ytr, yte = digits
    adam = tg.optim.Adam(1e-2)
    stream = NeuralNetClassifier((32,), "relu", optimizer=adam, random_state=0)
    chunks = np.array_split(np.arange(len(Xtr)), 6)
    with pytest.raises(ValueError, match="classes must be passed"):
        stream.partial_fit(Xtr[:10], ytr[:10])
    for _ in range(5):
        for idx in chunks:
            stream.partial_fit(Xtr[idx], ytr[idx], classes=np.arange(10))
    assert stream.optimizer_.t == 5 * len(chunks) and stream.n_iter_ == 5 * len(chunks)
    assert adam.t == 0 and adam.m is None  # the parameter object itself is never trained
    assert stream.score(Xte, yte) >= 0.85  # measured 0.896
    # Resetting Adam before each chunk (scikit-learn's warm start) takes other steps from the same start.
    reset = NeuralNetClassifier((32,), "relu", optimizer=adam, random_state=0)
    for idx in chunks[:2]:
        if hasattr(reset, "optimizer_"):
            reset.optimizer_.reset()
        reset.partial_fit(Xtr[idx], ytr[idx], classes=np.arange(10))
    kept = NeuralNetClassifier((32,), "relu", optimizer=adam, random_state=0)
    for idx in chunks[:2]:
        kept.partial_fit(Xtr[idx], ytr[idx], classes=np.arange(10))
    assert not np.allclose(kept.coef_, reset.coef_)
    with pytest.raises(ValueError, match="not among the fitted classes_"):
        stream.partial_fit(Xtr[:5], np.full(5, 10))


def test_partial_fit_with_a_scipy_method_and_a_regressor():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    reg = NeuralNetRegressor((), optimizer="L-BFGS-B", random_state=0)  # linear regression
    for idx in np.array_split(np.arange(200), 4):
        reg.partial_fit(X[idx], y[idx])
    assert isinstance(reg.optimizer_, tg.optim.Scipy) and reg.optimizer_.t == 4
    assert reg.score(X, y) >= 0.99


def test_warm_start_continues_from_the_fitted_theta(iris):
    X, y = iris
    clf = NeuralNetClassifier(optimizer=tg.optim.Adam(1e-2), max_iter=20, warm_start=True, random_state=0)
    clf.fit(X, y)
    first, steps = clf.loss_curve_[-1], clf.optimizer_.t
    clf.fit(X, y)
    assert clf.n_iter_ == 40 and len(clf.loss_curve_) == 40 and clf.optimizer_.t == 2 * steps
    assert clf.loss_curve_[20] < clf.loss_curve_[0] and clf.loss_curve_[-1] < first
    cold = NeuralNetClassifier(optimizer=tg.optim.Adam(1e-2), max_iter=20, random_state=0).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 20 and cold.loss_curve_[0] > first  # fit without warm_start starts afresh


def test_early_stopping_keeps_the_best_epoch(digits):
    Xtr, _, ytr, _ = digits
    clf = NeuralNetClassifier((64,), "relu", optimizer=tg.optim.Adam(3e-2), max_iter=200, early_stopping=True,
                              validation_fraction=0.2, n_iter_no_change=5, random_state=0).fit(Xtr, ytr)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_) >= 0.9
    with pytest.raises(ValueError, match="validation_fraction"):
        clf.set_params(validation_fraction=1.5).fit(Xtr, ytr)


def test_class_weight(digits):
    Xtr, Xte, ytr, yte = digits
    rng = np.random.default_rng(0)
    keep = (ytr != 3) | (rng.random(ytr.size) < 0.05)  # digit 3 becomes rare: 5 of 1170 rows
    X, y = Xtr[keep], ytr[keep] == 3
    test3 = yte == 3
    plain = NeuralNetClassifier(l2=1.0, max_iter=100, random_state=0).fit(X, y)
    balanced = NeuralNetClassifier(l2=1.0, max_iter=100, class_weight="balanced", random_state=0).fit(X, y)
    recall = [np.mean(m.predict(Xte[test3])) for m in (plain, balanced)]
    assert recall[0] < 0.2 and recall[1] > 0.5  # measured 0.0 -> 0.70: the rare class is found
    # A dict weighs exactly as the corresponding sample weights.
    by_dict = NeuralNetClassifier(max_iter=30, class_weight={True: 5.0}, random_state=0).fit(X, y)
    by_weight = NeuralNetClassifier(max_iter=30, random_state=0).fit(X, y, sample_weight=np.where(y, 5.0, 1.0))
    np.testing.assert_array_equal(by_dict.coef_, by_weight.coef_)
    with pytest.raises(ValueError, match="not among the classes"):
        NeuralNetClassifier(class_weight={"seven": 2.0}).fit(X, y)
    with pytest.raises(ValueError, match="balanced"):
        NeuralNetClassifier(class_weight="balanced").partial_fit(X, y, classes=[False, True])


class _InterruptAfter(tg.optim.SGD):
    """SGD that raises KeyboardInterrupt (as Ctrl-C would) at its sixth step."""

    def step(self, theta, grad):
        if self.t == 5:
            raise KeyboardInterrupt
        super().step(theta, grad)


def test_interrupted_fit_keeps_a_usable_model(iris):
    X, y = iris
    clf = NeuralNetClassifier(optimizer=_InterruptAfter(0.5), batch_size=30, max_iter=50, random_state=0)
    with pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, y)
    assert clf.optimizer_.t == 5 and clf.n_iter_ == 1 and np.isfinite(clf.coef_).all()
    assert clf.predict(X).shape == (150,)
    fresh = NeuralNetClassifier(max_iter=1, random_state=0).fit(X, y)
    assert not np.array_equal(fresh.coef_, clf.coef_)


def test_pipeline_grid_search_and_cross_validation_in_two_processes(iris):
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = iris
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(max_iter=100, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=5, n_jobs=2)
    assert scores.shape == (5,) and scores.mean() >= 0.9
    grid = GridSearchCV(pipe, {"neuralnetclassifier__l2": [1e-4, 1.0, 100.0],
                               "neuralnetclassifier__hidden_layers": [(3,), (25,)]}, cv=3, n_jobs=2)
    grid.fit(X, y)
    assert grid.best_score_ >= 0.9 and grid.best_params_["neuralnetclassifier__l2"] != 100.0
    means = grid.cv_results_["mean_test_score"]
    assert means.min() < grid.best_score_  # l2 = 100 underfits: the sweep tells the settings apart
    assert grid.best_estimator_[-1].model_.l2 == grid.best_params_["neuralnetclassifier__l2"]


def test_importable_without_scikit_learn_and_says_what_to_install():
    import subprocess
    import sys
    code = """
import sys
sys.modules["sklearn"] = None  # any import of scikit-learn now fails
import tinygraph as tg
from tinygraph.sklearn import NeuralNetClassifier
try:
    NeuralNetClassifier()
except ImportError as e:
    print(e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "NeuralNetClassifier needs scikit-learn: pip install 'tinygraph[sklearn]'"


@pytest.mark.parametrize("params, error, match", [
    ({"hidden_layers": (25, 0)}, ValueError, "hidden_layers"),
    ({"activation": "swish"}, ValueError, "activation"),
    ({"output": "linear"}, ValueError, "output"),
    ({"optimizer": object()}, TypeError, "optimizer"),
    ({"max_iter": 0}, ValueError, "max_iter"),
    ({"early_stopping": True, "validation_fraction": 0.0}, ValueError, "validation_fraction"),
    ({"class_weight": "even"}, ValueError, "class_weight"),
])
def test_bad_parameters_fail_in_fit_and_leave_it_unfitted(iris, params, error, match):
    X, y = iris
    clf = NeuralNetClassifier(**params)  # scikit-learn's rule: the constructor only stores them
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


# model=builder (issue 19 item 6) -------------------------------------------------------------------

class _Flat(tg.Node):
    """Test-local flattening, (N, *shape) -> (N, prod(shape)): Flatten is being added to nodes/shape.py."""

    def build(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


def image_net(n_classes=2, *, hidden=6, l2=0.0, random_state=None):
    """Input (1, 4, 4) → flatten → Dense(hidden) → Tanh → Dense(n_classes) → Softmax → CrossEntropy."""
    x = tg.Input((1, 4, 4))
    h = tg.Tanh()(tg.Dense(hidden)(_Flat()(x)))
    out = tg.CrossEntropy()(tg.Softmax()(tg.Dense(n_classes)(h)))
    return tg.Graph(x, out, l2=l2, random_state=random_state)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 1, 4, 4))
    y = np.where(X[:, 0, :2].sum(axis=(1, 2)) > X[:, 0, 2:].sum(axis=(1, 2)), "top", "bottom")
    return X, y


def test_a_builder_for_n_d_input(images):
    X, y = images
    clf = NeuralNetClassifier(model=image_net, model_params={"hidden": 8}, max_iter=300, random_state=0)
    clf.fit(X, y)
    assert clf.model_["dense1"].n_out == 8 and clf.model_.input.shape == (1, 4, 4)
    assert clf.score(X, y) > 0.9 and clf.predict(X[:3]).tolist() == clf.classes_[
        clf.predict_proba(X[:3]).argmax(axis=1)].tolist()
    with pytest.raises(ValueError, match=r"\(N, 1, 4, 4\)"):
        NeuralNetClassifier(model=image_net).fit(X[:, :, :3], y)
    with pytest.raises(ValueError, match="N-D|model="):
        NeuralNetClassifier().fit(X, y)  # hidden_layers builds MLPs for 2-D X


def test_builder_arguments_are_nested_parameters(images):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    X, y = images
    clf = NeuralNetClassifier(model=image_net, max_iter=100, random_state=0)
    params = clf.get_params()
    assert params["model__hidden"] == 6 and params["model__l2"] == 0.0 and "model__n_classes" not in params
    clf.set_params(model__hidden=3)
    assert clf.model_params == {"hidden": 3} and clone(clf).get_params()["model__hidden"] == 3
    with pytest.raises(ValueError, match="model__width"):
        clf.set_params(model__width=3).fit(X, y)
    grid = GridSearchCV(NeuralNetClassifier(model=image_net, max_iter=100, random_state=0),
                        {"model__hidden": [1, 8]}, cv=2).fit(X, y)
    assert grid.best_estimator_.model_["dense1"].n_out == grid.best_params_["model__hidden"]


def test_a_builder_from_models_on_tables():
    from sklearn.datasets import load_digits

    from models.course_digits import digit_net
    X, y = load_digits(return_X_y=True)
    clf = NeuralNetClassifier(model=digit_net, model_params={"hidden": 10, "l2": 0.1}, max_iter=100,
                              random_state=0).fit(X[:400] / 16, y[:400])
    assert clf.model_.n_params == 64 * 10 + 10 + 10 * 10 + 10 and clf.score(X[:400] / 16, y[:400]) > 0.9


def test_warm_start_with_a_builder(images):
    X, y = images
    clf = NeuralNetClassifier(model=image_net, max_iter=20, warm_start=True, random_state=0).fit(X, y)
    clf.set_params(model__l2=5.0).fit(X, y)
    assert clf.model_.l2 == 5.0
    with pytest.raises(ValueError, match="model__hidden"):
        clf.set_params(model__hidden=2).fit(X, y)


def test_a_builder_of_the_wrong_kind_is_refused(images):
    X, y = images
    with pytest.raises(ValueError, match="regressor needs"):
        NeuralNetRegressor(model=image_net).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="outputs"):
        NeuralNetClassifier(model=image_net, model_params={"n_classes": 3}).fit(X, y)
