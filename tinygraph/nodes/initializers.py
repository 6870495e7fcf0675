"""Weight initialisation schemes.

A scheme is a callable ``scheme(rng, W, b)`` that fills the views ``W`` (n_in, n_out) and ``b``
(n_out,) in place; pass one, or its name, as ``init=`` to a model or a single layer.
``functools.partial(uniform, epsilon=0.05)`` makes a variant.
"""
from __future__ import annotations

import numpy as np

__all__ = ["get_initializer", "glorot", "he", "sigmoid", "uniform"]


def uniform(rng: np.random.Generator, W: np.ndarray, b: np.ndarray, epsilon: float = 0.12) -> None:
    """The course's scheme: every weight *and* bias drawn from U(-epsilon, epsilon)."""
    W[...] = rng.uniform(-epsilon, epsilon, W.shape)
    b[...] = rng.uniform(-epsilon, epsilon, b.shape)


def glorot(rng: np.random.Generator, W: np.ndarray, b: np.ndarray) -> None:
    """Glorot/Xavier uniform: W ~ U(±sqrt(6 / (n_in + n_out))), b = 0."""
    limit = np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
    W[...] = rng.uniform(-limit, limit, W.shape)
    b[...] = 0.0


def sigmoid(rng: np.random.Generator, W: np.ndarray, b: np.ndarray) -> None:
    """Glorot's variant for sigmoid units: W ~ U(±4·sqrt(6 / (n_in + n_out))), b = 0."""
    limit = 4.0 * np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
    W[...] = rng.uniform(-limit, limit, W.shape)
    b[...] = 0.0


def he(rng: np.random.Generator, W: np.ndarray, b: np.ndarray) -> None:
    """He normal, for ReLU units: W ~ N(0, 2 / n_in), b = 0."""
    W[...] = rng.normal(0.0, np.sqrt(2.0 / W.shape[0]), W.shape)
    b[...] = 0.0


_SCHEMES = {"uniform": uniform, "glorot": glorot, "xavier": glorot, "sigmoid": sigmoid, "he": he}


def get_initializer(init):
    """The scheme for a name (uniform, glorot, xavier, sigmoid, he) or a callable."""
    if callable(init):
        return init
    try:
        return _SCHEMES[init]
    except (KeyError, TypeError):
        raise ValueError(f"init must be one of {sorted(_SCHEMES)} or a callable, got {init!r}") from None
