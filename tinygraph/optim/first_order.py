"""Minibatch update rules on one flat parameter vector (the protocol: ``tinygraph.optim.optimizer``).

Each rule is a subclass of ``Optimizer`` whose ``_direction(theta, g, lr)`` computes the step ``d``
(``theta ← theta - d``) in a few vector lines over flat state arrays; its formula is in its docstring.
``Scipy(method, maxiter=k)`` is the exception: it runs k scipy iterations on each minibatch.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.optimize

from .optimizer import NonFiniteError, Optimizer, _check

__all__ = [
    "SGD",
    "AdaGrad",
    "Adadelta",
    "Adam",
    "AdamW",
    "NonFiniteError",
    "Optimizer",
    "RMSProp",
    "Rprop",
    "Scipy",
]


def _rms_scaled(num: np.ndarray, acc: np.ndarray, eps: float, scale: float, d: np.ndarray) -> np.ndarray:
    """d = scale · num / (√acc + eps), written into d: the shared tail of AdaGrad, RMSProp and Adam."""
    np.sqrt(acc, out=d)
    d += eps
    np.divide(num, d, out=d)
    d *= scale
    return d


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (classic or Nesterov) and lr decay.

    lr_t = lr(t) / (1 + decay·t)
    plain:     d = lr_t g
    momentum:  v ← μ v + lr_t g,  d = v              (theta ← theta - d)
    Nesterov:  v ← μ v + lr_t g,  d = μ v + lr_t g   (the look-ahead form of Sutskever et al. 2013)

    Parameters
    ----------
    lr : float or callable, default 0.01
        The learning rate, or a schedule ``lr(t)`` (``tinygraph.schedules``).
    momentum : float in [0, 1), default 0.0
        μ; 0 is plain gradient descent.
    nesterov : bool, default False
        Nesterov's look-ahead form (needs ``momentum > 0``).
    decay : float, default 0.0
        The older blog net's learning-rate decay: lr_t = lr / (1 + decay·t).
    clipnorm : float, optional
        Rescale the gradient to this Euclidean norm when it is larger.

    Raises
    ------
    ValueError
        A value out of its range, or ``nesterov=True`` without momentum.

    Examples
    --------
    >>> import numpy as np
    >>> from tinygraph.optim import SGD
    >>> theta = np.array([1.0, -2.0])
    >>> opt = SGD(lr=0.1, momentum=0.9)
    >>> opt.step(theta, np.array([1.0, 1.0]))     # theta -= d, in place
    >>> theta
    array([ 0.9, -2.1])
    """

    state_names = ("v",)
    scratch_names = ("_tmp",)

    def __init__(self, lr=0.01, momentum: float = 0.0, nesterov: bool = False, decay: float = 0.0, *,
                 clipnorm=None):
        self.momentum = _check("SGD: momentum", momentum, 0.0, 1.0)
        self.decay = _check("SGD: decay", decay, 0.0)
        if nesterov and not self.momentum:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        super().__init__(lr, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        d = np.multiply(g, lr / (1.0 + self.decay * self.t), out=self._d)
        if not self.momentum:
            return d
        self.v *= self.momentum
        self.v += d
        if self.nesterov:
            d += np.multiply(self.v, self.momentum, out=self._tmp)
        else:
            np.copyto(d, self.v)
        return d

    def _params(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum or None, "nesterov": self.nesterov or None,
                "decay": self.decay or None}


class AdaGrad(Optimizer):
    """Per-coordinate steps shrinking with the sum of squared gradients (Duchi et al. 2011).

    G ← G + g²,  d = lr g / (√G + eps)

    Parameters
    ----------
    lr : float or callable, default 0.01
        The learning rate, or a schedule ``lr(t)``.
    eps : float, default 1e-8
        Added to √G.
    clipnorm : float, optional
        Rescale the gradient to this norm when it is larger.
    """

    state_names = ("G",)

    def __init__(self, lr=0.01, eps: float = 1e-8, *, clipnorm=None):
        self.eps = _check("AdaGrad: eps", eps, 0.0)
        super().__init__(lr, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        self.G += np.multiply(g, g, out=self._d)
        return _rms_scaled(g, self.G, self.eps, lr, self._d)

    def _params(self) -> dict:
        return {"lr": self.lr, "eps": self.eps}


class RMSProp(Optimizer):
    """Steps scaled by a running root mean square of the gradient (Hinton's lecture 6e).

    E ← ρ E + (1 - ρ) g²,  d = lr g / (√E + eps)

    Parameters
    ----------
    lr : float or callable, default 1e-3
        The learning rate, or a schedule ``lr(t)`` (the older blog net's RMSProp had none and diverged).
    rho : float in [0, 1), default 0.9
        Decay of the running mean of g².
    eps : float, default 1e-8
        Added to √E.
    clipnorm : float, optional
        Rescale the gradient to this norm when it is larger.
    """

    state_names = ("E",)

    def __init__(self, lr=1e-3, rho: float = 0.9, eps: float = 1e-8, *, clipnorm=None):
        self.rho = _check("RMSProp: rho", rho, 0.0, 1.0)
        self.eps = _check("RMSProp: eps", eps, 0.0)
        super().__init__(lr, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        d = np.multiply(g, g, out=self._d)
        d *= 1.0 - self.rho
        self.E *= self.rho
        self.E += d
        return _rms_scaled(g, self.E, self.eps, lr, d)

    def _params(self) -> dict:
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps}


class Adadelta(Optimizer):
    """RMSProp with the step's own running RMS in the numerator (Zeiler 2012).

    Eg ← ρ Eg + (1 - ρ) g²,  Δ = √(Ex + eps) / √(Eg + eps) · g,  Ex ← ρ Ex + (1 - ρ) Δ²,  d = lr Δ

    Parameters
    ----------
    lr : float or callable, default 1.0
        Scales Δ (Zeiler's rule has none: keep 1).
    rho : float in [0, 1), default 0.95
        Decay of both running means.
    eps : float, default 1e-6
        Inside both square roots.
    clipnorm : float, optional
        Rescale the gradient to this norm when it is larger.
    """

    state_names = ("Eg", "Ex")
    scratch_names = ("_tmp",)

    def __init__(self, lr=1.0, rho: float = 0.95, eps: float = 1e-6, *, clipnorm=None):
        self.rho = _check("Adadelta: rho", rho, 0.0, 1.0)
        self.eps = _check("Adadelta: eps", eps, 0.0)
        super().__init__(lr, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        rho, d, tmp = self.rho, self._d, self._tmp
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        self.Eg *= rho
        self.Eg += tmp
        np.add(self.Eg, self.eps, out=tmp)
        np.add(self.Ex, self.eps, out=d)
        d /= tmp
        np.sqrt(d, out=d)
        d *= g                                      # d = Δ
        np.multiply(d, d, out=tmp)
        tmp *= 1.0 - rho
        self.Ex *= rho
        self.Ex += tmp
        d *= lr
        return d

    def _params(self) -> dict:
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba 2015), with bias correction (t counted from 1).

    m ← β1 m + (1 - β1) g,  v ← β2 v + (1 - β2) g²,
    d = lr m̂ / (√v̂ + eps),  m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)

    Parameters
    ----------
    lr : float or callable, default 1e-3
        The learning rate, or a schedule ``lr(t)``.
    beta1, beta2 : float in [0, 1), default 0.9 and 0.999
        Decays of the first and second moment estimates.
    eps : float, default 1e-8
        Added to √v̂.
    clipnorm : float, optional
        Rescale the gradient to this norm when it is larger.

    Examples
    --------
    >>> import tinygraph as tg
    >>> X, y = tg.datasets.load_mnist()
    >>> model = tg.Sequential([tg.Dense(784, 10), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> res = tg.fit(model, X[:1000], y[:1000], tg.optim.Adam(1e-2), batch_size=100, epochs=2)
    >>> model.score(X[:1000], y[:1000]) > 0.8
    True
    """

    state_names = ("m", "v")

    def __init__(self, lr=1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, *,
                 clipnorm=None):
        self.beta1 = _check(f"{type(self).__name__}: beta1", beta1, 0.0, 1.0)
        self.beta2 = _check(f"{type(self).__name__}: beta2", beta2, 0.0, 1.0)
        self.eps = _check(f"{type(self).__name__}: eps", eps, 0.0)
        super().__init__(lr, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        b1, b2, d, t = self.beta1, self.beta2, self._d, self.t + 1
        self.m *= b1
        self.m += np.multiply(g, 1.0 - b1, out=d)
        self.v *= b2
        np.multiply(g, g, out=d)
        d *= 1.0 - b2
        self.v += d
        # lr m̂/(√v̂ + eps) = a m/(√v + eps c) with c = √(1-β2^t), a = lr c/(1-β1^t): one pass fewer
        c = math.sqrt(1.0 - b2 ** t)
        return _rms_scaled(self.m, self.v, self.eps * c, lr * c / (1.0 - b1 ** t), d)

    def _params(self) -> dict:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    d = d_Adam + lr · weight_decay · theta

    Parameters
    ----------
    lr, beta1, beta2, eps, clipnorm
        As in ``Adam``.
    weight_decay : float, default 0.01
        The decay rate, applied to every entry of theta (biases too), not through the gradient.
    """

    scratch_names = ("_tmp",)

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay: float = 0.01, *,
                 clipnorm=None):
        self.weight_decay = _check("AdamW: weight_decay", weight_decay, 0.0)
        super().__init__(lr, beta1, beta2, eps, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        d = super()._direction(theta, g, lr)
        d += np.multiply(theta, lr * self.weight_decay, out=self._tmp)
        return d

    def _params(self) -> dict:
        return {**super()._params(), "weight_decay": self.weight_decay}


class Rprop(Optimizer):
    """Resilient backpropagation, iRprop⁻ (Igel & Hüsken 2000): full batch, signs only.

    Per coordinate, s = g·g_prev:  s > 0: Δ ← min(η⁺Δ, Δmax);  s < 0: Δ ← max(η⁻Δ, Δmin), g ← 0;
    d = sign(g) Δ,  g_prev ← g.  ``lr`` is the initial step Δ₀ (schedules do not apply).

    Parameters
    ----------
    lr : float, default 0.01
        The initial step Δ₀ of every coordinate.
    etaplus, etaminus : float, default 1.2 and 0.5
        Growth (> 1) and shrink (in (0, 1)) factors of Δ.
    step_min, step_max : float, default 1e-6 and 50.0
        Bounds of Δ.
    clipnorm : float, optional
        Rescale the gradient to this norm when it is larger.

    Notes
    -----
    Rprop uses only the signs of the gradient, so it wants the full-batch gradient (``tg.fit`` with
    ``batch_size=None``); on minibatches the signs are noise.
    """

    state_names = ("delta", "g_prev")

    def __init__(self, lr: float = 0.01, etaplus: float = 1.2, etaminus: float = 0.5,
                 step_min: float = 1e-6, step_max: float = 50.0, *, clipnorm=None):
        self.etaplus = _check("Rprop: etaplus", etaplus, 1.0)
        self.etaminus = _check("Rprop: etaminus", etaminus, 0.0, 1.0)
        self.step_min = _check("Rprop: step_min", step_min, 0.0)
        self.step_max = _check("Rprop: step_max", step_max, self.step_min)
        super().__init__(_check("Rprop: lr", lr, 0.0), clipnorm=clipnorm)

    def _init(self, theta):
        super()._init(theta)
        if not self.delta.any():
            self.delta.fill(self.lr)
        self._pos, self._neg = np.zeros(theta.shape, bool), np.zeros(theta.shape, bool)

    def _direction(self, theta, g, lr):
        d, delta = self._d, self.delta
        np.multiply(g, self.g_prev, out=d)
        pos, neg = np.greater(d, 0, out=self._pos), np.less(d, 0, out=self._neg)
        np.multiply(delta, self.etaplus, out=delta, where=pos)
        np.multiply(delta, self.etaminus, out=delta, where=neg)
        np.clip(delta, self.step_min, self.step_max, out=delta)
        np.copyto(g, 0, where=neg)
        np.sign(g, out=d)
        d *= delta
        np.copyto(self.g_prev, g)
        return d

    def _params(self) -> dict:
        return {"lr": self.lr, "etaplus": self.etaplus, "etaminus": self.etaminus}


def frozen_bounds(method: str, x0: np.ndarray, frozen) -> scipy.optimize.Bounds | None:
    """L-BFGS-B's bounds pinning the ``frozen`` indices at ``x0`` (lb = ub); None for other methods."""
    if frozen is None or method.lower() != "l-bfgs-b":
        return None
    lb, ub = np.full(x0.size, -np.inf), np.full(x0.size, np.inf)
    lb[frozen] = ub[frozen] = x0[frozen]
    return scipy.optimize.Bounds(lb, ub)


class Scipy(Optimizer):
    """A few iterations of ``scipy.optimize.minimize(method)`` on each minibatch (jac=True).

    The classic way to make CG or L-BFGS-B scale: each batch restarts the method from the current
    theta. Frozen entries: L-BFGS-B gets bounds pinning them; other methods see a zero gradient there.
    Scipy works in float64; a float32 theta is cast at the boundary and stays float32.

    Parameters
    ----------
    method : str, default "CG"
        A ``scipy.optimize.minimize`` method name.
    maxiter : int, default 3
        Iterations of the method on each minibatch; for "TNC", which has no iteration limit,
        loss-and-gradient evaluations (scipy's ``maxfun``).
    options : dict, optional
        More options for the method.

    Raises
    ------
    TypeError
        ``method`` is not a string, or ``step`` is called (this optimizer needs the objective).
    ValueError
        ``maxiter`` is not a positive integer.

    Examples
    --------
    The older blog net's "3 CG iterations per minibatch":

    >>> import tinygraph as tg
    >>> X, y = tg.datasets.load_mnist()
    >>> model = tg.Sequential([tg.Dense(784, 10), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> res = tg.fit(model, X[:1000], y[:1000], tg.optim.Scipy("CG", maxiter=3), batch_size=250, epochs=1)
    >>> res.n_grad_evals > 4
    True
    """

    def __init__(self, method: str = "CG", maxiter: int = 3, options: dict | None = None):
        if not isinstance(method, str):
            raise TypeError(f"Scipy: method must be a scipy.optimize.minimize method name, got {method!r}")
        if int(maxiter) != maxiter or maxiter < 1:
            raise ValueError(f"Scipy: maxiter must be a positive integer, got {maxiter!r}")
        self.method, self.maxiter, self.options = method, int(maxiter), dict(options or {})
        super().__init__(1.0)

    def step(self, theta, grad):
        raise TypeError("Scipy needs the objective, not one gradient: call minimize_batch(fun, theta)")

    def minimize_batch(self, fun, theta: np.ndarray, hessp=None):
        """Run ``maxiter`` iterations of the method on ``fun(x) -> (loss, grad)``; update theta in place.

        ``hessp(x, v)`` goes to the methods that use it. Returns scipy's result (``fun`` is evaluated
        ``res.nfev`` times).
        """
        frozen = self._frozen

        def masked(x):
            loss, g = fun(x)
            if frozen is not None:
                g[frozen] = 0
            return loss, g

        if hessp is None and self.method.lower() in ("trust-ncg", "trust-krylov", "trust-exact", "dogleg"):
            raise ValueError(f"Scipy({self.method!r}) needs Hessian products, which are not passed per "
                             f"minibatch; train with it full batch (tg.fit(model, X, y, {self.method!r})), "
                             "or per minibatch with Scipy('Newton-CG') or tg.HessianFree(model)")
        x0 = theta.astype(np.float64)
        bounds = frozen_bounds(self.method, x0, frozen)
        try:
            res = scipy.optimize.minimize(masked, x0.copy(), jac=True, method=self.method, bounds=bounds,
                                          hessp=hessp, options={self._limit: self.maxiter, **self.options})
            if not np.isfinite(res.x).all():
                raise NonFiniteError(f"Scipy({self.method!r}): non-finite theta at step {self.t}")
        except BaseException:
            theta[...] = x0  # Ctrl-C or an error mid-search: back to where this batch began, not a trial
            raise
        if frozen is not None:
            res.x[frozen] = x0[frozen]
        theta[...] = res.x
        self.t += 1
        return res

    @property
    def _limit(self) -> str:
        """The option that bounds one batch's work: TNC has no ``maxiter`` (scipy would warn "Unknown
        solver options"), only ``maxfun``."""
        return "maxfun" if self.method.lower() == "tnc" else "maxiter"

    def _params(self) -> dict:
        return {"method": self.method, "maxiter": self.maxiter, "options": self.options or None}
