"""The optimizer protocol and its base class: minibatch optimizers on one flat parameter vector.

The protocol, stated once (the rules themselves are in ``tinygraph.optim``):

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

import numpy as np

from ..parallel import threads
from ..parallel.pool import _in_parallel
from ..validation import all_finite
from .schedules import as_schedule

__all__ = ["NonFiniteError", "Optimizer"]


class NonFiniteError(FloatingPointError):
    """A loss, gradient or update that is NaN or infinite; the message names the step and the node.

    Raised before theta moves: the model keeps its last finite theta and the optimizer its state from
    before the refused step. A subclass of ``FloatingPointError``.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> theta = np.zeros(2)
    >>> try:
    ...     tg.optim.SGD(0.1).step(theta, np.array([np.nan, 0.0]))
    ... except tg.NonFiniteError as e:
    ...     print(e)
    SGD: non-finite gradient at step 0
    >>> theta
    array([0., 0.])
    """


def _check(name: str, value, lo: float, hi: float = math.inf, *, closed_hi=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and lo <= value
    ok = ok and (value <= hi if closed_hi else value < hi)
    if not ok:
        bound = "]" if closed_hi else ")"
        raise ValueError(f"{name} must be a number in [{lo}, {hi}{bound}, got {value!r}")
    return float(value)


def _finite(a: np.ndarray) -> bool:
    """True if no entry of ``a`` is NaN or inf. float32: its largest and smallest entries (NaN
    propagates through both, +inf tops the one, -inf the other; 16+16 µs for 270k entries, where a
    pairwise float32 sum takes 45 µs, two of them a fifth of an Adam step); else ``all_finite``'s
    sum. No BLAS: a threaded dot cost 20 ms on a loaded machine."""
    if a.dtype != np.float32:
        return all_finite(a)
    return math.isfinite(float(np.maximum.reduce(a))) and math.isfinite(float(np.minimum.reduce(a)))


def _norm(g: np.ndarray) -> float:
    """Euclidean norm, NaN or inf when g has a NaN or an inf; einsum wakes no BLAS threads, and the
    rescaled retry survives |g| > 1e154."""
    with np.errstate(over="ignore", invalid="ignore"):
        norm = math.sqrt(float(np.einsum("i,i", g, g)))
    if math.isfinite(norm) or not bool(np.isfinite(g).all()):
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


class Optimizer:
    """Base class: clipping, freezing, the finite check and the state; see the module docstring.

    A new rule subclasses it, lists its flat state arrays in ``state_names`` and writes
    ``_direction(theta, g, lr) -> d`` (theta ← theta − d) into ``self._d`` and its state arrays.

    Parameters
    ----------
    lr : float or callable, default 0.01
        The learning rate, or a schedule ``lr(t)`` of the update count (``tinygraph.schedules``).
    clipnorm : float, optional
        Rescale the gradient to this Euclidean norm when it is larger.

    Raises
    ------
    ValueError
        ``lr`` not a positive number or callable; ``clipnorm`` not positive.

    Examples
    --------
    Plain gradient descent with a step cap, in four lines:

    >>> import numpy as np
    >>> from tinygraph.optim import Optimizer
    >>> class Capped(Optimizer):
    ...     def _direction(self, theta, g, lr):
    ...         return np.clip(np.multiply(g, lr, out=self._d), -0.1, 0.1, out=self._d)
    >>> theta = np.array([1.0, 1.0])
    >>> Capped(lr=1.0).step(theta, np.array([0.05, 5.0]))
    >>> theta
    array([0.95, 0.9 ])
    """

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
        """Keep the entries where ``mask`` is False fixed (None: everything trains).

        Parameters
        ----------
        mask : array of bool, shape like theta, or None
            True where theta may move.
        """
        self._frozen = None if mask is None or mask.all() else np.flatnonzero(~np.asarray(mask))
        self._blocks = None

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """One in-place update of theta from the gradient at theta.

        Parameters
        ----------
        theta : ndarray, shape (n_params,)
            Updated in place: theta ← theta − d.
        grad : ndarray, shape (n_params,)
            The gradient at theta; the caller's buffer, which may be overwritten (clipping, frozen
            entries).

        Raises
        ------
        NonFiniteError
            The gradient or the step is NaN or infinite; theta and the state are left as they were.
        """
        if self._d is None or self._d.shape != theta.shape or self._d.dtype != theta.dtype:
            self._init(theta)
        # Checked before the rule runs, so a refused step leaves the moments/momentum as they were;
        # with clipnorm the norm is that check (one pass over grad, not two)
        norm = None if self.clipnorm is None else _norm(grad)
        if not (_finite(grad) if norm is None else math.isfinite(norm)):
            raise NonFiniteError(f"{type(self).__name__}: non-finite gradient at step {self.t}")
        if norm is not None and norm > self.clipnorm:
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
        """``{"t": int, name: array}``; arrays are copies (absent before the first step).

        Returns
        -------
        dict
            Numbers and numpy arrays only, so ``np.savez(path, **state)`` saves it.
        """
        state = {"t": self.t}
        for name in self.state_names:
            if getattr(self, name) is not None:
                state[name] = getattr(self, name).copy()
        return state

    def set_state(self, state: dict) -> None:
        """Restore what ``get_state`` returned (e.g. loaded from an .npz file).

        Parameters
        ----------
        state : dict
            ``{"t": int, name: array}`` as ``get_state`` returns it.

        Raises
        ------
        ValueError
            A key that is not ``t`` or one of this rule's ``state_names``.
        """
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
