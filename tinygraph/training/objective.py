"""``minimize(fun, x0)``: minimise any objective ``fun(x) -> (loss, grad)``, not only a model's.

``method`` is a scipy method name (``tinygraph.training.scipy_bridge``) or a ``tinygraph.optim.Optimizer``
taking full-batch steps. ``tinygraph.training.loop.fit`` and ``tinygraph.parallel.dask.fit`` both build on it.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .monitor import OptimizeResult, TrainingInfo
from ..optim.first_order import Optimizer, Scipy
from .scipy_bridge import minimize_scipy

__all__ = ["minimize"]


def minimize(fun, x0, args=(), method="L-BFGS-B", *, hessp=None, bounds=None, callback=None,
             maxiter: int | None = None, tol: float | None = None, options: dict | None = None
             ) -> OptimizeResult:
    """Minimise ``fun(x, *args) -> (loss, grad)`` from ``x0``, like ``scipy.optimize.minimize(jac=True)``.

    ``method`` is a scipy method name or a ``tinygraph.optim.Optimizer`` taking full-batch steps
    (maxiter defaults to 1000; ``tol`` stops once max|grad| <= tol). An ``optim.Scipy``-like optimizer
    (``HessianFree``...) makes one ``minimize_batch`` call per step, with ``hessp`` if given.
    ``callback(info) -> bool`` as in ``fit`` (event 'step', ``info.theta`` the current x); True stops.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> (loss, grad)``, grad an array shaped like x.
    x0 : array_like, shape (n,)
        The starting point (copied).
    args : tuple, default ()
        Extra arguments of ``fun``.
    method : str or Optimizer, default "L-BFGS-B"
        A scipy method name or a ``tinygraph.optim`` optimizer.
    hessp : callable, optional
        ``hessp(x, v, *args)``, a Hessian (or Gauss-Newton) product for the methods that use one.
    bounds : sequence, optional
        Bounds for the scipy methods that take them.
    callback : callable, optional
        ``callback(info) -> bool``; True stops.
    maxiter : int, optional
        Iterations (scipy's default for a scipy method; 1000 for an optimizer).
    tol : float, optional
        Stop once max|grad| <= tol.
    options : dict, optional
        More scipy options.

    Returns
    -------
    OptimizeResult
        scipy's fields (``x``, ``fun``, ``nit``, ``nfev``, ``success``, ``message``) plus
        ``wall_time``, ``n_grad_evals``, ``interrupted`` and ``history``.

    Raises
    ------
    TypeError
        ``method`` is neither a string nor an Optimizer.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> def fun(x):                       # a quadratic bowl around (1, 2)
    ...     d = x - np.array([1.0, 2.0])
    ...     return float(d @ d), 2 * d
    >>> tg.minimize(fun, np.zeros(2), method="L-BFGS-B").x.round(6)
    array([1., 2.])
    >>> tg.minimize(fun, np.zeros(2), method=tg.optim.Adam(0.1), maxiter=500).x.round(2)
    array([1., 2.])
    """
    if isinstance(method, str):
        return minimize_scipy(fun, x0, args, method, hessp=hessp, bounds=bounds, callback=callback,
                              maxiter=maxiter, tol=tol, options=options)
    if not isinstance(method, Optimizer):
        raise TypeError(f"minimize: method must be a scipy method name or an Optimizer, got {method!r}")
    x = np.array(x0, dtype=np.result_type(np.asarray(x0).dtype, np.float32), copy=True).ravel()
    maxiter = 1000 if maxiter is None else int(maxiter)
    t0, history = time.perf_counter(), {"loss": [], "time": []}
    message, success, interrupted, loss, nfev = f"reached maxiter={maxiter}", False, False, math.nan, 0
    batch_kw = {} if hessp is None else {"hessp": lambda z, v: hessp(z, v, *args)}
    batched = isinstance(method, Scipy)
    try:
        for nit in range(1, maxiter + 1):
            if batched:
                res = method.minimize_batch(lambda z: fun(z, *args), x, **batch_kw)
                loss, nfev, g = float(res.fun), nfev + int(res.get("nfev", 1)), res.get("jac")
            else:
                loss, g = fun(x, *args)
                nfev += 1
                g = np.array(g, dtype=x.dtype)
            if tol is not None and g is not None and np.abs(g).max() <= tol:
                message, success = f"max|grad| <= tol={tol}", True
                break
            if not batched:
                method.step(x, g)
            history["loss"].append(float(loss))
            history["time"].append(time.perf_counter() - t0)
            if callback is not None and callback(TrainingInfo(event="step", theta=x, loss=loss, step=nit,
                                                              optimizer=method)):
                message = "stopped by the callback"
                break
    except KeyboardInterrupt:
        message, interrupted = "interrupted (KeyboardInterrupt)", True
    return OptimizeResult(x=x, fun=float(loss), nit=len(history["loss"]), nfev=nfev, njev=nfev,
                          n_grad_evals=nfev, success=success, message=message, interrupted=interrupted,
                          wall_time=time.perf_counter() - t0,
                          history={k: np.asarray(v) for k, v in history.items()})
