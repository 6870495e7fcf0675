"""``Sequential(layers)``: a ``Graph`` whose nodes form a chain from X to the last layer."""
from __future__ import annotations

import numpy as np

from .graph import Graph
from .nodes import Input

__all__ = ["Sequential"]


class Sequential(Graph):
    """A chain: each layer reads the one before it; the first reads X.

    Parameters
    ----------
    layers : sequence of Node
        The nodes in order, usually ending with a loss (``CrossEntropy()``, ``MeanSquaredError()``).
    input_shape : int or tuple of int, optional
        The feature shape of X without the batch axis: an int for tables, a tuple such as
        ``(1, 28, 28)`` for images (NCHW). Without it (or ``n_features``) the first layer must fix it
        (``Dense(n_in, n_out)``).
    n_features : int, optional
        The same as ``input_shape`` for tables (the older spelling).
    l2 : float, default 0.0
        The course's regularisation: l2/(2m)·ΣW² over weights, never biases (see ``Graph``).
    init : str or callable, default "glorot"
        Initialisation for nodes that set none: "glorot", "he", "uniform", "sigmoid" or ``f(rng, W, b)``.
    dtype : numpy float type, default numpy.float64
        ``numpy.float64`` or ``numpy.float32``: theta, gradients and activations.
    random_state : None, int or numpy.random.Generator, default None
        Seed of the initial weights (and of Dropout's masks).

    Raises
    ------
    ValueError
        No layers, or the input size is unknown (pass ``input_shape``).
    TypeError
        Both ``input_shape`` and ``n_features`` given.

    Examples
    --------
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       l2=0.1, random_state=0)
    >>> model.theta.shape
    (23,)
    """

    def __init__(self, layers, *, input_shape=None, n_features: int | None = None, l2: float = 0.0,
                 init="glorot", dtype=np.float64, random_state=None):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential: needs at least one layer")
        if input_shape is not None and n_features is not None:
            raise TypeError("Sequential: pass input_shape or n_features, not both")
        shape = input_shape if input_shape is not None else n_features
        if shape is None:
            shape = getattr(self.layers[0], "n_in", None)
            if shape is None:
                raise ValueError(f"Sequential: {self.layers[0]!r} does not fix the input size; "
                                 "pass input_shape=")
        x = h = Input(shape)
        for layer in self.layers:
            h = layer(h)
        super().__init__(x, h, l2=l2, init=init, dtype=dtype, random_state=random_state)
