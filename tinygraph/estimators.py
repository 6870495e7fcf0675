"""scikit-learn estimators over a tinygraph net: ``NeuralNetClassifier`` and ``NeuralNetRegressor``.

``fit(X, y)`` builds ``Dense → activation`` for each size in ``hidden_layers``, then an output layer
and its loss (classifier: Softmax or the course's Sigmoid, fused with ``CrossEntropy``; regressor:
Identity and ``MeanSquaredError``), and trains it with ``tg.fit``. The fitted state is small:
``model_`` (the ``tg.Sequential``, renderable), ``coef_`` (its flat theta, the same array),
``optimizer_`` (the optimizer whose state ``partial_fit`` and ``warm_start`` continue),
``classes_``, ``n_features_in_``, ``loss_curve_``, ``n_iter_``.

scikit-learn is optional: with it installed the estimators derive from its ``BaseEstimator`` and
mixins (so ``clone``, tags, ``Pipeline`` and ``GridSearchCV`` work); without it, the small stand-ins in
``tinygraph.estimator_base`` provide ``get_params``/``set_params``/``score``.
"""
from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np

from .estimator_base import (
    BaseEstimator,
    ClassifierMixin,
    NotFittedError,
    RegressorMixin,
    check_weights,
    check_X,
    check_y,
)
from .graph import Sequential
from .nodes import CrossEntropy, Dense, Identity, MeanSquaredError, ReLU, Sigmoid, Softmax, Tanh
from .optim import Optimizer, Scipy
from .training import fit as tg_fit
from .validation import check_random_state

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

_ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "identity": Identity}


