"""Learning-rate schedules: callables of the step count ``t`` (0 for the first update).

Every optimizer in ``tinygraph.optim`` accepts ``lr=`` as a number or as any callable ``lr(t)``;
these classes are the common ones, with a ``repr`` so a run can be logged and reproduced.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable

__all__ = ["Constant", "CosineDecay", "ExponentialDecay", "InverseTimeDecay", "StepDecay", "as_schedule"]


class Schedule:
    """Base class: ``lr(t)`` for the update number t = 0, 1, 2, ...

    Subclasses set their numbers as attributes (the ``repr`` shows them) and define ``__call__``.
    """

    def __call__(self, t: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """lr(t) = lr.

    Parameters
    ----------
    lr : float
        The learning rate.
    """

    def __init__(self, lr: float):
        self.lr = float(lr)

    def __call__(self, t: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """lr(t) = lr · gamma^⌊t / step_size⌋: multiply by gamma every step_size updates.

    Parameters
    ----------
    lr : float
        The initial learning rate.
    step_size : int
        Updates between two multiplications (>= 1).
    gamma : float, default 0.1
        The factor.

    Raises
    ------
    ValueError
        ``step_size`` < 1.

    Examples
    --------
    >>> from tinygraph.schedules import StepDecay
    >>> lr = StepDecay(0.1, step_size=100, gamma=0.5)
    >>> lr(0), lr(99), lr(100), lr(250)
    (0.1, 0.1, 0.05, 0.025)
    """

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepDecay: step_size must be >= 1, got {step_size!r}")
        self.lr, self.step_size, self.gamma = float(lr), int(step_size), float(gamma)

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(Schedule):
    """lr(t) = lr · gamma^t.

    Parameters
    ----------
    lr : float
        The initial learning rate.
    gamma : float
        The factor per update.
    """

    def __init__(self, lr: float, gamma: float):
        self.lr, self.gamma = float(lr), float(gamma)

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** t


class InverseTimeDecay(Schedule):
    """lr(t) = lr / (1 + decay · t) (the classic "learning-rate decay" of SGD).

    Parameters
    ----------
    lr : float
        The initial learning rate.
    decay : float
        The decay per update (>= 0).

    Raises
    ------
    ValueError
        ``decay`` < 0.
    """

    def __init__(self, lr: float, decay: float):
        if decay < 0:
            raise ValueError(f"InverseTimeDecay: decay must be >= 0, got {decay!r}")
        self.lr, self.decay = float(lr), float(decay)

    def __call__(self, t: int) -> float:
        return self.lr / (1.0 + self.decay * t)


class CosineDecay(Schedule):
    """lr(t) = lr_min + ½ (lr - lr_min)(1 + cos(π · min(t, T) / T)): from lr down to lr_min in T updates.

    Parameters
    ----------
    lr : float
        The initial learning rate.
    T : int
        Updates until ``lr_min`` (>= 1); it stays there afterwards.
    lr_min : float, default 0.0
        The final learning rate.

    Raises
    ------
    ValueError
        ``T`` < 1.

    Examples
    --------
    >>> import tinygraph as tg
    >>> lr = tg.schedules.CosineDecay(1e-2, T=1000)
    >>> lr(0), lr(500), lr(2000)
    (0.01, 0.005, 0.0)
    >>> opt = tg.optim.Adam(lr)                      # any optimizer takes a schedule as lr
    """

    def __init__(self, lr: float, T: int, lr_min: float = 0.0):
        if T < 1:
            raise ValueError(f"CosineDecay: T must be >= 1, got {T!r}")
        self.lr, self.T, self.lr_min = float(lr), int(T), float(lr_min)

    def __call__(self, t: int) -> float:
        c = math.cos(math.pi * min(t, self.T) / self.T)
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1.0 + c)


def as_schedule(lr) -> Callable[[int], float]:
    """A callable of t from a number (Constant) or a callable (returned as is).

    Parameters
    ----------
    lr : float or callable
        A positive finite number, or a callable ``lr(t)``.

    Returns
    -------
    callable
        ``lr(t) -> float``.

    Raises
    ------
    ValueError
        ``lr`` is neither a positive finite number nor callable.
    """
    if callable(lr):
        return lr
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number or a callable of the step, got {lr!r}")
    return Constant(lr)
