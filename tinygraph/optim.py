"""Minibatch optimizers on one flat parameter vector.

The optimizer protocol, stated once:

- ``opt.step(theta, grad)`` makes one update *in place*: ``theta -= d``, where the step ``d`` is
  computed by the rule from the gradient ``grad`` at ``theta``. ``grad`` is the caller's buffer and may
  be overwritten (clipping to ``clipnorm``, zeros on frozen entries, Rprop's sign memory).
- The rule is ``_direction(theta, g, lr) -> d``: a few vector lines writing into flat state arrays
  (same shape and dtype as theta) allocated on the first step and kept afterwards, so calling
  ``fit`` again continues Adam's moments or the momentum. ``t`` counts the updates made so far.
- ``lr`` is a number or any callable of ``t`` (see ``tinygraph.schedules``).
- ``freeze(mask)``: entries where ``mask`` is False never move (their gradient and step are zeroed).
- ``reset()`` forgets the state; ``get_state()`` returns numbers and numpy arrays only (saveable with
  ``np.savez``); ``set_state(state)`` restores it, so a resumed run equals an uninterrupted one.
- A non-finite step raises ``NonFiniteError`` before theta is touched.
- ``Scipy(method, maxiter=k)`` is the exception: it runs k scipy iterations on each minibatch through
  ``minimize_batch(fun, theta)`` instead of ``step``.
"""
from __future__ import annotations

import copy
import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import scipy.optimize

from . import threads
from .schedules import as_schedule

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


class NonFiniteError(FloatingPointError):
    """A loss, gradient or update that is NaN or infinite; the message names the step and the node."""


def _check(name: str, value, lo: float, hi: float = math.inf, *, closed_hi=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and lo <= value
    ok = ok and (value <= hi if closed_hi else value < hi)
    if not ok:
        bound = "]" if closed_hi else ")"
        raise ValueError(f"{name} must be a number in [{lo}, {hi}{bound}, got {value!r}")
    return float(value)


def _finite(a: np.ndarray) -> bool:
    """Whether every entry is finite, by a plain sum: one single-threaded pass (BLAS's dot woke its
    threads on every step); only when the sum overflows does the exact elementwise test run."""
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.add.reduce(a))):
            return True
    return bool(np.isfinite(a).all())


def _norm(g: np.ndarray) -> float:
    """Euclidean norm; einsum wakes no BLAS threads, and the rescaled retry survives |g| > 1e154."""
    with np.errstate(over="ignore"):
        norm = math.sqrt(float(np.einsum("i,i", g, g)))
    if math.isfinite(norm):
        return norm
    scale = float(np.abs(g).max())
    h = g / scale
    return scale * math.sqrt(float(np.einsum("i,i", h, h)))


# A step on a large theta is ~14 elementwise passes over arrays far bigger than the caches (Adam on
# 1.86M float64 parameters: 17 ms, 16% of a 784-1024-1024-10 epoch). Run block by block (1 MiB of
# each array), the rule's passes after the first find the block in cache (10-20% faster), and the
# blocks can be shared among threads, since numpy's ufuncs release the GIL (whole arrays gained
# nothing from a second thread: memory-bound). Each entry sees the same arithmetic as in one
# whole-array pass, so the result is bit-identical whatever the blocks and threads.
# Below 4 MiB (784-256-256-10: 1 MiB in float32) handing blocks to a thread cost more than it saved.
_BLOCK_BYTES = 1 << 20
_SPLIT_BYTES = 4 << 20
_pool: ThreadPoolExecutor | None = None
_CPUS = os.cpu_count() or 1  # once: the call takes ~10 µs, a sixth of a small net's Adam step


