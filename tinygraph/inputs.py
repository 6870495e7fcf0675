"""The data of a graph with several ``Input`` nodes: one array per input, rows indexed together.

A user passes a tuple (in the order of the graph's inputs) or a dict by ``Input`` name; the graph
checks each array against its input once and holds them as ``Inputs``, which answers what the
training loops ask of a single X: ``X.shape[0]`` (the rows), ``X[rows]`` (row blocks,
``tinygraph.parallel.rows``) and ``X.take(idx, axis=0, out=buf)`` (minibatch gathering,
``tinygraph.training.loop``) act on every array at once. A graph with one input keeps plain arrays:
nothing here is on its path.
"""
from __future__ import annotations

import numpy as np

from .validation import check_array

__all__ = ["Inputs", "check_inputs", "empty_rows"]


class Inputs:
    """Checked arrays, one per input of a graph, with the same number of rows N."""

    __slots__ = ("arrays",)

    def __init__(self, arrays):
        self.arrays = tuple(arrays)

    @property
    def shape(self) -> tuple:
        """(N,): the rows, as an array's first axis (the feature shapes differ between inputs)."""
        return (self.arrays[0].shape[0],)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, rows) -> Inputs:
        return Inputs(a[rows] for a in self.arrays)

    def take(self, indices, axis: int = 0, out: Inputs | None = None, mode: str = "raise") -> Inputs:
        outs = (None,) * len(self.arrays) if out is None else out.arrays
        return Inputs(a.take(indices, axis=axis, out=o, mode=mode) for a, o in zip(self.arrays, outs))

    def __repr__(self) -> str:
        return "Inputs(" + ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays) + ")"


def empty_rows(X, n: int):
    """An uninitialised buffer for ``n`` rows of X (an array, or ``Inputs``: one buffer per input)."""
    if isinstance(X, Inputs):
        return Inputs(np.empty((n,) + a.shape[1:], a.dtype) for a in X.arrays)
    return np.empty((n,) + X.shape[1:], X.dtype)


def as_arrays(X, inputs: tuple) -> tuple:
    """X (``Inputs``, a tuple or list in the inputs' order, or a dict by input name) as a tuple of
    its arrays in the inputs' order, unchecked; a clear error when it does not fit the inputs."""
    names = [x.name for x in inputs]
    if isinstance(X, Inputs):
        arrays = X.arrays
    elif isinstance(X, dict):
        missing, unknown = [n for n in names if n not in X], [k for k in X if k not in names]
        if missing or unknown:
            raise ValueError(f"the graph's inputs are {names}; X is missing {missing}"
                             + (f" and has unknown keys {unknown}" if unknown else ""))
        arrays = tuple(X[n] for n in names)
    elif isinstance(X, (tuple, list)) and len(X) == len(inputs):
        arrays = tuple(X)
    else:
        raise TypeError(f"the graph has {len(inputs)} inputs {names}: pass X as a tuple of {len(inputs)} "
                        f"arrays in that order or a dict by name, got {type(X).__name__}"
                        + (f" of length {len(X)}" if isinstance(X, (tuple, list)) else ""))
    return arrays


def check_inputs(X, inputs: tuple, dtype: np.dtype) -> Inputs:
    """Each array of X checked against its ``Input`` (shape, dtype, finite), all with N rows."""
    arrays = tuple(check_array(a, x.shape, dtype, who=x.name) for a, x in zip(as_arrays(X, inputs), inputs))
    for a, x in zip(arrays[1:], inputs[1:]):
        if a.shape[0] != arrays[0].shape[0]:
            raise ValueError(f"{x.name}: X has {a.shape[0]} rows but {inputs[0].name} has {arrays[0].shape[0]}")
    return Inputs(arrays)
