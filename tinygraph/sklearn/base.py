"""What the estimators take from scikit-learn, and the call of a model builder (``model=``).

The estimators require scikit-learn: its ``BaseEstimator`` and mixins (so ``clone``, tags,
``Pipeline`` and ``GridSearchCV`` work) and its own validation (``validate_data``, which records
``n_features_in_`` and ``feature_names_in_`` and checks them at predict; ``check_classification_targets``;
``_check_sample_weight``), so bad input gets scikit-learn's messages. Without scikit-learn this
module still imports (so ``import tinygraph`` works), and creating an estimator raises an
``ImportError`` naming the extra to install.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..graph import Graph
from ..nodes import CrossEntropy, Sigmoid

__all__ = ["BaseEstimator", "ClassifierMixin", "ConvergenceWarning", "NotFittedError", "RegressorMixin",
           "build_model", "builder_params", "require_sklearn", "validate"]

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, NotFittedError
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:  # scikit-learn < 1.6: the same check as a method
        def validate_data(estimator, *args, **kwargs):
            return estimator._validate_data(*args, **kwargs)
    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False

    class BaseEstimator:  # placeholders: the classes below can be defined, never created
        pass

    class ClassifierMixin:
        pass

    class RegressorMixin:
        pass

    class NotFittedError(ValueError, AttributeError):
        pass

    class ConvergenceWarning(UserWarning):
        pass


def require_sklearn(who: str) -> None:
    if not HAVE_SKLEARN:
        raise ImportError(f"{who} needs scikit-learn: pip install 'tinygraph[sklearn]'")


def validate(estimator, X, y="no_validation", *, reset: bool, sample_weight=None, classifier: bool = False):
    """X (and, at fit, y and sample weights) through scikit-learn's checks; N-D X is allowed (images).

    scikit-learn counts X.shape[1] as the features (an image's channels), so N-D X goes through its
    checks flattened: ``n_features_in_`` is the whole feature size (784 for (1, 28, 28)), and X of
    another feature shape is refused by the model's input, which names the whole shape.
    """
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 2:
        model = getattr(estimator, "model_", None)
        if not reset and model is not None and tuple(shape[1:]) != tuple(model.input.shape):
            raise ValueError(f"X has features of shape {tuple(shape[1:])}, but {type(estimator).__name__} is "
                             f"expecting features of shape {tuple(model.input.shape)}")
        out = validate(estimator, np.reshape(X, (shape[0], -1)), y, reset=reset, sample_weight=sample_weight,
                       classifier=classifier)
        if isinstance(out, tuple):
            return (out[0].reshape(shape),) + out[1:]
        return out.reshape(shape)
    kwargs = {"dtype": [np.float64, np.float32], "allow_nd": True}
    if isinstance(y, str) and y == "no_validation":
        return validate_data(estimator, X, reset=reset, **kwargs)
    if not classifier:
        kwargs.update(multi_output=True, y_numeric=True)
    X, y = validate_data(estimator, X, y, reset=reset, **kwargs)
    if classifier:
        check_classification_targets(y)
    try:
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    except TypeError as e:  # scikit-learn < 1.6 names it only_non_negative
        if "ensure_non_negative" not in str(e):
            raise
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, only_non_negative=True)
    return X, y, sw


def builder_params(builder) -> dict:
    """The keyword arguments of ``builder`` with defaults, as ``get_params`` shows them (``model__name``)."""
    return {name: p.default for name, p in inspect.signature(builder).parameters.items()
            if p.default is not p.empty and name not in _FILLED}


_FILLED = ("n_features", "input_shape", "n_classes", "n_outputs", "random_state")


def build_model(builder, params: dict, feature_shape: tuple, n_outputs: int, seed: int, *,
                classifier: bool) -> Graph:
    """Call ``builder`` (a function of ``models/``) with ``params`` and what the data fixes.

    The arguments it takes among ``n_features`` (2-D X), ``input_shape``, ``n_classes`` (classifier)
    or ``n_outputs`` (regressor) and ``random_state`` are filled in unless given; the model must read X
    of ``feature_shape`` and give ``n_outputs`` outputs (a classifier of two classes: 1 or 2).
    """
    name = getattr(builder, "__name__", repr(builder))
    sig = inspect.signature(builder).parameters
    unknown = sorted(set(params) - set(sig)) if not any(p.kind == p.VAR_KEYWORD for p in sig.values()) else []
    if unknown:
        raise ValueError(f"model__{unknown[0]}: {name} takes no argument {unknown[0]!r}")
    fill = {"input_shape": feature_shape, "random_state": seed,
            "n_classes" if classifier else "n_outputs": n_outputs}
    if len(feature_shape) == 1:
        fill["n_features"] = feature_shape[0]
    kwargs = {**{k: v for k, v in fill.items() if k in sig}, **params}
    model = builder(**kwargs)
    if not isinstance(model, Graph):
        raise TypeError(f"model: {name}(...) must return a tinygraph Graph, got {type(model).__name__}")
    if classifier != isinstance(model.loss, CrossEntropy):
        raise ValueError(f"model: {name}(...) ends in {model.loss!r}; a "
                         f"{'classifier needs a CrossEntropy' if classifier else 'regressor needs a non-cross-entropy'}"
                         " loss")
    if tuple(model.input.shape) != tuple(feature_shape):
        raise ValueError(f"model: {name}(...) reads X of shape (N, {', '.join(map(str, model.input.shape))}), "
                         f"the data is (N, {', '.join(map(str, feature_shape))})")
    out = model.output.out_shape
    # a regressor with one output per step, (T, 1), takes y of shape (N, T)
    width = out[-1] if len(out) == 1 else out[0] if not classifier and len(out) == 2 and out[1] == 1 else None
    ok = width == n_outputs or classifier and n_outputs == 2 and width == 1 and isinstance(model.output, Sigmoid)
    if not ok:
        raise ValueError(f"model: {name}(...) gives outputs of shape {model.output.out_shape}, the data "
                         f"needs {n_outputs}" + (" (one per class)" if classifier else ""))
    return model
