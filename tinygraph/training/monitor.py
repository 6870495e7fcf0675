"""Bookkeeping shared by every training loop: history, callbacks, validation, stopping, progress.

``fit`` calls ``Monitor.after_step(loss, m, epoch)`` after each update (m examples used) and
``Monitor.after_epoch(epoch)`` after each pass over the data (scipy's full-batch methods: after each
iteration); both return True to stop. The monitor owns the result's ``history``, keeps a copy of the
best theta for early stopping, and builds the ``OptimizeResult``.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.optimize

from ..nodes import CrossEntropy
from ..validation import n_examples

__all__ = ["Monitor", "OptimizeResult", "TrainingInfo"]


class OptimizeResult(scipy.optimize.OptimizeResult):
    """The outcome of ``tg.fit`` or ``tg.minimize``: scipy's result plus training records.

    x, fun, success, status, message, nit (updates or scipy iterations), nfev, njev (evaluations of
    loss and gradient together), n_grad_evals, n_examples_seen, n_epochs, wall_time (s),
    interrupted (KeyboardInterrupt), best_epoch (early stopping), and ``history``: a dict of arrays,
    ``loss`` and ``time`` per step, ``epoch_loss`` and ``epoch_time`` per epoch, plus ``val_loss``
    and ``val_score`` (accuracy, or R² for regression) per epoch when validation data is given.

    Attributes
    ----------
    x : numpy.ndarray
        The final theta (the best one with early stopping), also written into the model.
    fun : float
        The loss at the end.
    success : bool
        False when training was interrupted, diverged (a loss 1000 times its first) or the scipy
        method failed; ``status`` is 0 on success, else 1.
    message : str
        Why training stopped.
    nit, nfev, njev, n_grad_evals, n_examples_seen, n_epochs : int
        Counts, as above.
    wall_time : float
        Seconds from start to end.
    interrupted : bool
        True when training ended on KeyboardInterrupt.
    history : dict of str to numpy.ndarray
        Per-step and per-epoch records, as above.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> result = tg.fit(model, X, y, tg.optim.Adam(lr=0.01), epochs=2, batch_size=4, random_state=0)
    >>> result.n_epochs, result.nit, result.n_examples_seen
    (2, 4, 16)
    >>> result.history["loss"].shape, result.history["epoch_loss"].shape
    ((4,), (2,))
    >>> bool(np.array_equal(result.x, model.theta))
    True
    """


class TrainingInfo:
    """What a callback receives: event ('step', 'epoch', 'interrupt', 'end'), epoch, step, loss,
    theta (the model's own array: copy to keep), model, optimizer, history (lists so far),
    val_loss and val_score (after an epoch with validation data, else None).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> events = []
    >>> _ = tg.fit(model, X, y, tg.optim.Adam(lr=0.01), epochs=2, batch_size=4, random_state=0,
    ...            callback=lambda info: events.append((info.event, info.epoch)))
    >>> [e for e in events if e[0] != "step"]      # 'end' gives the next epoch
    [('epoch', 0), ('epoch', 1), ('end', 2)]
    """

    __slots__ = (
        "epoch",
        "event",
        "history",
        "loss",
        "model",
        "optimizer",
        "step",
        "theta",
        "val_loss",
        "val_score",
    )

    def __init__(self, **kwargs):
        for k in self.__slots__:
            setattr(self, k, kwargs.get(k))

    def __repr__(self) -> str:
        return (f"TrainingInfo(event={self.event!r}, epoch={self.epoch}, step={self.step}, "
                f"loss={self.loss!r}, val_loss={self.val_loss!r})")


def evaluate(model, X, y, sample_weight=None) -> tuple:
    """(loss, score) of checked data in one evaluation-mode forward pass: accuracy for cross-entropy
    (per position over the weighted ones for per-step targets), else R²."""
    vals = model._forward(X, model._train_plan, training=False)
    z = vals[model._loss_index]
    loss = model.loss.forward(z, y, sample_weight)
    loss += model.penalty(n_examples(X.shape[0], sample_weight))
    # the fused loss computed the probabilities; any other loss reads the output itself
    return loss, model._score(model.loss.p if isinstance(model.loss, CrossEntropy) else z, y, sample_weight)


def evaluate_batches(model, batches: list) -> tuple:
    """(loss, score) over a fixed list of checked (X, y, sample_weight) batches: each batch's data
    loss and score weighted by its positions (or weights), plus the l2 term of all the examples."""
    losses, scores, weights, examples = [], [], [], 0.0
    for X, y, sw in batches:
        vals = model._forward(X, model._train_plan, training=False)
        z = vals[model._loss_index]
        losses.append(model.loss.forward(z, y, sw))
        scores.append(model._score(model.loss.p if isinstance(model.loss, CrossEntropy) else z, y, sw))
        weights.append(n_examples(X.shape[0], sw))
        examples += weights[-1]
    w = np.asarray(weights) / examples
    return float(np.dot(w, losses)) + model.penalty(examples), float(np.dot(w, scores))


class Monitor:
    """Records, reports and decides when to stop; see the module docstring."""

    def __init__(self, model, optimizer=None, *, callback=None, validation=None, early_stopping=False,
                 patience=10, tol=None, verbose=0, progress=False, total=None):
        self.model, self.validation = model, validation
        self.callbacks = [] if callback is None else list(callback) if isinstance(callback, (list, tuple)) \
            else [callback]
        self.early_stopping, self.patience, self.tol, self.verbose = early_stopping, patience, tol, verbose
        self.history = {"loss": [], "time": [], "epoch_loss": [], "epoch_time": []}
        if validation is not None:
            self.history.update(val_loss=[], val_score=[])
        self.info = TrainingInfo(theta=model.theta, model=model, optimizer=optimizer, history=self.history)
        self.steps = self.epochs = 0
        self.best, self.best_epoch, self.bad_epochs, self.best_theta = math.inf, None, 0, None
        self._sum = self._seen = 0.0
        self.message = None
        self.bar = None
        if progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                raise ImportError("progress=True needs tqdm: pip install 'tinygraph[progress]'") from None
            self.bar = tqdm(total=total, unit="step", leave=False)
        self.t0 = time.perf_counter()

    def _call(self, event: str, **fields) -> bool:
        if not self.callbacks:
            return False
        info = self.info
        info.event = event
        for k, v in fields.items():
            setattr(info, k, v)
        stops = [bool(cb(info)) for cb in self.callbacks]  # every callback runs, even after a stop
        return any(stops)

    def after_step(self, loss: float, m: int, epoch: int) -> bool:
        self.steps += 1
        self.history["loss"].append(loss)
        self.history["time"].append(time.perf_counter() - self.t0)
        self._sum += loss * m
        self._seen += m
        if self.bar is not None:
            self.bar.update(1)
        if self.verbose >= 2:
            print(f"step {self.steps}, loss = {loss:.6g}")
        if self._call("step", epoch=epoch, step=self.steps, loss=loss, val_loss=None, val_score=None):
            self.message = "stopped by the callback"
            return True
        return False

    def last_epoch_loss(self, default: float) -> float:
        """The row-weighted mean loss of the last epoch: of the batches run so far when it ended early,
        else the last completed one's (``default`` when no batch ran)."""
        if self._seen:
            return self._sum / self._seen
        return self.history["epoch_loss"][-1] if self.history["epoch_loss"] else default

    def after_epoch(self, epoch: int, loss: float | None = None) -> bool:
        """End of an epoch; ``loss`` defaults to the mean of this epoch's minibatch losses."""
        if loss is None:
            loss = self._sum / self._seen if self._seen else math.nan
        self._sum = self._seen = 0.0
        self.epochs += 1
        h = self.history
        h["epoch_loss"].append(loss)
        h["epoch_time"].append(time.perf_counter() - self.t0)
        val_loss = val_score = None
        if self.validation is not None:
            val_loss, val_score = (evaluate_batches(self.model, self.validation)
                                   if isinstance(self.validation, list) else evaluate(self.model, *self.validation))
            h["val_loss"].append(val_loss)
            h["val_score"].append(val_score)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if self.verbose >= 1:
            extra = "" if val_loss is None else f", val_loss = {val_loss:.6g}, val_score = {val_score:.4f}"
            print(f"epoch {epoch + 1}, loss = {loss:.6g}{extra}")
        stop = self._check_stop(epoch, val_loss if self.early_stopping and val_loss is not None else loss)
        if self._call("epoch", epoch=epoch, step=self.steps, loss=loss, val_loss=val_loss,
                      val_score=val_score):
            self.message, stop = "stopped by the callback", True
        return stop

    def _check_stop(self, epoch: int, metric: float) -> bool:
        """scikit-learn's rule: stop after ``patience`` epochs without improving by ``tol``."""
        if not (self.early_stopping or self.tol is not None):
            return False
        if metric < self.best - (self.tol or 0.0):
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if metric < self.best:
            self.best, self.best_epoch, self.best_index = metric, epoch, self.epochs - 1
            if self.early_stopping:
                if self.best_theta is None:
                    self.best_theta = np.empty_like(self.model.theta)
                    self.best_state = np.empty_like(self.model.state)
                np.copyto(self.best_theta, self.model.theta)
                np.copyto(self.best_state, self.model.state)  # running statistics go with their theta
        if self.bad_epochs >= self.patience:
            what = "validation loss" if self.early_stopping and self.validation is not None else "training loss"
            self.message = (f"{what} did not improve by more than tol={self.tol or 0.0} "
                            f"for {self.patience} epochs")
            return True
        return False

    def interrupted(self, epoch) -> None:
        self.message = "interrupted (KeyboardInterrupt)"
        self._call("interrupt", epoch=epoch, step=self.steps)

    def restore_best(self) -> None:
        if self.early_stopping and self.best_theta is not None:
            np.copyto(self.model.theta, self.best_theta)
            np.copyto(self.model.state, self.best_state)
            self.model._stamp_state()

    def diverged(self) -> str | None:
        """A message when the run ended with a loss 1000 times (or more) its first step's, else None.

        Such a run may end with a finite theta and no error (a too large learning rate on unscaled
        data), so it must not be reported as a success. With early stopping the best epoch's theta
        is kept, so the end counts only when it is the best one.
        """
        h = self.history
        if not h["loss"] or self.early_stopping and self.best_theta is not None:
            return None
        first, last = h["loss"][0], (h["epoch_loss"] or h["loss"])[-1]
        if math.isfinite(first) and first >= 0 and last > 1e3 * first:
            return (f"diverged: the loss grew from {first:.4g} at the first step to {last:.4g} at the end; "
                    "lower the learning rate or scale the data")
        return None

    def close(self) -> None:
        """Close the progress bar (also when training ends in an exception)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def result(self, *, fun, nit, nfev, n_examples_seen, success, message, interrupted=False,
               epoch=None) -> OptimizeResult:
        self.close()
        if self.early_stopping and self.best_theta is not None:
            fun = self.history["epoch_loss"][self.best_index]  # the loss at the restored theta
        self._call("end", epoch=epoch, step=self.steps, loss=fun)
        diverged = self.diverged()
        if diverged:
            success, self.message = False, diverged
            warnings.warn(f"training {diverged}", RuntimeWarning, stacklevel=4)
        res = OptimizeResult(
            x=self.model.theta.copy(), fun=fun, nit=nit, nfev=nfev, njev=nfev, n_grad_evals=nfev,
            n_examples_seen=int(n_examples_seen), n_epochs=self.epochs,
            wall_time=time.perf_counter() - self.t0, success=bool(success), status=0 if success else 1,
            message=self.message or message, interrupted=interrupted, best_epoch=self.best_epoch,
            history={k: np.asarray(v, dtype=float) for k, v in self.history.items()})
        return res
