"""What the estimators need from scikit-learn, and small stand-ins when it is not installed.

With scikit-learn, ``BaseEstimator``, the mixins, ``NotFittedError`` and ``DataConversionWarning`` are
its own classes, so ``clone``, tags, ``check_is_fitted`` and its estimator checks see the usual
types. Without it, the stand-ins give ``get_params``/``set_params`` (from the ``__init__`` signature),
a repr and ``score``. ``check_X``/``check_y`` validate input with scikit-learn's error wording.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from .validation import all_finite

__all__ = [
    "BaseEstimator",
    "ClassifierMixin",
    "NotFittedError",
    "RegressorMixin",
    "check_X",
    "check_weights",
    "check_y",
]

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import DataConversionWarning, NotFittedError
except ImportError:
    class NotFittedError(ValueError, AttributeError):
        """Raised when predicting with an estimator before ``fit``."""

    class DataConversionWarning(UserWarning):
        """Input data converted to another shape or type."""

    class BaseEstimator:
        """``get_params``/``set_params`` over the ``__init__`` keyword arguments, as scikit-learn's."""

        @classmethod
        def _get_param_names(cls) -> list:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

        def get_params(self, deep: bool = True) -> dict:
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}; valid: {valid}")
                setattr(self, name, value)
            return self

        def __repr__(self) -> str:
            defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                             if not (isinstance(v, type(defaults.get(k))) and v == defaults.get(k)))
            return f"{type(self).__name__}({args})"

    class ClassifierMixin:
        """Accuracy as ``score``."""

        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None) -> float:
            return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    class RegressorMixin:
        """R² (averaged over outputs) as ``score``."""

        _estimator_type = "regressor"

        def score(self, X, y, sample_weight=None) -> float:
            pred, y = np.asarray(self.predict(X), float), np.asarray(y, float)
            y = y.reshape(pred.shape)
            res = np.average((y - pred) ** 2, axis=0, weights=sample_weight)
            tot = np.average((y - np.average(y, axis=0, weights=sample_weight)) ** 2, axis=0,
                             weights=sample_weight)
            return float(np.mean(1.0 - res / np.where(tot > 0, tot, 1.0)))


def _is_sparse(a) -> bool:
    return hasattr(a, "tocsr") or type(a).__module__.startswith("scipy.sparse")


def check_X(X, estimator, n_features: int | None = None) -> np.ndarray:
    """X as a finite float64 array (N, D), N >= 1, D >= 1, D == n_features when given."""
    who = type(estimator).__name__
    if _is_sparse(X):
        raise TypeError(f"{who} does not accept sparse input; convert it with X.toarray()")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported")
    X = X.astype(np.float64, copy=False)  # object arrays of numbers convert; anything else raises
    if X.ndim != 2:
        raise ValueError(f"{who}: expected a 2D array X (n_samples, n_features), got shape {X.shape}. "
                         "Reshape your data with X.reshape(-1, 1) if it has a single feature")
    for axis, what in ((0, "sample"), (1, "feature")):
        if X.shape[axis] == 0:
            raise ValueError(f"{who}: found array with 0 {what}(s) (shape={X.shape}) while a minimum "
                             "of 1 is required.")
    if not all_finite(X):
        raise ValueError(f"{who}: input X contains NaN or infinity")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but {who} is expecting {n_features} features as input")
    return X


def check_y(y, n: int, estimator) -> np.ndarray:
    """y as an array of n rows; a classifier's column vector (n, 1) becomes (n,) with a warning."""
    who = type(estimator).__name__
    if y is None:
        raise ValueError(f"{who} requires y to be passed, but the target y is None")
    if _is_sparse(y):
        raise TypeError(f"{who} does not accept sparse y")
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n}, {y.size}]")
    if y.dtype.kind in "biuf" and not np.isfinite(y).all():
        raise ValueError(f"{who}: input y contains NaN or infinity")
    if estimator._is_classifier and y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape "
                      "of y to (n_samples,), for example using ravel().", DataConversionWarning, stacklevel=4)
        y = y[:, 0]
    if y.ndim > 2 or y.ndim == 2 and estimator._is_classifier:
        raise ValueError(f"{who}: y should be a 1d array, got an array of shape {y.shape}")
    return y


def check_weights(sample_weight, n: int, estimator) -> np.ndarray:
    """Sample weights as a float64 (n,) array: finite, non-negative, not all zero (None: ones)."""
    who = type(estimator).__name__
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    w = np.full(n, float(w)) if w.ndim == 0 else w
    if w.shape != (n,):
        raise ValueError(f"{who}: sample_weight must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{who}: sample_weight must be finite and non-negative")
    if not w.any():
        raise ValueError(f"{who}: sample weights must contain at least one non-zero number")
    return w