class _NeuralNet(BaseEstimator):
    """Shared parameters, building, training and prediction; see the two estimators below."""

    def __init__(self, hidden_layers=(25,), activation="sigmoid", *, l2=1e-4, init=None,
                 optimizer="L-BFGS-B", batch_size=None, max_iter=200, tol=1e-4, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, random_state=None, warm_start=False,
                 verbose=0, threads=None, n_jobs=None):
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.l2 = l2
        self.init = init
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.threads = threads
        self.n_jobs = n_jobs

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit first")

    def _check_params(self) -> tuple:
        """Validate the parameters (before anything is built or trained); returns the hidden sizes."""
        sizes = (self.hidden_layers,) if isinstance(self.hidden_layers, numbers.Integral) \
            else tuple(self.hidden_layers)
        if any(not isinstance(h, numbers.Integral) or h < 1 for h in sizes):
            raise ValueError(f"hidden_layers must be positive integers, got {self.hidden_layers!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.optimizer, (str, Optimizer)):
            raise TypeError(f"optimizer must be a scipy method name or a tinygraph.optim.Optimizer, "
                            f"got {self.optimizer!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        frac = self.validation_fraction
        if self.early_stopping and (not isinstance(frac, numbers.Real) or not 0 < frac < 1):
            raise ValueError(f"validation_fraction must be in (0, 1), got {frac!r}")
        cw = getattr(self, "class_weight", None)
        if not (cw is None or isinstance(cw, dict) or isinstance(cw, str) and cw == "balanced"):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")
        self._head()  # checks ``output``
        return sizes

    def _build(self, sizes: tuple, n_features: int, n_outputs: int, rng) -> None:
        layers = []
        for h in sizes:
            layers += [Dense(int(h)), _ACTIVATIONS[self.activation]()]
        layers += [Dense(n_outputs), *self._head()]
        init = self.init if self.init is not None else ("he" if self.activation == "relu" else "glorot")
        self.model_ = Sequential(layers, n_features=n_features, l2=self.l2, init=init,
                                 random_state=int(rng.integers(2 ** 32)))
        self.coef_ = self.model_.theta
        opt = self.optimizer
        # A copy: fit must not change the optimizer object the user passed (clone, grid search).
        self.optimizer_ = opt
        if isinstance(opt, Optimizer):
            self.optimizer_ = copy.deepcopy(opt)
            self.optimizer_.reset()
        self.n_features_in_, self.n_iter_, self.loss_curve_ = n_features, 0, []

    def _train(self, X, t, sw, rng, *, partial: bool):
        """One call of ``tg.fit``; updates ``loss_curve_`` and ``n_iter_``; returns the result."""
        opt, batch_size = self.optimizer_, self.batch_size
        if isinstance(self.optimizer, str):  # fit: full batch; partial_fit: a few iterations per chunk
            if not partial:
                opt = self.optimizer_ = self.optimizer
            elif not isinstance(opt, Scipy):
                opt = self.optimizer_ = Scipy(self.optimizer)
        minibatch = isinstance(opt, Optimizer)
        if minibatch and batch_size is None and not partial:
            batch_size = min(200, X.shape[0])
        validation = None
        if self.early_stopping and not partial:
            X, t, sw, validation = self._split(X, t, sw, rng)
        start = self.n_iter_ if minibatch else 0
        epochs = start + (1 if partial else int(self.max_iter)) if minibatch else None
        result = tg_fit(self.model_, X, t, opt, batch_size=batch_size, epochs=epochs,
                        maxiter=None if minibatch else int(self.max_iter), tol=self.tol,
                        sample_weight=sw, validation_data=validation, early_stopping=self.early_stopping
                        and not partial, patience=self.n_iter_no_change, random_state=int(rng.integers(2 ** 32)),
                        verbose=self.verbose, initial_epoch=start, threads=self.threads,
                        n_jobs=self.n_jobs)
        history = result.history
        self.loss_curve_ = list(self.loss_curve_) + [float(v) for v in history["epoch_loss"]]
        self.n_iter_ += int(result.n_epochs)
        if validation is not None:
            self.validation_scores_ = [float(v) for v in history["val_score"]]
            self.best_validation_score_ = max(self.validation_scores_, default=float("nan"))
        if result.interrupted:
            warnings.warn(f"{type(self).__name__}.fit was interrupted after {self.n_iter_} iterations; "
                          "the model keeps its last parameters and is usable", UserWarning, stacklevel=3)
        return result

    def _split(self, X, t, sw, rng):
        """Hold out ``validation_fraction`` of the rows (per class for a classifier) for early stopping."""
        frac, n = self.validation_fraction, X.shape[0]
        groups = [np.flatnonzero(t == k) for k in np.unique(t)] if t.ndim == 1 and self._is_classifier \
            else [np.arange(n)]
        held = np.concatenate([rng.permutation(g)[:round(frac * g.size)] for g in groups])
        if held.size == 0 or held.size == n:
            raise ValueError(f"validation_fraction={frac} leaves no validation or no training rows "
                             f"among n_samples={n}")
        mask = np.zeros(n, dtype=bool)
        mask[held] = True
        return X[~mask], t[~mask], sw[~mask], (X[mask], t[mask], sw[mask])

    def _fit(self, X, y, sample_weight, *, partial: bool, classes=None):
        sizes = self._check_params()
        continuing = hasattr(self, "model_") and (partial or self.warm_start)
        X = check_X(X, self, n_features=self.n_features_in_ if continuing else None)
        t, n_outputs, labels = self._targets(check_y(y, X.shape[0], self), classes, continuing, partial)
        # None becomes weights of one: sample_weight=None and all-ones weights then run exactly the
        # same arithmetic (same float results).
        sw = self._weigh(t, check_weights(sample_weight, X.shape[0], self), labels, partial)
        rng = check_random_state(self.random_state)
        if not continuing:
            self._build(sizes, X.shape[1], n_outputs, rng)
            if self._is_classifier:
                self.classes_ = labels
            else:
                self.n_outputs_ = n_outputs
        self._train(X, t, sw, rng, partial=partial)
        return self

    def _weigh(self, t, sw, labels, partial):
        return sw

    def _forward(self, X) -> np.ndarray:
        self._check_fitted()
        return self.model_.forward(check_X(X, self, n_features=self.n_features_in_))


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A feed-forward net classifier, scikit-learn style, over labels of any kind.

    Parameters
    ----------
    hidden_layers : tuple of int, default (25,)
        Units of each hidden layer (the course net: ``(25,)``); ``()`` gives logistic regression.
    activation : {"sigmoid", "tanh", "relu", "identity"}
    output : {"softmax", "sigmoid"}
        "softmax": categorical cross-entropy. "sigmoid": the course's cost, one binary cross-entropy
        per class (one unit for two classes); ``predict_proba`` then normalises the K sigmoids.
    l2 : float
        The course's λ: adds l2/(2m)·ΣW² over weights (not biases); scikit-learn's ``alpha``.
    init : None or a ``tinygraph.initializers`` name or callable; None picks "he" for relu, else "glorot".
    optimizer : str or tinygraph.optim.Optimizer
        A scipy method name ("L-BFGS-B", "CG", "TNC", ...) trains full batch; an optimizer object
        (e.g. ``tg.optim.Adam(1e-3)``) trains on minibatches, and is copied, never modified.
    batch_size : None or int
        None: full batch for scipy methods, min(200, n_samples) for optimizer objects.
    max_iter : int
        Iterations of a scipy method, or epochs of a minibatch optimizer.
    tol, n_iter_no_change : stop once the loss (validation loss with early stopping) has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; scipy methods also get ``tol``.
    early_stopping, validation_fraction : hold out a stratified fraction; keep the best epoch's theta.
    class_weight : None, "balanced" or dict label -> weight; multiplies ``sample_weight``.
    random_state : seeds the initial weights, the shuffles and the validation split.
    warm_start : fit again from the fitted theta and optimizer state (Adam's moments continue).
    verbose : printed progress, as ``tg.fit``.
    threads : BLAS threads while fitting (``tg.fit``'s ``threads``); None chooses them from the net,
        the batch and the machine (``tg.auto_threads``).
    n_jobs : None, or the number of threads (-1: every core) that split each loss and gradient by
        rows (``tg.fit``'s ``n_jobs``): for full-batch methods on large data.
    """

    _is_classifier = True

    def __init__(self, hidden_layers=(25,), activation="sigmoid", *, output="softmax", l2=1e-4, init=None,
                 optimizer="L-BFGS-B", batch_size=None, max_iter=200, tol=1e-4, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, class_weight=None, random_state=None,
                 warm_start=False, verbose=0, threads=None, n_jobs=None):
        super().__init__(hidden_layers, activation, l2=l2, init=init, optimizer=optimizer,
                         batch_size=batch_size, max_iter=max_iter, tol=tol, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
                         random_state=random_state, warm_start=warm_start, verbose=verbose, threads=threads,
                         n_jobs=n_jobs)
        self.output = output
        self.class_weight = class_weight

    def _head(self):
        if self.output not in ("softmax", "sigmoid"):
            raise ValueError(f"output must be 'softmax' or 'sigmoid', got {self.output!r}")
        return [Softmax() if self.output == "softmax" else Sigmoid(), CrossEntropy()]

    def _targets(self, y, classes, continuing, partial):
        # check_y has made y 1-D for a classifier.
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            raise ValueError("Unknown label type: continuous. Use NeuralNetRegressor for real-valued targets")
        if continuing:
            unseen = np.setdiff1d(y, self.classes_)
            if unseen.size:
                raise ValueError(f"labels {unseen.tolist()} are not among the fitted classes_ {self.classes_.tolist()}")
            return np.searchsorted(self.classes_, y), None, self.classes_
        if partial and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit (all labels of the stream)")
        labels = np.unique(y if classes is None else classes)
        if not np.isin(y, labels).all():
            raise ValueError(f"y has labels outside classes={labels.tolist()}")
        if labels.size < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes in y; got 1 class ({labels[0]!r})")
        binary_sigmoid = self.output == "sigmoid" and labels.size == 2
        return np.searchsorted(labels, y), 1 if binary_sigmoid else labels.size, labels

    def _weigh(self, t, sw, labels, partial):
        cw, K = self.class_weight, labels.size
        if isinstance(cw, str) and cw == "balanced":
            if partial:
                raise ValueError("class_weight='balanced' needs all the data; pass a dict to partial_fit")
            counts = np.bincount(t, minlength=K)
            sw = sw * (t.size / (K * np.maximum(counts, 1)))[t]
        elif isinstance(cw, dict):
            unknown = set(cw) - set(labels.tolist())
            if unknown:
                raise ValueError(f"class_weight has labels {sorted(unknown, key=str)} not among the classes")
            sw = sw * np.array([cw.get(c, 1.0) for c in labels.tolist()], dtype=float)[t]
        if not partial and np.unique(t[sw > 0]).size < 2:
            raise ValueError("only one class has a positive sample_weight; a classifier needs 2 classes")
        return sw

    def fit(self, X, y, sample_weight=None) -> NeuralNetClassifier:
        """Train on X (N, D) and labels y (N,) of any kind (ints, strings, ...); returns self."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> NeuralNetClassifier:
        """One epoch on this chunk, continuing the optimizer's state; ``classes`` on the first call."""
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in the order of ``classes_``."""
        p = self._forward(X)
        if p.shape[1] == 1:
            return np.hstack([1.0 - p, p])
        if self.output == "sigmoid":
            p /= p.sum(axis=1, keepdims=True)  # K independent sigmoids, normalised to sum to one
        return p

    def predict(self, X) -> np.ndarray:
        """The most probable label for each row, as in ``classes_`` (the labels given to fit)."""
        p = self.predict_proba(X)
        return self.classes_[p.argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A feed-forward net regressor (identity output, squared error), scikit-learn style.

    Parameters as ``NeuralNetClassifier`` without ``output`` and ``class_weight``. y may be (N,) or
    (N, K); ``predict`` returns (N,) for one output. The loss is ½·mean squared error; no target
    scaling is done (standardise y, e.g. with ``TransformedTargetRegressor``, for large targets).
    """

    _is_classifier = False

    def _head(self):
        return [Identity(), MeanSquaredError()]

    def _targets(self, y, classes, continuing, partial):
        try:
            t = y.astype(np.float64).reshape(y.shape[0], -1)
        except (TypeError, ValueError):
            raise ValueError(f"Unknown label type: a regressor needs numeric targets, got dtype {y.dtype}") from None
        if not np.isfinite(t).all():
            raise ValueError(f"{type(self).__name__}: input y contains NaN or infinity")
        if continuing and t.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {t.shape[1]} outputs, the fitted model {self.n_outputs_}")
        return t, t.shape[1], None

    def fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """Train on X (N, D) and real targets y (N,) or (N, K); returns self."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """One epoch on this chunk, continuing the optimizer's state."""
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X) -> np.ndarray:
        """Predicted targets, (N,) for one output, else (N, K)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
