"""The net behind both estimators: building (from ``hidden_layers`` or a ``model=`` builder),
training through ``tg.fit``, warm starts and ``partial_fit``, the early-stopping split, predicting.

``NeuralNetClassifier`` and ``NeuralNetRegressor`` (``tinygraph.sklearn.estimators``) add their output layer,
targets and scoring; the parameters are documented there.
"""
from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np

from .base import (
    BaseEstimator,
    ConvergenceWarning,
    NotFittedError,
    build_model,
    builder_params,
    require_sklearn,
    validate,
)
from ..nodes import Dense, Identity, ReLU, Sigmoid, Tanh
from ..optim.first_order import Optimizer, Scipy
from ..sequential import Sequential
from ..training.loop import fit as tg_fit
from ..validation import check_random_state, user_stacklevel

__all__ = ["NeuralNet"]

_ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "identity": Identity}


class NeuralNet(BaseEstimator):
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

    @property
    def coefs_(self) -> list:
        """The weight matrix of each layer, input side first, as scikit-learn's ``MLPClassifier``:
        ``coefs_[i]`` is (n_in, n_out) for a Dense layer; views into ``coef_``."""
        return [node.views(self.coef_)["W"] for node in self._weighted_layers()]

    @property
    def intercepts_(self) -> list:
        """The bias vector of each layer of ``coefs_`` (None for a layer without one); views into ``coef_``."""
        return [node.views(self.coef_).get("b") for node in self._weighted_layers()]

    def _weighted_layers(self) -> list:
        if "model_" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no coefs_ or intercepts_ before fit")
        return [node for node in self.model_.nodes if any(name == "W" for name, _ in node.params)]

    def get_params(self, deep: bool = True) -> dict:
        """scikit-learn's parameters; with ``deep`` and a model builder, also its ``model__name``."""
        params = super().get_params(deep)
        if deep and callable(self.model):  # parameters are validated in fit: model_params may be anything here
            given = {**builder_params(self.model),
                     **(self.model_params if isinstance(self.model_params, dict) else {})}
            params.update({f"model__{k}": v for k, v in given.items()})
        return params

    def set_params(self, **params):
        """scikit-learn's ``set_params``; ``model__name=value`` sets an argument of the model builder."""
        nested = {k[len("model__"):]: params.pop(k) for k in list(params) if k.startswith("model__")}
        super().set_params(**params)
        if nested:
            if not callable(self.model):
                raise ValueError(f"{', '.join('model__' + k for k in nested)}: set model= to a builder first")
            self.model_params = {**(self.model_params if isinstance(self.model_params, dict) else {}), **nested}
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
                          "the model keeps its last parameters and is usable", UserWarning,
                          stacklevel=user_stacklevel())
        elif not partial and (result.n_epochs >= int(self.max_iter) if minibatch else not result.success):
            if minibatch:
                counted = "epochs"
            elif isinstance(opt, str) and opt.lower() == "tnc":  # TNC has no iteration limit, only maxfun
                counted = "loss-and-gradient evaluations (TNC's limit; it has no iteration limit)"
            else:
                counted = "iterations"
            warnings.warn(f"{who}: max_iter={self.max_iter} {counted} ran out after n_iter_={self.n_iter_} "
                          f"{'epochs' if minibatch else 'iterations'}, before the loss stopped improving by tol={self.tol} ({result.message}); "
                          "raise max_iter", ConvergenceWarning, stacklevel=user_stacklevel())
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