def _in_parallel(fn, items: list) -> list:
    """``[fn(x) for x in items]``, in contiguous runs on up to ``tg.blas_threads``' limit of threads
    (all cores when unlimited): the first run here, the others in a pool kept between steps."""
    global _pool
    k = 1 if len(items) < 2 else min(threads.limit or _CPUS, len(items))
    if k < 2:
        return [fn(x) for x in items]
    if _pool is None:  # k <= _CPUS: enough workers for any later k
        _pool = ThreadPoolExecutor(_CPUS - 1, thread_name_prefix="tinygraph-step")
    runs = [items[len(items) * i // k:len(items) * (i + 1) // k] for i in range(k)]
    futures = [_pool.submit(lambda run=run: [fn(x) for x in run]) for run in runs[1:]]
    try:
        out = [fn(x) for x in runs[0]]
    finally:
        wait(futures)  # never leave a thread writing into the state after we return or raise
    for f in futures:
        out += f.result()
    return out


class Optimizer:
    """Base class: clipping, freezing, the finite check and the state; see the module docstring."""

    state_names: tuple = ()   # flat arrays saved by get_state
    scratch_names: tuple = ()  # flat work buffers, not state

    def __init__(self, lr=0.01, *, clipnorm: float | None = None):
        self.lr = lr
        self._schedule = as_schedule(lr)
        if clipnorm is not None and not _check("clipnorm", clipnorm, 0.0) > 0:
            raise ValueError(f"clipnorm must be positive, got {clipnorm!r}")
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self._frozen = None
        self.reset()

    def reset(self) -> None:
        """Forget the state: the next step starts afresh (t = 0)."""
        self.t = 0
        for name in self.state_names:
            setattr(self, name, None)
        self._d = None
        self._blocks = None

    def _init(self, theta: np.ndarray) -> None:
        if any(getattr(self, name) is not None and getattr(self, name).shape != theta.shape
               for name in self.state_names):
            self.reset()  # another model: its state means nothing here
        for name in self.state_names:
            arr = getattr(self, name)
            if arr is None:
                setattr(self, name, np.zeros_like(theta))
            elif arr.dtype != theta.dtype:  # e.g. restored from a float64 file into a float32 model
                setattr(self, name, arr.astype(theta.dtype))
        for name in self.scratch_names:
            setattr(self, name, np.empty_like(theta))
        self._d = np.empty_like(theta)
        self._blocks = None

    def freeze(self, mask: np.ndarray | None) -> None:
        """Keep the entries where ``mask`` is False fixed (None: everything trains)."""
        self._frozen = None if mask is None or mask.all() else np.flatnonzero(~np.asarray(mask))
        self._blocks = None

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """One in-place update of theta from the gradient at theta."""
        if self._d is None or self._d.shape != theta.shape or self._d.dtype != theta.dtype:
            self._init(theta)
        # Checked before the rule runs, so a refused step leaves the moments/momentum as they were.
        if not _finite(grad):
            raise NonFiniteError(f"{type(self).__name__}: non-finite gradient at step {self.t}")
        if self.clipnorm is not None:
            norm = _norm(grad)
            if norm > self.clipnorm:
                grad *= self.clipnorm / norm
        if self._frozen is not None:
            grad[self._frozen] = 0
        if self._blocks is None:
            self._blocks = self._split(theta)
        lr = self._schedule(self.t)

        def direction(block):
            b, rule = block
            rule.t = self.t
            d = rule._direction(theta[b], grad[b], lr)
            if self._frozen is not None:
                d[self._frozen] = 0
            if not _finite(d):
                raise NonFiniteError(f"{type(self).__name__}: non-finite update at step {self.t}")
            return d

        steps = _in_parallel(direction, self._blocks)
        # only once every block's step is finite does theta move
        _in_parallel(lambda i: theta[self._blocks[i][0]].__isub__(steps[i]), range(len(steps)))
        self.t += 1

    def _direction(self, theta, g, lr):
        raise NotImplementedError(f"{type(self).__name__} must define _direction")

    def _split(self, theta: np.ndarray) -> list:
        """``[(slice, rule)]``: contiguous blocks of theta and, for each, a shallow copy of this
        optimizer whose flat state and scratch arrays are views of that block, so the rule runs on
        it unchanged and writes into this optimizer's arrays. One block (self) when small or frozen."""
        n = theta.size
        size = max(1, _BLOCK_BYTES // theta.itemsize)
        if theta.nbytes < _SPLIT_BYTES or self._frozen is not None or theta.ndim != 1:
            return [(slice(0, n), self)]
        blocks = []
        for start in range(0, n, size):
            b = slice(start, min(start + size, n))
            part = copy.copy(self)
            for name, value in vars(self).items():
                if isinstance(value, np.ndarray) and value.shape == theta.shape:
                    setattr(part, name, value[b])
            blocks.append((b, part))
        return blocks

    def __getstate__(self) -> dict:
        # the blocks hold views of the state: a copy or pickle rebuilds its own on its first step
        return {**self.__dict__, "_blocks": None}

    def get_state(self) -> dict:
        """``{"t": int, name: array}``; arrays are copies (absent before the first step)."""
        state = {"t": self.t}
        for name in self.state_names:
            if getattr(self, name) is not None:
                state[name] = getattr(self, name).copy()
        return state

    def set_state(self, state: dict) -> None:
        """Restore what ``get_state`` returned (e.g. loaded from an .npz file)."""
        unknown = set(state) - {"t", *self.state_names}
        if unknown:
            raise ValueError(f"{type(self).__name__}.set_state: unknown keys {sorted(unknown)}")
        self.reset()
        self.t = int(state.get("t", 0))
        for name in self.state_names:
            if name in state:
                setattr(self, name, np.array(state[name]))

    def _params(self) -> dict:
        return {"lr": self.lr}

    def __repr__(self) -> str:
        params = {**self._params(), "clipnorm": self.clipnorm}
        args = ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (classic or Nesterov) and lr decay.

    lr_t = lr(t) / (1 + decay·t)
    plain:     d = lr_t g
    momentum:  v ← μ v + lr_t g,  d = v              (theta ← theta - d)
    Nesterov:  v ← μ v + lr_t g,  d = μ v + lr_t g   (the look-ahead form of Sutskever et al. 2013)
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
    """

    state_names = ("G",)

    def __init__(self, lr=0.01, eps: float = 1e-8, *, clipnorm=None):
        self.eps = _check("AdaGrad: eps", eps, 0.0)
        super().__init__(lr, clipnorm=clipnorm)

    def _direction(self, theta, g, lr):
        d = np.multiply(g, g, out=self._d)
        self.G += d
        np.sqrt(self.G, out=d)
        d += self.eps
        np.divide(g, d, out=d)
        d *= lr
        return d

    def _params(self) -> dict:
        return {"lr": self.lr, "eps": self.eps}


class RMSProp(Optimizer):
    """Steps scaled by a running root mean square of the gradient (Hinton's lecture 6e).

    E ← ρ E + (1 - ρ) g²,  d = lr g / (√E + eps)
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
        np.sqrt(self.E, out=d)
        d += self.eps
        np.divide(g, d, out=d)
        d *= lr
        return d

    def _params(self) -> dict:
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps}


class Adadelta(Optimizer):
    """RMSProp with the step's own running RMS in the numerator (Zeiler 2012).

    Eg ← ρ Eg + (1 - ρ) g²,  Δ = √(Ex + eps) / √(Eg + eps) · g,  Ex ← ρ Ex + (1 - ρ) Δ²,  d = lr Δ
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
        np.sqrt(self.v, out=d)
        d += self.eps * c
        np.divide(self.m, d, out=d)
        d *= lr * c / (1.0 - b1 ** t)
        return d

    def _params(self) -> dict:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    d = d_Adam + lr · weight_decay · theta
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


class Scipy(Optimizer):
    """A few iterations of ``scipy.optimize.minimize(method)`` on each minibatch (jac=True).

    The classic way to make CG or L-BFGS-B scale: each batch restarts the method from the current
    theta. Frozen entries: L-BFGS-B gets bounds pinning them; other methods see a zero gradient there.
    Scipy works in float64; a float32 theta is cast at the boundary and stays float32.
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
        bounds = None
        if self._frozen is not None and self.method.lower() == "l-bfgs-b":
            bounds = [(None, None)] * theta.size
            for i in self._frozen:
                bounds[i] = (float(theta[i]), float(theta[i]))
        frozen = self._frozen

        def masked(x):
            loss, g = fun(x)
            if frozen is not None:
                g[frozen] = 0
            return loss, g

        x0 = theta.astype(np.float64)
        try:
            res = scipy.optimize.minimize(masked, x0.copy(), jac=True, method=self.method, bounds=bounds,
                                          hessp=hessp, options={"maxiter": self.maxiter, **self.options})
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

    def _params(self) -> dict:
        return {"method": self.method, "maxiter": self.maxiter, "options": self.options or None}
