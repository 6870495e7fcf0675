"""Training: ``fit(model, X, y, optimizer)`` for models (``minimize`` for any objective: ``tinygraph.training.objective``).

The optimizer is a scipy method name (full batch, through ``scipy.optimize.minimize(jac=True)``;
see ``tinygraph.training.scipy_bridge``) or a ``tinygraph.optim.Optimizer`` (minibatches, this module's loop).
Both return a ``tinygraph.OptimizeResult`` and share the callbacks, validation history, early
stopping and interrupt handling of ``tinygraph.training.monitor.Monitor``.

The minibatch loop is the hot path: data is checked once per ``fit``; each step gathers its rows into
preallocated buffers, runs forward and backward once into a preallocated gradient, and updates
``model.theta`` in place. The loss of an epoch is the mean of its minibatch losses, weighted by
their rows (as scikit-learn's ``loss_curve_``): the full data is never re-evaluated just to report
it. The result's ``fun`` is that running mean over the final epoch (over the batches it ran, if
``maxiter`` or a callback ended it early), not the last batch's loss.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..inputs import empty_rows
from .monitor import Monitor, OptimizeResult
from ..optim.first_order import SGD, Adadelta, AdaGrad, Adam, AdamW, Optimizer, RMSProp, Rprop, Scipy
from ..parallel.rows import check_n_jobs, serial_blocks
from .scipy_bridge import SCIPY_METHODS, check_method, fit_scipy
from .stream import check_validation, fit_stream, is_stream, take_step
from ..parallel.threads import auto_row_blocks, auto_threads, available, blas_threads, busy_cores
from ..statistics import row_chunks
from ..validation import shuffle_seed

__all__ = ["OPTIMIZERS", "fit"]

# The built-in minibatch optimizers by the lower-case names Keras and PyTorch users type.
OPTIMIZERS = {"adadelta": Adadelta, "adagrad": AdaGrad, "adam": Adam, "adamw": AdamW, "rmsprop": RMSProp,
              "rprop": Rprop, "sgd": SGD}


def _batch_size(batch_size, n: int) -> int:
    if batch_size is None:
        return n
    if isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool) and batch_size >= 1:
        return min(int(batch_size), n)
    if isinstance(batch_size, numbers.Real) and 0 < batch_size <= 1 and not isinstance(batch_size, bool):
        return max(1, round(batch_size * n))
    raise ValueError(f"fit: batch_size must be a positive int or a fraction in (0, 1], got {batch_size!r}")


def _stream_optimizer(y, optimizer) -> Optimizer:
    """The optimizer of ``fit(model, batches, "adam", ...)`` (given where arrays put y) as an object."""
    if y is not None:
        if not isinstance(y, (str, Optimizer)):
            raise TypeError(f"fit: a stream of batches carries its own targets; the argument after it is "
                            f"the optimizer, got {type(y).__name__}")
        if optimizer != "L-BFGS-B":
            raise TypeError("fit: give the optimizer once (after the batches, or as optimizer=)")
        optimizer = y
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    if isinstance(optimizer, str):
        check_method(optimizer, "fit")
        return Scipy(optimizer)  # a stream has no full batch: scipy's method runs on each minibatch
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be a name or a tinygraph.optim.Optimizer, got {optimizer!r}")
    return optimizer


def fit(model, X, y=None, optimizer="L-BFGS-B", *, steps: int | None = None, batch_size=None,
        epochs: int | None = None, maxiter: int | None = None, tol: float | None = None, sample_weight=None,
        validation_data=None, early_stopping: bool = False, patience: int = 10, callback=None, random_state=None,
        verbose: int = 0, progress: bool = False, initial_epoch: int = 0,
        shuffle: bool = True, threads: int | None = None, n_jobs: int | None = None,
        **unknown) -> OptimizeResult:
    """Train ``model`` on (X, y) and write the final theta (the best, with early stopping) into it.

    Parameters
    ----------
    model : Graph
        A model ending in a loss node; its ``theta`` is trained in place.
    X : ndarray (N, *input_shape), a tuple/dict of arrays for several inputs, a dask array, or a stream
        The examples. A dask array trains on its cluster (``tinygraph.dask.fit``); validation_data,
        early_stopping, initial_epoch, verbose, progress and n_jobs are then not available.
        A stream is an iterator of minibatches ``(X, y)`` or ``(X, y, sample_weight)``, or a
        callable ``batches(step)`` giving the one for the optimizer's step number: the optimizer
        then follows it, ``fit(model, batches, "adam", steps=100)`` (``tinygraph.training.stream``).
    y : ndarray
        Targets, as the model's loss node checks them (none for a stream).
    optimizer : str or Optimizer, default "L-BFGS-B"
        A scipy method name ("L-BFGS-B", "CG", "BFGS", "TNC", "Newton-CG", "trust-ncg", ...) trains
        full batch; with ``batch_size`` it becomes ``optim.Scipy(method)`` on minibatches. A built-in
        optimizer by lower-case name (``OPTIMIZERS``: "sgd", "adam", "adamw", "rmsprop", "adagrad",
        "adadelta", "rprop", as Keras) is that class with its default settings, made afresh for this
        call. An ``Optimizer`` keeps its state between calls (warm start).
    steps : int, optional
        For a stream: the updates per epoch (Keras's ``steps_per_epoch``; ``epochs`` defaults to 1).
        None runs an iterator until it ends.
    batch_size : None, int, or float in (0, 1], default None
        None, an int, or a fraction of the rows in (0, 1]; the last batch of an epoch holds the
        remaining rows (with BatchNorm, a last batch of one row joins the one before: one row has
        no batch variance). None is the full batch, except for an optimizer given by name: min(200, N),
        scikit-learn's default.
    epochs : int, optional
        Passes over the data; training runs epochs ``initial_epoch .. epochs - 1`` (Keras).
    maxiter : int, optional
        The maximum number of updates (scipy: iterations; TNC has no iteration limit, so
        there it is passed as ``maxfun``, a limit on loss-and-gradient evaluations). With neither:
        200 iterations full batch (scikit-learn's max_iter), 10 epochs on minibatches.
    tol : float, optional
        Stop once the epoch loss (validation loss with ``early_stopping`` and validation data) has
        not improved by ``tol`` for ``patience`` epochs; scipy methods also get it as their ``tol``.
    sample_weight : ndarray (N,), optional
        Non-negative row weights; each batch's loss is its weighted mean.
    validation_data : tuple or list of tuples, optional
        (X, y) or (X, y, sample_weight); its loss and score (accuracy, or R²) are
        recorded after every epoch in ``result.history``. A list of such tuples is a fixed set of
        batches, evaluated one at a time and averaged by their examples.
    early_stopping : bool, default False
        Keep the theta of the best epoch; stop after ``patience`` epochs without progress.
    patience : int, default 10
        Epochs without progress (by ``tol``) before stopping.
    callback : callable or list of callables, optional
        ``callback(info) -> bool`` or a list of them: see ``TrainingInfo``; True stops training.
    random_state : None, int or Generator, optional
        Seeds the shuffles; epoch k's order depends only on (random_state, k), so a run
        resumed with ``initial_epoch=k`` and the optimizer state restored repeats the original.
        None (the default) takes the model's own ``random_state``: one seed makes one run.
    verbose : int, default 0
        1 prints a line per epoch, 2 also per step.
    progress : bool, default False
        A tqdm bar.
    initial_epoch : int, default 0
        The first epoch's number (to resume a run; see ``epochs`` and ``random_state``).
    shuffle : bool, default True
        False takes the rows in order (batches are then views: nothing is copied).
    threads : int, optional
        BLAS threads while training (``tinygraph.parallel.threads``); None picks them from the model's
        matrix products at this batch size and the cores (``tg.threads.auto_threads``).
    n_jobs : int, optional
        Split every loss and gradient into row blocks computed on this many threads at once
        (-1: every core; ``tinygraph.parallel.rows``), BLAS then held to one thread unless ``threads``
        says otherwise: for full-batch methods and large batches. None (with ``threads`` None) picks
        every core for batches of narrow products that BLAS cannot split (``tg.threads.auto_row_blocks``:
        at least 512 rows per core, no BatchNorm), else 1. The blocks never depend on the load (they
        change the rounding of the sums): on a busy machine the same blocks run one after another.

    Returns
    -------
    OptimizeResult
        ``x`` (the final theta, also in ``model.theta``), ``fun``, ``nit``, ``success``, ``message``
        and ``history`` (per step: ``loss``, ``time``; per epoch: ``epoch_loss``, ``epoch_time``,
        and ``val_loss``, ``val_score`` with ``validation_data``).

    Raises
    ------
    NonFiniteError
        A loss, gradient or update is NaN or infinite; ``model.theta`` keeps the last finite theta.
    ValueError
        A setting out of range (batch_size, patience, tol, an unknown optimizer name, ...).
    TypeError
        ``optimizer`` is neither a scipy method name nor an ``Optimizer``.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> model = tg.Sequential([tg.Dense(2, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> result = tg.fit(model, X, y, "L-BFGS-B", maxiter=50)
    >>> model.score(X, y)
    1.0
    >>> result = tg.fit(model, X, y, "adam", batch_size=2, epochs=3, random_state=0)
    >>> result.nit, len(result.history["epoch_loss"])  # 2 updates an epoch, 3 epochs
    (6, 3)
    """
    if unknown:  # a pointer, not a bare TypeError: lr= and clipnorm= belong to the optimizer object
        import inspect

        from .hints import unknown_keywords
        raise TypeError(unknown_keywords("fit", unknown, list(inspect.signature(fit).parameters)[3:-1]))
    if is_stream(X):
        if sample_weight is not None or batch_size is not None:
            raise ValueError("fit: a stream's batches carry their own sizes and sample weights; "
                             "batch_size= and sample_weight= are for arrays")
        optimizer = _stream_optimizer(y, optimizer)
        if hasattr(optimizer, "attach"):
            optimizer.attach(model)
        return fit_stream(model, X, optimizer, steps=steps, epochs=epochs,
                          maxiter=maxiter, tol=tol, validation_data=validation_data,
                          early_stopping=early_stopping, patience=patience, callback=callback,
                          verbose=verbose, progress=progress, initial_epoch=initial_epoch, threads=threads,
                          n_jobs=n_jobs)
    if y is None or steps is not None:
        raise ValueError("fit: y is required for arrays" if y is None else
                         "fit: steps= is for a stream of batches; arrays take batch_size and epochs")
    if random_state is None:  # one seed makes one run: the model's seed also orders the batches
        random_state = model.random_state
    if hasattr(X, "__dask_graph__"):  # rows on a Dask cluster: the same objective, summed over partitions
        if validation_data is not None or early_stopping or initial_epoch or verbose or progress or \
                check_n_jobs(n_jobs, "fit") > 1:
            raise ValueError("fit: validation_data, early_stopping, initial_epoch, verbose, progress and "
                             "n_jobs are not available for dask arrays (see tinygraph.dask.fit; the "
                             "cluster's workers split the rows)")
        from ..parallel import dask as tg_dask
        return tg_dask.fit(model, X, y, optimizer, sample_weight=sample_weight, batch_size=batch_size,
                           epochs=epochs, maxiter=maxiter, tol=tol, callback=callback,
                           random_state=random_state)
    if isinstance(X, (tuple, list, dict)) and any(hasattr(a, "__dask_graph__") for a in
                                                  (X.values() if isinstance(X, dict) else X)):
        raise ValueError("fit: dask arrays for a graph with several inputs are not supported; "
                         "compute them into numpy arrays, or join the inputs into one X and split it "
                         "in the graph with tg.Slice")
    X, y, sw = model._check_data(X, y, sample_weight)
    requested_jobs, n_jobs = n_jobs, check_n_jobs(n_jobs, "fit")
    coupled = next((node for node in model.nodes if node.couples_rows), None)
    if n_jobs > 1 and coupled is not None:
        raise ValueError(f"fit: n_jobs={n_jobs} splits the rows into blocks, but {coupled.name} normalises over "
                         "the whole batch; use n_jobs=1 (BLAS threads still use every core)")
    validation = check_validation(model, validation_data)
    if int(patience) != patience or patience < 1:
        raise ValueError(f"fit: patience must be a positive integer, got {patience!r}")
    if tol is not None and not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"fit: tol must be a non-negative number, got {tol!r}")
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        optimizer = OPTIMIZERS[optimizer.lower()]()
        batch_size = min(200, X.shape[0]) if batch_size is None else batch_size
    elif isinstance(optimizer, str):
        try:
            check_method(optimizer, "fit")
        except ValueError:
            raise ValueError(f"fit: unknown optimizer {optimizer!r}; use a built-in one by name "
                             f"({', '.join(OPTIMIZERS)}), a scipy method ({', '.join(SCIPY_METHODS)}) "
                             "or a tinygraph.optim.Optimizer") from None
        if batch_size is not None:
            optimizer = Scipy(optimizer)
    if not isinstance(optimizer, (str, Optimizer)):
        raise TypeError(f"fit: optimizer must be a scipy method name or a tinygraph.optim.Optimizer, "
                        f"got {optimizer!r}")
    if hasattr(optimizer, "attach"):  # an optimizer that reads the model's own passes (K-FAC)
        optimizer.attach(model)
    # epochs == initial_epoch: a resumed run that had already finished returns at once
    for name, value, low in (("initial_epoch", initial_epoch, 0), ("maxiter", maxiter, 1),
                             ("epochs", epochs, initial_epoch)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not math.isfinite(value) or int(value) != value or value < low):
            raise ValueError(f"fit: {name} must be an integer >= {low}, got {value!r}")
    n = X.shape[0]
    bs = _batch_size(batch_size, n)
    serial = False
    if threads is None and available():  # the row blocks use the cores; BLAS threads would only compete
        if n_jobs == 1 and requested_jobs is None:  # large batches of narrow products: rows on the cores
            # Blocks change the rounding of the sums, so they follow the model, the batch and the
            # cores, never the load; a busy machine runs the same blocks one after another.
            n_jobs = auto_row_blocks(model, bs, busy=0.0)
            serial = n_jobs > 1 and busy_cores() >= 0.5
        threads = 1 if n_jobs > 1 else auto_threads(model, bs)
    if isinstance(optimizer, str) and model._stochastic:
        warnings.warn(f"fit: {optimizer} runs full batch with one dropout mask for the whole fit (its line "
                      "searches need one fixed objective; a mask redrawn every iteration stops them within a "
                      "few iterations); for dropout that changes every step use a minibatch optimizer "
                      "(\"adam\", or batch_size=...)", UserWarning, stacklevel=2)
    per_epoch = len(_batches(n, bs, coupled is not None))
    if isinstance(optimizer, str) or bs == n and epochs is None:
        steps = maxiter if maxiter is not None else 200
        epochs = initial_epoch + math.ceil(steps / per_epoch) if epochs is None else epochs
    else:
        steps = maxiter if maxiter is not None else math.inf
        epochs = (initial_epoch + 10 if maxiter is None else math.inf) if epochs is None else epochs
    total = min(steps, (epochs - initial_epoch) * per_epoch)
    # info.optimizer is None for scipy's methods: they keep no state between calls (checkpoints rely on it)
    mon = Monitor(model, None if isinstance(optimizer, str) else optimizer, callback=callback,
                  validation=validation, early_stopping=early_stopping, patience=patience, tol=tol,
                  verbose=verbose, progress=progress, total=None if math.isinf(total) else total)
    # Non-finite values are detected and reported by name below; numpy's own warnings would only
    # duplicate them (and turn into errors under pytest's warnings-as-errors).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), blas_threads(threads), \
            serial_blocks(serial), model._exclusive("fit"):
        try:
            if total == 0:
                return mon.result(fun=math.nan, nit=0, nfev=0, n_examples_seen=0, success=True,
                                  message="nothing to do: epochs == initial_epoch", epoch=initial_epoch)
            if isinstance(optimizer, str):
                result = fit_scipy(model, X, y, sw, optimizer, mon, maxiter=int(total), tol=tol,
                                   initial_epoch=initial_epoch, n_jobs=n_jobs)
                model.recompute_state(X)  # full batch: the population statistics at the final theta
            else:
                result = _fit_minibatch(model, X, y, sw, optimizer, mon, bs, epochs, steps, initial_epoch,
                                        shuffle_seed(random_state) if shuffle and bs < n else None, n_jobs)
        finally:
            mon.close()
    for node in model.nodes:  # once per fit: a node that moved its own slice of theta is named
        node.check_graph_attributes("during training (in forward or backward?)")
    return result


def _batches(n: int, bs: int, coupled: bool) -> list:
    """``[(start, stop)]`` of the batches of an epoch. With a node that normalises over the batch, a last
    batch of one row joins the one before (its batch statistics would have no variance)."""
    return row_chunks(n, bs) if coupled else [(start, min(start + bs, n)) for start in range(0, n, bs)]


def _fit_minibatch(model, X, y, sw, opt, mon, bs, epochs, maxiter, initial_epoch, seed, n_jobs=1):
    n = X.shape[0]
    opt.freeze(model.trainable_mask)
    batches = _batches(n, bs, any(node.couples_rows for node in model.nodes))
    if seed is not None:
        width = max(stop - start for start, stop in batches)
        order, perm = np.arange(n), np.empty(n, dtype=np.intp)
        Xbuf = empty_rows(X, width)  # one buffer per input for several
        ybuf = np.empty((width,) + y.shape[1:], y.dtype)
        swbuf = None if sw is None else np.empty((width,) + sw.shape[1:], sw.dtype)  # (N,) or (N, T)
    nfev = seen = 0
    loss, epoch, stop, interrupted = math.nan, initial_epoch, False, False
    message = "reached the number of epochs"
    try:
        while epoch < epochs and not stop:
            if seed is not None:
                np.copyto(perm, order)
                np.random.default_rng([seed, epoch]).shuffle(perm)
            complete = True
            for start, end in batches:
                m = end - start
                if seed is None:  # no shuffle: contiguous slices are views, nothing is copied
                    Xb, yb = X[start:start + m], y[start:start + m]
                    swb = None if sw is None else sw[start:start + m]
                else:
                    # mode="clip": with the default mode="raise" numpy buffers ``out`` (3x slower);
                    # the indices come from a permutation, so they are valid anyway
                    idx = perm[start:start + m]
                    Xb = X.take(idx, axis=0, out=Xbuf[:m], mode="clip")
                    yb = y.take(idx, axis=0, out=ybuf[:m], mode="clip")
                    swb = None if sw is None else sw.take(idx, axis=0, out=swbuf[:m], mode="clip")
                if swb is not None and not swb.any():
                    continue  # every row of this batch has weight 0: nothing to learn, and 0/0 loss
                loss, evals = take_step(model, opt, Xb, yb, swb, mon.steps, n_jobs)
                nfev, seen = nfev + evals, seen + evals * m
                if mon.after_step(loss, m, epoch):
                    stop, complete = True, False
                    break
                if mon.steps >= maxiter:
                    stop, message = True, f"reached maxiter={maxiter} updates"
                    if end < n:
                        complete = False
                        break
            if complete:
                stop = mon.after_epoch(epoch) or stop
            message = mon.message or message
            epoch += 1
    except KeyboardInterrupt:
        interrupted = True
        mon.interrupted(epoch)
    mon.restore_best()
    fun = mon.last_epoch_loss(loss)  # the final epoch's running mean, not its last batch
    return mon.result(fun=fun, nit=mon.steps, nfev=nfev, n_examples_seen=seen, success=not interrupted,
                      message=message, interrupted=interrupted, epoch=epoch)
