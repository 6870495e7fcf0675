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

The estimators require scikit-learn (``tinygraph.sklearn.base``): its base classes, and its own
input validation, so bad input gets its messages.
"""
from __future__ import annotations

import numpy as np

from .base import ClassifierMixin, RegressorMixin
from .net import NeuralNet
from ..nodes import CrossEntropy, Identity, MeanSquaredError, Sigmoid, Softmax

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

class NeuralNetClassifier(ClassifierMixin, NeuralNet):
    """A feed-forward net classifier, scikit-learn style, over labels of any kind.

    Parameters
    ----------
    hidden_layers : tuple of int, default (25,)
        Units of each hidden layer (the course net: ``(25,)``); ``()`` gives logistic regression.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default "sigmoid"
        The hidden layers' activation.
    output : {"softmax", "sigmoid"}, default "softmax"
        "softmax": categorical cross-entropy. "sigmoid": the course's cost, one binary cross-entropy
        per class (one unit for two classes); ``predict_proba`` then normalises the K sigmoids.
    model : None or callable, default None
        A function returning a ``tg.Graph`` ending in a loss (e.g. ``models.lenet.lenet_net``).
        Called at ``fit`` instead of building from ``hidden_layers``/``activation``/``output``/``init``/
        ``l2`` (the builder's own arguments decide those): with ``model_params`` as keyword arguments,
        plus whichever of ``n_features`` (2-D X), ``input_shape``, ``n_classes`` and ``random_state``
        it takes. X may then be N-D, of the shape the model reads.
    model_params : None or dict, default None
        The builder's keyword arguments; ``set_params(model__hidden=50)`` sets one, and
        ``get_params()`` lists them as ``model__name`` (so grid searches reach them).
    l2 : float, default 1e-4
        The course's λ: adds l2/(2m)·ΣW² over weights (not biases); scikit-learn's ``alpha``.
    init : None, str or callable, default None
        A ``tinygraph.initializers`` name or callable; None picks "he" for relu, else "glorot".
    optimizer : str or tinygraph.optim.Optimizer, default "L-BFGS-B"
        A scipy method name ("L-BFGS-B", "CG", "TNC", ...) trains full batch; an optimizer object
        (e.g. ``tg.optim.Adam(1e-3)``) trains on minibatches, and is copied, never modified.
    batch_size : None or int, default None
        None: full batch for scipy methods, min(200, n_samples) for optimizer objects.
    max_iter : int, default 200
        Iterations of a scipy method, or epochs of a minibatch optimizer; for "TNC", which has no
        iteration limit, loss-and-gradient evaluations (scipy's ``maxfun``). ``fit`` warns with
        scikit-learn's ``ConvergenceWarning``, saying which of them ran out, when they run out
        before ``tol`` stops it.
    tol : float, default 1e-4
        Stop once the loss (validation loss with early stopping) has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; scipy methods also get ``tol``.
    early_stopping : bool, default False
        Hold out a stratified fraction (``validation_fraction``); keep the best epoch's theta.
    validation_fraction : float, default 0.1
        The fraction held out with ``early_stopping``.
    n_iter_no_change : int, default 10
        Epochs without an improvement by ``tol`` before stopping.
    class_weight : None, "balanced" or dict, default None
        A dict maps label -> weight; multiplies ``sample_weight``.
    random_state : None or int, default None
        Seeds the initial weights, the shuffles and the validation split.
    warm_start : bool, default False
        Fit again from the fitted theta. ``l2`` (or ``model__l2``) and the training settings
        take effect on the next fit; the optimizer state continues (Adam's moments) unless
        ``optimizer`` was changed, which starts the new one afresh. Changing the net (``hidden_layers``,
        ``activation``, ``output``, ``model`` or another ``model__`` argument) raises ``ValueError``:
        set ``warm_start=False`` to rebuild. The same holds for ``partial_fit``.
    verbose : int, default 0
        Printed progress, as ``tg.fit``.
    threads : None or int, default None
        BLAS threads while fitting (``tg.fit``'s ``threads``); None chooses them from the net,
        the batch and the machine (``tg.auto_threads``).
    n_jobs : None or int, default None
        The number of threads (-1: every core) that split each loss and gradient by
        rows (``tg.fit``'s ``n_jobs``): for full-batch methods on large data.

    Attributes
    ----------
    model_ : tinygraph.Graph
        The fitted net (renderable: ``model_.render("net.svg")``).
    coef_ : ndarray of shape (n_params,)
        Every parameter of the net in one flat vector: ``model_.theta`` itself.
    coefs_ : list of ndarray
        The weight matrix of each layer, input side first (``(n_in, n_out)`` for a Dense layer, as
        scikit-learn's ``MLPClassifier``); views into ``coef_``.
    intercepts_ : list of ndarray
        The bias vector of each layer of ``coefs_``; views into ``coef_``.
    loss_curve_ : list of float
        The training loss after each iteration (scipy) or epoch (minibatches).
    n_iter_ : int
        Iterations (scipy) or epochs (minibatches) run, over every ``fit`` and ``partial_fit``.
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted.
    n_features_in_ : int
        The number of features seen by ``fit``.
    feature_names_in_ : ndarray of str
        The column names of X, when X was a DataFrame with string column names.
    optimizer_ : str or tinygraph.optim.Optimizer
        What trained the net: the scipy method, or a copy of the optimizer, whose state
        ``partial_fit`` and ``warm_start`` continue.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.], [2., 2.], [2., 3.], [3., 2.], [3., 3.]])
    >>> y = np.array(["no", "no", "no", "no", "yes", "yes", "yes", "yes"])
    >>> clf = tg.NeuralNetClassifier(hidden_layers=(3,), l2=0.0, max_iter=100, random_state=0).fit(X, y)
    >>> clf.predict([[0.5, 0.5], [2.5, 2.5]]).tolist()
    ['no', 'yes']
    >>> clf.predict_proba(X).shape, clf.score(X, y)
    ((8, 2), 1.0)
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
        """Train on X (N, D) and labels y (N,) of any kind (ints, strings, ...); returns self.

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).
        y : array-like (N,)
            Labels of any kind; at least two classes.
        sample_weight : array-like (N,), optional
            Non-negative row weights.

        Returns
        -------
        NeuralNetClassifier
            self, fitted.
        """
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> NeuralNetClassifier:
        """One epoch on this chunk, continuing the optimizer's state; ``classes`` on the first call.

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).
        y : array-like (N,)
            Labels, among ``classes``.
        classes : array-like, optional
            Every label of the stream; required on the first call, ignored after.
        sample_weight : array-like (N,), optional
            Non-negative row weights.

        Returns
        -------
        NeuralNetClassifier
            self.
        """
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).

        Returns
        -------
        ndarray (N, n_classes)
            Rows sum to one.
        """
        p = self._forward(X)
        if p.shape[1] == 1:
            return np.hstack([1.0 - p, p])
        if isinstance(self.model_.output, Sigmoid):
            p /= p.sum(axis=1, keepdims=True)  # K independent sigmoids, normalised to sum to one
        return p

    def predict(self, X) -> np.ndarray:
        """The most probable label for each row, as in ``classes_`` (the labels given to fit).

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).

        Returns
        -------
        ndarray (N,)
            Labels, of ``classes_``'s dtype.
        """
        p = self.predict_proba(X)
        return self.classes_[p.argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, NeuralNet):
    """A feed-forward net regressor (identity output, squared error), scikit-learn style.

    Parameters as ``NeuralNetClassifier`` without ``output`` and ``class_weight``. y may be (N,) or
    (N, K); ``predict`` returns (N,) for one output. A ``model`` with one output per step, (N, T, 1)
    (a recurrent layer with ``return_sequences=True``, then ``Dense(1)``), takes y of shape (N, T). The loss is ½·mean squared error; no target
    scaling is done (standardise y, e.g. with ``TransformedTargetRegressor``, for large targets).

    Parameters
    ----------
    hidden_layers : tuple of int, default (25,)
        Units of each hidden layer (the course net: ``(25,)``); ``()`` gives linear regression.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default "sigmoid"
        The hidden layers' activation.
    model : None or callable, default None
        A function returning a ``tg.Graph`` ending in a loss (e.g. ``models.lenet.lenet_net``).
        Called at ``fit`` instead of building from ``hidden_layers``/``activation``/``init``/
        ``l2`` (the builder's own arguments decide those): with ``model_params`` as keyword arguments,
        plus whichever of ``n_features`` (2-D X), ``input_shape``, ``n_outputs`` and ``random_state``
        it takes. X may then be N-D, of the shape the model reads.
    model_params : None or dict, default None
        The builder's keyword arguments; ``set_params(model__hidden=50)`` sets one, and
        ``get_params()`` lists them as ``model__name`` (so grid searches reach them).
    l2 : float, default 1e-4
        The course's λ: adds l2/(2m)·ΣW² over weights (not biases); scikit-learn's ``alpha``.
    init : None, str or callable, default None
        A ``tinygraph.initializers`` name or callable; None picks "he" for relu, else "glorot".
    optimizer : str or tinygraph.optim.Optimizer, default "L-BFGS-B"
        A scipy method name ("L-BFGS-B", "CG", "TNC", ...) trains full batch; an optimizer object
        (e.g. ``tg.optim.Adam(1e-3)``) trains on minibatches, and is copied, never modified.
    batch_size : None or int, default None
        None: full batch for scipy methods, min(200, n_samples) for optimizer objects.
    max_iter : int, default 200
        Iterations of a scipy method, or epochs of a minibatch optimizer; for "TNC", which has no
        iteration limit, loss-and-gradient evaluations (scipy's ``maxfun``). ``fit`` warns with
        scikit-learn's ``ConvergenceWarning``, saying which of them ran out, when they run out
        before ``tol`` stops it.
    tol : float, default 1e-4
        Stop once the loss (validation loss with early stopping) has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; scipy methods also get ``tol``.
    early_stopping : bool, default False
        Hold out a fraction (``validation_fraction``); keep the best epoch's theta.
    validation_fraction : float, default 0.1
        The fraction held out with ``early_stopping``.
    n_iter_no_change : int, default 10
        Epochs without an improvement by ``tol`` before stopping.
    random_state : None or int, default None
        Seeds the initial weights, the shuffles and the validation split.
    warm_start : bool, default False
        Fit again from the fitted theta. ``l2`` (or ``model__l2``) and the training settings
        take effect on the next fit; the optimizer state continues (Adam's moments) unless
        ``optimizer`` was changed, which starts the new one afresh. Changing the net (``hidden_layers``,
        ``activation``, ``model`` or another ``model__`` argument) raises ``ValueError``:
        set ``warm_start=False`` to rebuild. The same holds for ``partial_fit``.
    verbose : int, default 0
        Printed progress, as ``tg.fit``.
    threads : None or int, default None
        BLAS threads while fitting (``tg.fit``'s ``threads``); None chooses them from the net,
        the batch and the machine (``tg.auto_threads``).
    n_jobs : None or int, default None
        The number of threads (-1: every core) that split each loss and gradient by
        rows (``tg.fit``'s ``n_jobs``): for full-batch methods on large data.

    Attributes
    ----------
    model_ : tinygraph.Graph
        The fitted net (renderable: ``model_.render("net.svg")``).
    coef_ : ndarray of shape (n_params,)
        Every parameter of the net in one flat vector: ``model_.theta`` itself.
    coefs_ : list of ndarray
        The weight matrix of each layer, input side first (``(n_in, n_out)`` for a Dense layer, as
        scikit-learn's ``MLPClassifier``); views into ``coef_``.
    intercepts_ : list of ndarray
        The bias vector of each layer of ``coefs_``; views into ``coef_``.
    loss_curve_ : list of float
        The training loss after each iteration (scipy) or epoch (minibatches).
    n_iter_ : int
        Iterations (scipy) or epochs (minibatches) run, over every ``fit`` and ``partial_fit``.
    n_outputs_ : int
        The number of targets.
    n_features_in_ : int
        The number of features seen by ``fit``.
    feature_names_in_ : ndarray of str
        The column names of X, when X was a DataFrame with string column names.
    optimizer_ : str or tinygraph.optim.Optimizer
        What trained the net: the scipy method, or a copy of the optimizer, whose state
        ``partial_fit`` and ``warm_start`` continue.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> y = 2 * X[:, 0] + 1
    >>> reg = tg.NeuralNetRegressor(hidden_layers=(), l2=0.0, max_iter=100, random_state=0).fit(X, y)
    >>> reg.predict([[0.5]]).round(3).tolist()
    [2.0]
    >>> round(reg.score(X, y), 6)
    1.0
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
        """Train on X (N, D) and real targets y (N,) or (N, K); returns self.

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).
        y : array-like (N,) or (N, K)
            Finite real targets.
        sample_weight : array-like (N,), optional
            Non-negative row weights.

        Returns
        -------
        NeuralNetRegressor
            self, fitted.
        """
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """One epoch on this chunk, continuing the optimizer's state.

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).
        y : array-like (N,) or (N, K)
            Finite real targets (as many outputs as the first call's).
        sample_weight : array-like (N,), optional
            Non-negative row weights.

        Returns
        -------
        NeuralNetRegressor
            self.
        """
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X) -> np.ndarray:
        """Predicted targets, (N,) for one output, else (N, K).

        Parameters
        ----------
        X : array-like (N, n_features), or (N, *input_shape) with ``model``
            The examples (a DataFrame records ``feature_names_in_``).

        Returns
        -------
        ndarray (N,) or (N, K)
            The net's outputs.
        """
        out = self._forward(X)
        return out[..., 0] if out.shape[-1] == 1 else out  # per-step outputs (N, T, 1): (N, T)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
