"""Loss curves in one call: ``tg.plot_history(result)`` (matplotlib, the ``plot`` extra).

Reads the ``history`` of a ``tg.fit`` result; imports nothing else of tinygraph.

matplotlib is imported when a curve is drawn, not with tinygraph: it stays optional.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_history"]

_AXES = ("epoch", "time", "step")


def _history(result) -> dict:
    """The history dict of a ``tg.fit`` result, a history dict itself, or a fitted estimator's curves."""
    if isinstance(result, dict) and "history" not in result:
        return result
    history = getattr(result, "history", None)
    if history is None and isinstance(result, dict):
        history = result["history"]
    if history is None and hasattr(result, "loss_curve_"):  # NeuralNetClassifier / Regressor
        history = {"epoch_loss": result.loss_curve_}
        if getattr(result, "validation_scores_", None) is not None:
            history["val_score"] = result.validation_scores_
    if not isinstance(history, dict):
        raise TypeError(f"plot_history: expects the result of tg.fit (or its .history, or a fitted "
                        f"estimator), got {type(result).__name__}")
    return history


def plot_history(result, *, x: str = "epoch", ax=None, logy: bool = False, title: str | None = None):
    """Plot the training loss (and the validation loss and score, if recorded) of a fit.

    Parameters
    ----------
    result : OptimizeResult, dict or estimator
        What ``tg.fit`` returned, its ``history`` dict, or a fitted ``NeuralNetClassifier`` /
        ``NeuralNetRegressor`` (``loss_curve_``, ``validation_scores_``).
    x : {"epoch", "time", "step"}, default "epoch"
        Against epochs (one point per epoch; an iteration of a full-batch scipy method is an
        epoch), seconds since the start, or optimizer steps (the loss of every minibatch).
    ax : matplotlib Axes, optional
        Where to draw; default: a new figure.
    logy : bool, default False
        A logarithmic loss axis.
    title : str, optional
        The axes' title.

    Returns
    -------
    matplotlib.axes.Axes
        The loss axes; the validation score, if any, is on a second y axis (``ax.right_ax``).

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install "tinygraph[plot]"``).
    ValueError
        An unknown ``x``, or an empty history.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X = np.random.default_rng(0).standard_normal((100, 4)); y = (X[:, 0] > 0).astype(int)
    >>> model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> result = tg.fit(model, X, y, "adam", batch_size=20, epochs=5, validation_data=(X, y))
    >>> ax = tg.plot_history(result)
    >>> [line.get_label() for line in ax.get_lines()]
    ['training loss', 'validation loss']
    """
    if x not in _AXES:
        raise ValueError(f"plot_history: x must be one of {_AXES}, got {x!r}")
    history = _history(result)
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('plot_history needs matplotlib: pip install "tinygraph[plot]" '
                          "(or pip install matplotlib)") from None
    per_step = x == "step"
    loss = np.asarray(history.get("loss" if per_step else "epoch_loss", []), dtype=float)
    if loss.size == 0:
        raise ValueError("plot_history: the history holds no loss (did training run?)")
    if x == "time":
        where = np.asarray(history.get("epoch_time", []), dtype=float)
        if where.size != loss.size:
            raise ValueError("plot_history: x='time' needs the epoch times of a tg.fit result")
    else:
        where = np.arange(1, loss.size + 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ax.plot(where, loss, label="training loss", color="C0")
    val_loss = np.asarray(history.get("val_loss", []), dtype=float)
    if not per_step and val_loss.size == loss.size:
        ax.plot(where, val_loss, label="validation loss", color="C1")
    ax.set_xlabel({"epoch": "epoch", "time": "time (s)", "step": "step"}[x])
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    val_score = np.asarray(history.get("val_score", []), dtype=float)
    ax.right_ax = None
    if not per_step and val_score.size == loss.size:
        right = ax.right_ax = ax.twinx()
        right.plot(where, val_score, label="validation score", color="C2", linestyle="--")
        right.set_ylabel("validation score")
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="best")
    if title is not None:
        ax.set_title(title)
    return ax
