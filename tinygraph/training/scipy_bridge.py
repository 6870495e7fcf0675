"""The bridge to ``scipy.optimize.minimize(jac=True)``: full-batch training with scipy's methods.

One evaluation runs the model forward and backward once and hands scipy a *fresh* float64 gradient
(scipy's BFGS and CG misbehave when given a buffer that a later call overwrites). A float32 model is
cast at this boundary; its theta stays float32. Each scipy iteration is one step and one epoch of the
``Monitor``: callbacks, validation history and early stopping work as for minibatches, stopping
scipy by raising ``StopIteration`` from its ``callback(intermediate_result)`` (scipy >= 1.11). TNC
only offers ``callback(xk)``; it is stopped by an exception of our own.
Newton-CG and the trust-region methods get ``hessp`` from the model's Gauss-Newton product.
A model with running statistics (BatchNorm) gets the population statistics of X at every accepted
iterate (one more training-mode forward per iteration), so whatever a callback, the validation or
a checkpoint evaluates there uses the statistics of that theta.
Frozen nodes: L-BFGS-B gets bounds lb = ub on their slices; other methods see a zero gradient there.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.optimize

from .monitor import OptimizeResult, TrainingInfo, evaluate
from ..optim.first_order import frozen_bounds
from ..optim.optimizer import NonFiniteError
from ..validation import all_finite, user_stacklevel

__all__ = ["batch_objective", "diagnose", "fit_scipy", "minimize_scipy"]

_HESSP_METHODS = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}


class _Stop(Exception):
    """Stops scipy from inside (TNC's ``callback(xk)``, a NaN proposal); caught around the call."""


def diagnose(model, X, y, sample_weight, step: int, what: str) -> NonFiniteError:
    """The error for a non-finite ``what`` at ``step``, naming the first node that went non-finite.

    Runs forward again at the current theta and checks each node's output in topological order, then
    the loss, then, during a backward pass, each node's parameter and input gradients in backward order.
    """
    where = "every node's output and gradient is finite at this theta (the update itself overflowed)"
    first = []

    def inspect(node, dx):
        dxs = () if dx is None else (dx,) if len(node.inputs) == 1 else dx
        params_ok = not node.size or np.isfinite(model.grad[node.theta_slice]).all()
        if not first and not (params_ok and all(np.isfinite(d).all() for d in dxs)):
            first.append(node)

    with np.errstate(all="ignore"):
        vals = model._forward(X, model._train_plan)
        bad = next((node for i, node, _ in model._train_plan if not np.isfinite(vals[i]).all()), None)
        if bad is not None:
            where = f"the output of node {bad.name!r} ({type(bad).__name__}) is the first non-finite value"
        elif not math.isfinite(model._forward_backward(X, y, sample_weight, inspect)):
            where = f"the loss node {model.loss.name!r} returned a non-finite value"
        elif first:
            bad = first[0]
            where = f"the gradient of node {bad.name!r} ({type(bad).__name__}) is the first non-finite one"
    return NonFiniteError(f"non-finite {what} at step {step}: {where}")


# The methods of scipy.optimize.minimize that use the gradient (and, for some, hessp) we pass.
SCIPY_METHODS = ("CG", "BFGS", "L-BFGS-B", "TNC", "SLSQP", "Newton-CG", "trust-ncg", "trust-krylov",
                 "trust-constr")


def batch_objective(model, Xb, yb, swb, step, n_jobs=1):
    """fun(x) -> (loss, float64 grad) on one batch, for scipy; a fresh gradient array every call."""
    theta = model.theta

    def fun(x):
        np.copyto(theta, x)
        loss, g = model.loss_and_grad(theta, Xb, yb, sample_weight=swb, check_input=False, n_jobs=n_jobs)
        if not (math.isfinite(loss) and all_finite(g)):
            raise diagnose(model, Xb, yb, swb, step, "loss or gradient")
        return loss, np.asarray(g, dtype=np.float64)  # g is already a fresh array: cast, never copy twice
    return fun


def check_method(method: str, who: str) -> str:
    """``method`` if scipy has it as a gradient-based method, else a ValueError listing them."""
    if method.lower() not in {m.lower() for m in SCIPY_METHODS}:
        raise ValueError(f"{who}: unknown scipy method {method!r}; use one of {', '.join(SCIPY_METHODS)} "
                         "or a tinygraph.optim.Optimizer")
    return method


def _options(method: str, maxiter, options) -> dict:
    opts = dict(options or {})
    if maxiter is not None:
        opts["maxfun" if method.lower() == "tnc" else "maxiter"] = int(maxiter)
    return opts


def _scipy_callback(method: str, on_iterate):
    """A scipy callback calling ``on_iterate(x, fun_or_None)``; stops scipy when it returns True."""
    if method.lower() == "tnc":
        def callback(xk):
            if on_iterate(xk, None):
                raise _Stop
        return callback

    def callback(intermediate_result):
        if on_iterate(intermediate_result.x, getattr(intermediate_result, "fun", None)):
            raise StopIteration
    return callback


def fit_scipy(model, X, y, sw, method: str, mon, *, maxiter: int, tol, initial_epoch: int = 0,
              n_jobs: int = 1):
    """Full-batch training of ``model`` with ``scipy.optimize.minimize(method)``; see ``tg.fit``."""
    theta, n = model.theta, X.shape[0]
    frozen = np.flatnonzero(~model.trainable_mask)
    frozen = frozen if frozen.size else None
    x0 = theta.astype(np.float64)
    accepted = x0.copy()  # the last iterate scipy accepted: what an interrupt or an error keeps
    gbuf = np.empty_like(theta)
    last = {"x": None, "loss": math.nan, "g": None, "nfev": 0, "nhev": 0, "bad": False}

    def fun(x):
        if not np.isfinite(x).all():  # trust-krylov can propose NaN once the gradient vanishes
            last["bad"] = True
            mon.message = f"{method} proposed a non-finite theta; stopped at the last accepted iterate"
            raise _Stop
        np.copyto(theta, x)
        loss, g = model.loss_and_grad(theta, X, y, sample_weight=sw, check_input=False, out=gbuf,
                                      n_jobs=n_jobs)
        last["nfev"] += 1
        if not (math.isfinite(loss) and all_finite(g)):
            err = diagnose(model, X, y, sw, mon.steps, "loss or gradient")
            np.copyto(theta, accepted)
            raise err
        g = g.astype(np.float64)  # a fresh array for scipy, never our buffer
        if frozen is not None:
            g[frozen] = 0
        last.update(x=x.copy(), loss=loss, g=g)
        return loss, g

    def on_iterate(x, loss):
        np.copyto(accepted, x)
        np.copyto(theta, x)
        if model._stateful:  # validation, early stopping and checkpoints see this iterate's statistics
            model.recompute_state(X)
        if loss is None:
            same = last["x"] is not None and np.array_equal(last["x"], x)
            loss = last["loss"] if same else evaluate(model, X, y, sw)[0]
        epoch = initial_epoch + mon.steps
        stop = mon.after_step(float(loss), n, epoch)
        return mon.after_epoch(epoch, float(loss)) or stop

    bounds = frozen_bounds(method, x0, frozen)
    hessp = _model_hessp(model, X, y, sw, fun, last, frozen) if method.lower() in _HESSP_METHODS else None
    res, interrupted = None, False
    try:
        res = scipy.optimize.minimize(fun, x0, jac=True, method=method, hessp=hessp, bounds=bounds,
                                      tol=tol, callback=_scipy_callback(method, on_iterate),
                                      options=_options(method, maxiter, None))
    except _Stop:
        pass
    except KeyboardInterrupt:
        interrupted = True
        mon.interrupted(initial_epoch + mon.steps)
    if res is not None and not mon.message:
        np.copyto(accepted, res.x)
    np.copyto(theta, accepted)
    mon.restore_best()
    if frozen is not None:
        theta[frozen] = x0[frozen]
    fun_value = float(res.fun) if res is not None else (mon.history["loss"] or [last["loss"]])[-1]
    message = "interrupted (KeyboardInterrupt)" if interrupted else (res.message if res is not None else "")
    out = mon.result(fun=fun_value, nit=mon.steps, nfev=last["nfev"], n_examples_seen=last["nfev"] * n,
                     success=not (interrupted or last["bad"]) and (mon.message is not None or bool(res.success)),
                     message=str(message), interrupted=interrupted, epoch=initial_epoch + mon.steps)
    out.nhev = last["nhev"]
    return out


def _model_hessp(model, X, y, sw, fun, last, frozen):
    """hessp(x, v) for Newton-CG and the trust-region methods: the model's Gauss-Newton product
    (``tinygraph.curvature``: one forward per x, then an R-forward and an R-backward per product),
    or, for nodes without ``rforward``, a forward difference of the gradient, (g(x + h v) - g(x)) / h."""
    from ..curvature.products import CurvatureOperator

    theta, h0 = model.theta, math.sqrt(np.finfo(model.dtype).eps)
    state = {"op": None, "exact": True}

    def gauss_newton(x, v):
        op, xt = state["op"], x.astype(model.dtype)
        if op is None or not np.array_equal(op.theta, xt):
            op = state["op"] = CurvatureOperator(model, X, y, theta=xt, sample_weight=sw, check_input=False)
        return op.product(v).astype(np.float64)

    def hessp(x, v):
        last["nhev"] += 1
        v = np.array(v, dtype=np.float64)
        if frozen is not None:
            v[frozen] = 0
        hv = None
        if state["exact"]:
            try:
                hv = gauss_newton(x, v)
            except NotImplementedError as e:  # said once per fit: the products are approximations now
                state["exact"] = False
                warnings.warn(f"{e}: the Hessian products of this fit are forward differences of the "
                              "gradient, (g(x + h v) - g(x)) / h (one more gradient each, less accurate); "
                              "write rforward and rbackward for exact Gauss-Newton products",
                              UserWarning, stacklevel=user_stacklevel())
        if hv is None:
            g0 = last["g"] if last["x"] is not None and np.array_equal(last["x"], x) else fun(x)[1]
            h = h0 * (1.0 + np.linalg.norm(x)) / max(np.linalg.norm(v), 1e-300)
            hv = (fun(x + h * v)[1] - g0) / h
        if frozen is not None:
            hv[frozen] = 0
        np.copyto(theta, x)
        return hv
    return hessp


def minimize_scipy(fun, x0, args, method, *, hessp=None, bounds=None, callback=None, maxiter=None,
                   tol=None, options=None) -> OptimizeResult:
    """``tg.minimize`` with a scipy method name; ``callback(info) -> bool`` after each iteration."""
    check_method(method, "minimize")
    t0 = time.perf_counter()
    state = {"x": np.array(x0, dtype=np.float64).ravel(), "nfev": 0, "loss": math.nan}
    history = {"loss": [], "time": []}

    def counted(x, *a):
        state["nfev"] += 1
        loss, g = fun(x, *a)
        state["loss"] = float(loss)
        return loss, g

    def on_iterate(x, loss):
        state["x"] = np.array(x, dtype=np.float64)
        loss = state["loss"] if loss is None else float(loss)  # TNC: the last evaluation's loss
        history["loss"].append(loss)
        history["time"].append(time.perf_counter() - t0)
        info = TrainingInfo(event="step", theta=x, loss=loss, step=len(history["loss"]))
        return callback is not None and bool(callback(info))

    res, interrupted = None, False
    try:
        res = scipy.optimize.minimize(counted, state["x"], args=args, jac=True, method=method, hessp=hessp,
                                      bounds=bounds, tol=tol, callback=_scipy_callback(method, on_iterate),
                                      options=_options(method, maxiter, options))
    except _Stop:
        pass
    except KeyboardInterrupt:
        interrupted = True
    stopped = res is None and not interrupted
    out = OptimizeResult(res) if res is not None else OptimizeResult(
        x=state["x"], fun=history["loss"][-1] if history["loss"] else math.nan, nit=len(history["loss"]),
        success=stopped, message="stopped by the callback" if stopped else "interrupted (KeyboardInterrupt)")
    out.update(interrupted=interrupted, nfev=state["nfev"], njev=state["nfev"], n_grad_evals=state["nfev"],
               wall_time=time.perf_counter() - t0, history={k: np.asarray(v) for k, v in history.items()})
    return out
