"""Weight initialisation schemes.

A scheme is a callable ``scheme(rng, W, b)`` that fills the views ``W`` (n_in, n_out) and ``b``
(n_out,) in place; pass one, or its name, as ``init=`` to a model or a single layer.
``functools.partial(uniform, epsilon=0.05)`` makes a variant.
"""
from __future__ import annotations

import numpy as np

__all__ = ["get_initializer", "glorot", "he", "sigmoid", "uniform"]


def uniform(rng: np.random.Generator, W: np.ndarray, b: np.ndarray, epsilon: float = 0.12) -> None:
    """The course's scheme: every weight *and* bias drawn from U(-epsilon, epsilon).

    Parameters
    ----------
    rng : numpy.random.Generator
        The model's generator (seeded by its ``random_state``).
    W : ndarray, shape (n_in, n_out)
        The weight view, filled in place.
    b : ndarray, shape (n_out,)
        The bias view, filled in place.
    epsilon : float, default 0.12
        The half-width (the course's 0.12).

    Examples
    --------
    >>> import functools
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(400, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(),
    ...                        tg.CrossEntropy()], init="uniform", random_state=0)
    >>> float(abs(model.theta).max()) <= 0.12
    True
    >>> narrow = functools.partial(tg.initializers.uniform, epsilon=0.05)   # a variant
    >>> layer = tg.Dense(25, 10, init=narrow)
    """
    W[...] = rng.uniform(-epsilon, epsilon, W.shape)
    b[...] = rng.uniform(-epsilon, epsilon, b.shape)


def glorot(rng: np.random.Generator, W: np.ndarray, b: np.ndarray) -> None:
    """Glorot/Xavier uniform: W ~ U(±sqrt(6 / (n_in + n_out))), b = 0 (the default ``init``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The model's generator (seeded by its ``random_state``).
    W : ndarray, shape (n_in, n_out)
        The weight view, filled in place.
    b : ndarray, shape (n_out,)
        The bias view, filled in place.
    """
    limit = np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
    W[...] = rng.uniform(-limit, limit, W.shape)
    b[...] = 0.0


def sigmoid(rng: np.random.Generator, W: np.ndarray, b: np.ndarray) -> None:
    """Glorot's variant for sigmoid units: W ~ U(±4·sqrt(6 / (n_in + n_out))), b = 0.

    The multi-layer blog net's "smart" initialisation.

    Parameters
    ----------
    rng : numpy.random.Generator
        The model's generator (seeded by its ``random_state``).
    W : ndarray, shape (n_in, n_out)
        The weight view, filled in place.
    b : ndarray, shape (n_out,)
        The bias view, filled in place.
    """
    limit = 4.0 * np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
    W[...] = rng.uniform(-limit, limit, W.shape)
    b[...] = 0.0


def he(rng: np.random.Generator, W: np.ndarray, b: np.ndarray) -> None:
    """He normal, for ReLU units: W ~ N(0, 2 / n_in), b = 0.

    Parameters
    ----------
    rng : numpy.random.Generator
        The model's generator (seeded by its ``random_state``).
    W : ndarray, shape (n_in, n_out)
        The weight view, filled in place.
    b : ndarray, shape (n_out,)
        The bias view, filled in place.
    """
    W[...] = rng.normal(0.0, np.sqrt(2.0 / W.shape[0]), W.shape)
    b[...] = 0.0


_SCHEMES = {"uniform": uniform, "glorot": glorot, "xavier": glorot, "sigmoid": sigmoid, "he": he}


def get_initializer(init):
    """The scheme for a name (uniform, glorot, xavier, sigmoid, he) or a callable.

    Parameters
    ----------
    init : str or callable
        A scheme's name, or any ``f(rng, W, b)`` (returned as is).

    Returns
    -------
    callable
        ``scheme(rng, W, b)``, filling the views in place.

    Raises
    ------
    ValueError
        An unknown name.
    """
    if callable(init):
        return init
    try:
        return _SCHEMES[init]
    except (KeyError, TypeError):
        raise ValueError(f"init must be one of {sorted(_SCHEMES)} or a callable, got {init!r}") from None
