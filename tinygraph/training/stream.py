"""Training on a stream of minibatches: ``fit(model, batches, optimizer, steps=...)``, Keras's
``fit(generator, steps_per_epoch=...)``.

``batches`` is an iterator (a generator) of ``(X, y)`` or ``(X, y, sample_weight)`` minibatches, or a
callable ``batches(step)`` returning one for the optimizer's global step number (0, 1, ...): a callable
that draws from a generator seeded by ``step`` gives a run resumed from a checkpoint the very batches
the uninterrupted run saw. A language model draws random windows of a long token array this way
instead of materialising every window.

An epoch is ``steps`` updates (Keras's ``steps_per_epoch``; None: until an iterator runs out); after
each, as in the array path, the monitor records the epoch loss (the row-weighted mean of its batch
losses), the validation loss and score, checks early stopping and calls the callbacks (so
``Checkpoint`` works). Schedules and ``clipnorm`` belong to the optimizer and act per step as always.
``validation_data`` is a tuple (X, y[, sample_weight]) or a list of them: a fixed set of batches
whose loss is the weighted mean of theirs (nanoGPT's estimate over 200 batches, fixed once).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np

from ..optim.first_order import NonFiniteError, Scipy
from ..parallel.rows import check_n_jobs
from ..parallel.threads import auto_threads, available, blas_threads
from .monitor import Monitor
from .scipy_bridge import batch_objective, diagnose

__all__ = ["check_validation", "fit_stream", "is_stream"]


def is_stream(X) -> bool:
    """True for what ``fit`` trains as a stream: an iterator or a callable (never an array)."""
    return isinstance(X, Iterator) or callable(X) and not hasattr(X, "__array__")


def _count(name, value, low, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"fit: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_validation(model, validation_data):
    """Checked validation data: a triple (X, y, sample_weight) from a tuple (X, y[, sample_weight]),
    or a list of such triples from a list of tuples (a fixed set of batches); None stays None."""
    def triple(v):
        return model._check_data(*(tuple(v) + (None,) * (3 - len(v))))

    if validation_data is None:
        return None
    if not isinstance(validation_data, list):
        return triple(validation_data)
    if not validation_data:
        raise ValueError("fit: validation_data is an empty list")
    return [triple(v) for v in validation_data]


def fit_stream(model, batches, opt, *, steps, epochs, maxiter, tol, validation_data, early_stopping,
               patience, callback, verbose, progress, initial_epoch, threads, n_jobs):
    """``fit`` on a stream (called by ``fit``, which documents the arguments)."""
    if not isinstance(batches, Iterator) and steps is None:
        raise ValueError("fit: a callable of batches needs steps= (the updates per epoch)")
    steps = _count("steps", steps, 1)
    initial_epoch = _count("initial_epoch", initial_epoch, 0, False)
    epochs = initial_epoch + 1 if epochs is None else _count("epochs", epochs, initial_epoch, False)
    maxiter = math.inf if maxiter is None else _count("maxiter", maxiter, 1)
    if int(patience) != patience or patience < 1:
        raise ValueError(f"fit: patience must be a positive integer, got {patience!r}")
    if tol is not None and not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"fit: tol must be a non-negative number, got {tol!r}")
    n_jobs = check_n_jobs(n_jobs, "fit")
    validation = check_validation(model, validation_data)

    def draw():
        batch = next(batches) if isinstance(batches, Iterator) else batches(opt.t)
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            raise TypeError(f"fit: each batch must be a tuple (X, y) or (X, y, sample_weight), got "
                            f"{type(batch).__name__}")
        return model._check_data(*batch) if len(batch) == 3 else model._check_data(*batch, None)

    total = min(maxiter, (epochs - initial_epoch) * (steps or math.inf))
    mon = Monitor(model, opt, callback=callback, validation=validation, early_stopping=early_stopping,
                  patience=patience, tol=tol, verbose=verbose, progress=progress,
                  total=None if math.isinf(total) else total)
    if total == 0:  # a resumed run that had already finished: no batch is drawn
        return mon.result(fun=math.nan, nit=0, nfev=0, n_examples_seen=0, success=True,
                          message="nothing to do: epochs == initial_epoch", epoch=initial_epoch)
    try:
        first = draw()
    except StopIteration:
        mon.close()
        raise ValueError("fit: the stream of batches is empty") from None
    if threads is None and available():
        threads = 1 if n_jobs > 1 else auto_threads(model, first[0].shape[0])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), blas_threads(threads), \
            model._exclusive("fit"):
        try:
            result = _loop(model, opt, mon, first, draw, steps, epochs, maxiter, initial_epoch, n_jobs)
        finally:
            mon.close()
    for node in model.nodes:
        node.check_graph_attributes("during training (in forward or backward?)")
    return result


def take_step(model, opt, X, y, sw, step: int, n_jobs: int) -> tuple:
    """One update of ``model.theta`` on the minibatch (X, y, sw): ``(loss, evaluations)``.

    A gradient step (``opt.step``), or k scipy iterations on the batch (``Scipy``); then the batch's
    statistics enter the running ones (stateful models), at the accepted point. Dropout draws the
    masks of step ``opt.t`` (the same ones within the step, so line searches see one objective).
    Shared by the array loop (``tinygraph.training.loop``) and the stream loop below.
    """
    if model._stochastic:
        model.noise_step = opt.t
    if isinstance(opt, Scipy):
        res = opt.minimize_batch(batch_objective(model, X, y, sw, step, n_jobs), model.theta)
        if model._stateful:  # the batch statistics at the accepted point, not at a rejected trial
            model._forward(X, model._train_plan, training=True)
            model.update_state()
        return float(res.fun), res.nfev
    loss, g = model.loss_and_grad(model.theta, X, y, sample_weight=sw, check_input=False, out=model.grad,
                                  n_jobs=n_jobs)
    if not math.isfinite(loss):
        raise diagnose(model, X, y, sw, step, "loss")
    try:
        opt.step(model.theta, g)
    except NonFiniteError:
        raise diagnose(model, X, y, sw, step, "update") from None
    if model._stateful:  # the step is taken: its batch's statistics enter the running ones
        model.update_state()
    return loss, 1


def _loop(model, opt, mon, batch, draw, steps, epochs, maxiter, initial_epoch, n_jobs):
    opt.freeze(model.trainable_mask)
    nfev = seen = 0
    loss, epoch, stop, interrupted = math.nan, initial_epoch, False, False
    message = "reached the number of epochs"
    try:
        while epoch < epochs and not stop:
            ran, complete = 0, True
            while steps is None or ran < steps:
                if batch is None:
                    try:
                        batch = draw()
                    except StopIteration:  # the data is done: its last epoch is the one that ran
                        stop, complete, message = True, ran > 0, "the stream of batches ended"
                        break
                X, y, sw = batch
                batch, ran, m = None, ran + 1, X.shape[0]
                if sw is not None and not sw.any():
                    continue  # nothing to learn, and a 0/0 loss
                loss, evals = take_step(model, opt, X, y, sw, mon.steps, n_jobs)
                nfev, seen = nfev + evals, seen + evals * m
                if mon.after_step(loss, m, epoch):
                    stop, complete = True, False
                    break
                if mon.steps >= maxiter:
                    stop, message = True, f"reached maxiter={maxiter} updates"
                    complete = ran == steps
                    break
            if complete:
                stop = mon.after_epoch(epoch) or stop
            message = mon.message or message
            epoch += 1
    except KeyboardInterrupt:
        interrupted = True
        mon.interrupted(epoch)
    mon.restore_best()
    return mon.result(fun=mon.last_epoch_loss(loss), nit=mon.steps, nfev=nfev, n_examples_seen=seen,
                      success=not interrupted, message=message, interrupted=interrupted, epoch=epoch)
