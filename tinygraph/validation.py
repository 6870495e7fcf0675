"""Checks at the API edge: clear errors that name the node, the expected and the actual value."""
from __future__ import annotations

import math
import numbers
import sys

import numpy as np

__all__ = ["all_finite", "check_array", "check_random_state", "check_sample_weight", "check_theta",
           "n_examples", "shuffle_seed", "user_stacklevel"]


def check_random_state(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a Generator or a legacy RandomState."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}")


def as_array(value, who: str, what: str) -> np.ndarray:
    """``np.asarray(value)``, with numpy's complaint about ragged or odd input turned into ours."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{who}: {what} must be array-like of numbers: {e}") from None


def check_array(X, shape, dtype: np.dtype, who: str = "input") -> np.ndarray:
    """X as a finite array (N, *shape) of ``dtype``, N >= 1 (``shape`` an int means (shape,))."""
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    arr = as_array(X, who, "X")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: X must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1 and shape == (1,):
        arr = arr.reshape(-1, 1)
    expected = "(N, " + ", ".join(map(str, shape)) + ")"
    if arr.ndim != 1 + len(shape):
        raise ValueError(f"{who}: expects X of shape {expected}, got an array of shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{who}: X is empty (shape {arr.shape}); at least one row is needed")
    if arr.shape[1:] != shape:
        raise ValueError(f"{who}: expects X of shape {expected}, got {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if not all_finite(arr):
        raise ValueError(f"{who}: X contains NaN or inf")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """True if no entry is NaN or inf.

    The sum is finite exactly when every entry is, unless finite entries overflow it: one
    single-threaded pass and no N×D boolean temporary (that temporary was the largest allocation of
    a minibatch fit; BLAS's dot would wake its threads); the exact elementwise test runs only when
    the sum is not finite.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.add.reduce(arr, axis=None))):
            return True
    return bool(np.isfinite(arr).all())


def check_theta(theta, size: int, who: str = "model", name: str = "theta") -> np.ndarray:
    """theta (or a direction ``name`` in its space) as a finite real 1-D array of length ``size``."""
    arr = as_array(theta, who, name)
    if arr.dtype.kind != "f":
        raise TypeError(f"{who}: {name} must be a real floating array, got dtype {arr.dtype}")
    if arr.shape != (size,):
        raise ValueError(f"{who}: {name} must have shape ({size},), got {arr.shape}")
    if not all_finite(arr):  # on every scipy evaluation: the sum, not an n_params boolean mask
        raise ValueError(f"{who}: {name} contains NaN or inf at index {int(np.argmin(np.isfinite(arr)))}")
    return arr


def check_sample_weight(sample_weight, n: int, dtype: np.dtype, who: str = "model", steps: int | None = None):
    """None, or a finite non-negative (N,) array with a positive sum; (N, T) too when the loss takes
    ``steps`` = T targets per row (a weight per step: 0 masks padding)."""
    if sample_weight is None:
        return None
    w = as_array(sample_weight, who, "sample_weight")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{who}: sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 0:
        w = np.full(n, w)
    if w.shape != (n,) and (steps is None or w.shape != (n, steps)):
        expected = f"({n},)" if steps is None else f"({n},) or ({n}, {steps})"
        raise ValueError(f"{who}: sample_weight must have shape {expected}, got {w.shape}")
    with np.errstate(over="ignore"):
        w = w.astype(dtype, copy=False)
    if not np.isfinite(w).all() or (w < 0).any() or not w.any():
        raise ValueError(f"{who}: sample_weight must be finite, non-negative, with a positive sum")
    # The loss divides by the weights' sum and the l2 term by it: both must be ordinary numbers.
    top, info = float(w.max()), np.finfo(dtype)
    with np.errstate(over="ignore"):
        total = float(w.sum())
    if not math.isfinite(total):
        raise ValueError(f"{who}: sample_weight sums to more than {dtype.name} holds (largest weight {top:.3g}); "
                         "divide the weights by a constant: the data loss depends only on their ratios")
    if top < info.tiny:
        raise ValueError(f"{who}: the largest sample_weight, {top:.3g}, is below {info.tiny:.3g} ({dtype.name} "
                         "subnormal): the weights lose their precision; multiply them by a constant")
    return w


def n_examples(n: int, sample_weight) -> float:
    """What the l2 term divides by: the rows, or the weights' sum, per row for (N, T) step weights
    (so weights of 1 on every step count as no weights)."""
    if sample_weight is None:
        return n
    total = float(sample_weight.sum())
    return total if sample_weight.ndim == 1 else total / sample_weight.shape[1]


def shuffle_seed(random_state) -> int:
    """One integer seed per fit: the shuffle of epoch k then depends only on (seed, k)."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).integers(2 ** 63))


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called by the function that calls this one, name
    the line that called into tinygraph (the caller of its outermost frame on the stack): the user's
    line, not tinygraph's, whatever the depth (scipy and scikit-learn frames in between included)."""
    frame, level, outermost = sys._getframe(1), 1, 1
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if name == "tinygraph" or name.startswith("tinygraph."):
            outermost = level
        frame, level = frame.f_back, level + 1
    return outermost + 1
