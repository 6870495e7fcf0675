"""scikit-learn estimators over a tinygraph net: ``NeuralNetClassifier`` and ``NeuralNetRegressor``.

``fit(X, y)`` builds ``Dense → activation`` for each size in ``hidden_layers``, then an output layer
and its loss (classifier: Softmax or the course's Sigmoid, fused with ``CrossEntropy``; regressor:
Identity and ``MeanSquaredError``), and trains it with ``tg.fit``. With ``model=builder`` (a function
of ``models/``, e.g. ``lenet_net``) the builder makes the net instead, at ``fit``, its keyword
arguments set as ``model__name`` (scikit-learn's nested parameters), and X may be N-D (images).
The fitted state is small: ``model_`` (the ``tg.Graph``, renderable), ``coef_`` (its flat theta:
the same array, always), ``optimizer_`` (the optimizer whose state ``partial_fit`` and ``warm_start``
continue), ``classes_``, ``n_features_in_``, ``feature_names_in_`` (DataFrames), ``loss_curve_``,
``n_iter_``.

The estimators require scikit-learn (``tinygraph.estimator_base``): its base classes, and its own
input validation, so bad input gets its messages.
"""
from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np

from .estimator_base import (
    BaseEstimator,
    ClassifierMixin,
    ConvergenceWarning,
    NotFittedError,
    RegressorMixin,
    build_model,
    builder_params,
    require_sklearn,
    validate,
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

    def __init__(self, hidden_layers=(25,), activation="sigmoid", *, model=None, model_params=None, l2=1e-4,
                 init=None, optimizer="L-BFGS-B", batch_size=None, max_iter=200, tol=1e-4, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, random_state=None, warm_start=False,
                 verbose=0, threads=None, n_jobs=None):
        require_sklearn(type(self).__name__)
        self.hidden_layers = hidden_layers
        self.model = model
        self.model_params = model_params
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

    @property
    def coef_(self) -> np.ndarray:
        """The fitted flat theta: ``model_.theta`` itself, whatever saved or pickled it."""
        if "model_" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no coef_ before fit")
        return self.model_.theta

    def get_params(self, deep: bool = True) -> dict:
        """scikit-learn's parameters; with ``deep`` and a model builder, also its ``model__name``."""
        params = super().get_params(deep)
        if deep and callable(self.model):
            given = {**builder_params(self.model), **(self.model_params or {})}
            params.update({f"model__{k}": v for k, v in given.items()})
        return params

    def set_params(self, **params):
        """scikit-learn's ``set_params``; ``model__name=value`` sets an argument of the model builder."""
        nested = {k[len("model__"):]: params.pop(k) for k in list(params) if k.startswith("model__")}
        super().set_params(**params)
        if nested:
            if not callable(self.model):
                raise ValueError(f"{', '.join('model__' + k for k in nested)}: set model= to a builder first")
            self.model_params = {**(self.model_params or {}), **nested}
        return self

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit first")

    def _check_params(self) -> tuple:
        """Validate the parameters (before anything is built or trained); returns the hidden sizes."""
        if not (self.model is None or callable(self.model)):
            raise TypeError(f"model must be None or a function that builds a tinygraph Graph, got {self.model!r}")
        if not (self.model_params is None or isinstance(self.model_params, dict)):
            raise TypeError(f"model_params must be a dict of the builder's arguments, got {self.model_params!r}")
        if self.model is None and self.model_params:
            raise ValueError("model_params (model__name) are given but model is None")
        if not (isinstance(self.l2, numbers.Real) and 0 <= self.l2 < np.inf):
            raise ValueError(f"l2 must be a finite non-negative number, got {self.l2!r}")
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

    def _architecture(self, sizes: tuple) -> dict:
        """What a warm start cannot change (it would need another net)."""
        if self.model is not None:
            return {"model": self.model, **{f"model__{k}": v for k, v in (self.model_params or {}).items()
                                            if k != "l2"}}
        arch = {"hidden_layers": tuple(int(h) for h in sizes), "activation": self.activation}
        return {**arch, "output": self.output} if self._is_classifier else arch

    def _build(self, sizes: tuple, feature_shape: tuple, n_outputs: int, rng) -> None:
        seed = int(rng.integers(2 ** 32))
        if self.model is not None:
            self.model_ = build_model(self.model, self.model_params or {}, feature_shape, n_outputs, seed,
                                      classifier=self._is_classifier)
        else:
            if len(feature_shape) != 1:
                raise ValueError(f"hidden_layers builds a net for 2-D X (n_samples, n_features), got X of "
                                 f"shape (n_samples, {', '.join(map(str, feature_shape))}); pass model= for N-D X")
            layers = []
            for h in sizes:
                layers += [Dense(int(h)), _ACTIVATIONS[self.activation]()]
            layers += [Dense(n_outputs), *self._head()]
            init = self.init if self.init is not None else ("he" if self.activation == "relu" else "glorot")
            self.model_ = Sequential(layers, n_features=feature_shape[0], l2=self.l2, init=init,
                                     random_state=seed)
        self._new_optimizer()
        self._arch = self._architecture(sizes)
        self.n_iter_, self.loss_curve_ = 0, []

    def _new_optimizer(self) -> None:
        opt = self.optimizer
        # A copy: fit must not change the optimizer object the user passed (clone, grid search).
        self.optimizer_ = opt
        if isinstance(opt, Optimizer):
            self.optimizer_ = copy.deepcopy(opt)
            self.optimizer_.reset()
        self._optimizer_config = repr(opt)

    def _continue(self, sizes: tuple) -> None:
        """A warm start or partial_fit: refuse an architecture change; take the new l2 and optimizer."""
        now = self._architecture(sizes)
        before = getattr(self, "_arch", now)  # a loaded estimator: its file does not keep it
        for key in sorted(set(now) | set(before), key=str):
            if now.get(key) != before.get(key) and not (key == "model" and before.get(key) is None):
                raise ValueError(f"{key} changed from {before.get(key)!r} to {now.get(key)!r} since the last "
                                 "fit; a warm start or partial_fit keeps the fitted net: set warm_start=False "
                                 "(or use a new estimator) to change it")
        if self.model is None:
            self.model_.l2 = float(self.l2)
        elif "l2" in (self.model_params or {}):
            self.model_.l2 = float(self.model_params["l2"])
        if getattr(self, "_optimizer_config", repr(self.optimizer)) != repr(self.optimizer):
            self._new_optimizer()

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
        who = type(self).__name__
        if result.interrupted:
            warnings.warn(f"{who}.fit was interrupted after {self.n_iter_} iterations; "
                          "the model keeps its last parameters and is usable", UserWarning, stacklevel=3)
        elif not partial and (result.n_epochs >= int(self.max_iter) if minibatch else not result.success):
            warnings.warn(f"{who}: max_iter={self.max_iter} reached before the loss stopped improving by "
                          f"tol={self.tol} ({result.message}); raise max_iter", ConvergenceWarning, stacklevel=3)
        return result

    def _split(self, X, t, sw, rng):
        """Hold out ``validation_fraction`` of the rows for early stopping, stratified by class (for a
        classifier) and by zero/positive weight, so that both sides have positive weight."""
        frac, n = self.validation_fraction, X.shape[0]
        keys = t if t.ndim == 1 and self._is_classifier else np.zeros(n, dtype=np.intp)
        positive = sw > 0
        groups = [np.flatnonzero((keys == k) & (positive == p)) for k in np.unique(keys) for p in (True, False)]
        held = np.concatenate([rng.permutation(g)[:round(frac * g.size)] for g in groups])
        if held.size == 0 or held.size == n:
            raise ValueError(f"validation_fraction={frac} leaves no validation or no training rows "
                             f"among n_samples={n}")
        mask = np.zeros(n, dtype=bool)
        mask[held] = True
        pos = np.flatnonzero(positive)
        if pos.size < 2:
            raise ValueError(f"early_stopping needs at least 2 rows of positive sample_weight (one to train "
                             f"on, one to validate on), got {pos.size}")
        if not positive[mask].any():  # too few positive rows for the fraction to pick one
            mask[rng.choice(pos)] = True
        elif not positive[~mask].any():
            mask[rng.choice(pos[mask[pos]])] = False
        if self._is_classifier and np.unique(t[~mask & positive]).size < 2:
            raise ValueError("early_stopping: the training rows left after the validation split have "
                             "positive sample_weight in only one class; lower validation_fraction or "
                             "give more rows positive weight")
        return X[~mask], t[~mask], sw[~mask], (X[mask], t[mask], sw[mask])

    def _fit(self, X, y, sample_weight, *, partial: bool, classes=None):
        sizes = self._check_params()
        continuing = hasattr(self, "model_") and (partial or self.warm_start)
        if continuing:
            self._continue(sizes)
        # None becomes weights of one: sample_weight=None and all-ones weights then run exactly the
        # same arithmetic (same float results).
        X, y, sw = validate(self, X, y, reset=not continuing, sample_weight=sample_weight,
                            classifier=self._is_classifier)
        t, n_outputs, labels = self._targets(y, classes, continuing, partial)
        sw = self._weigh(t, sw, labels, partial)
        rng = check_random_state(self.random_state)
        if not continuing:
            self._build(sizes, X.shape[1:], n_outputs, rng)
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
        return self.model_.forward(validate(self, X, reset=False))


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
    model : None or a function returning a ``tg.Graph`` ending in a loss (e.g. ``models.lenet.lenet_net``)
        Called at ``fit`` instead of building from ``hidden_layers``/``activation``/``output``/``init``/
        ``l2`` (the builder's own arguments decide those): with ``model_params`` as keyword arguments,
        plus whichever of ``n_features`` (2-D X), ``input_shape``, ``n_classes`` and ``random_state``
        it takes. X may then be N-D, of the shape the model reads.
    model_params : None or dict of the builder's keyword arguments; ``set_params(model__hidden=50)``
        sets one, and ``get_params()`` lists them as ``model__name`` (so grid searches reach them).
    l2 : float
        The course's λ: adds l2/(2m)·ΣW² over weights (not biases); scikit-learn's ``alpha``.
    init : None or a ``tinygraph.initializers`` name or callable; None picks "he" for relu, else "glorot".
    optimizer : str or tinygraph.optim.Optimizer
        A scipy method name ("L-BFGS-B", "CG", "TNC", ...) trains full batch; an optimizer object
        (e.g. ``tg.optim.Adam(1e-3)``) trains on minibatches, and is copied, never modified.
    batch_size : None or int
        None: full batch for scipy methods, min(200, n_samples) for optimizer objects.
    max_iter : int
        Iterations of a scipy method, or epochs of a minibatch optimizer; ``fit`` warns with
        scikit-learn's ``ConvergenceWarning`` when they run out before ``tol`` stops it.
    tol, n_iter_no_change : stop once the loss (validation loss with early stopping) has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; scipy methods also get ``tol``.
    early_stopping, validation_fraction : hold out a stratified fraction; keep the best epoch's theta.
    class_weight : None, "balanced" or dict label -> weight; multiplies ``sample_weight``.
    random_state : seeds the initial weights, the shuffles and the validation split.
    warm_start : fit again from the fitted theta. ``l2`` (or ``model__l2``) and the training settings
        take effect on the next fit; the optimizer state continues (Adam's moments) unless
        ``optimizer`` was changed, which starts the new one afresh. Changing the net (``hidden_layers``,
        ``activation``, ``output``, ``model`` or another ``model__`` argument) raises ``ValueError``:
        set ``warm_start=False`` to rebuild. The same holds for ``partial_fit``.
    verbose : printed progress, as ``tg.fit``.
    threads : None, or at most this many BLAS threads while fitting (``tg.fit``'s ``threads``; 1 is
        often faster on small or shared machines).
    n_jobs : None, or the number of threads (-1: every core) that split each loss and gradient by
        rows (``tg.fit``'s ``n_jobs``): for full-batch methods on large data.
    """

    _is_classifier = True

    def __init__(self, hidden_layers=(25,), activation="sigmoid", *, output="softmax", model=None,
                 model_params=None, l2=1e-4, init=None, optimizer="L-BFGS-B", batch_size=None, max_iter=200,
                 tol=1e-4, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, class_weight=None,
                 random_state=None, warm_start=False, verbose=0, threads=None, n_jobs=None):
        super().__init__(hidden_layers, activation, model=model, model_params=model_params, l2=l2, init=init,
                         optimizer=optimizer,
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
        if isinstance(self.model_.output, Sigmoid):
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
