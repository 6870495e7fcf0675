"""Token and position embeddings for sequences (contract in ``tinygraph.nodes.node``)."""
from __future__ import annotations

import numpy as np

from .node import Node

__all__ = ["Embedding", "PositionalEmbedding"]


class Embedding(Node):
    """A lookup table: token k becomes row k of W (torch.nn.Embedding).

    forward:  y[n, t] = W[x[n, t]]
    backward: dW[k] = Σ_{n,t: x[n,t] = k} dy[n, t]   (no gradient for the integer x)
    R-forward: R{y}[n, t] = V[x[n, t]];  R-backward: R{dW} scatters R{dy} the same way (W enters linearly)
    x: (N, T) integers in [0, n_tokens) (a float array of whole numbers is accepted: the graph's X
    has the model's dtype, so a float32 model refuses vocabularies beyond 2²⁴ + 1 tokens, whose ids
    float32 cannot all hold); W: (n_tokens, dim); y and dy: (N, T, dim).

    Parameters
    ----------
    n_tokens : int
        The vocabulary size: token ids lie in [0, n_tokens).
    dim : int
        The length of each token's vector.
    init : callable, optional
        A scheme ``f(rng, W, None)`` filling W; default N(0, 1), as PyTorch.
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes W (its gradient is zero).

    Raises
    ------
    ValueError
        ``n_tokens`` or ``dim`` not a positive integer; (in ``build``) an input that is not (N, T);
        (in ``forward``) token ids that are not whole numbers or lie outside [0, n_tokens).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Embedding(10, 4)], input_shape=(3,), random_state=0)
    >>> y = model.forward(np.array([[1, 2, 3], [0, 0, 9]]))
    >>> y.shape
    (2, 3, 4)
    >>> bool(np.array_equal(y[1, 0], y[1, 1]))      # the same token, the same row of W
    True
    """

    cached = ("index", "groups")
    regularized = ("W",)  # l2 covers the table, as a weight matrix

    def __init__(self, n_tokens: int, dim: int, *, init=None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        _check_scheme("Embedding", init)
        for label, n in (("n_tokens", n_tokens), ("dim", dim)):
            if isinstance(n, bool) or int(n) != n or n < 1:
                raise ValueError(f"Embedding: {label} must be a positive integer, got {n!r}")
        self.n_tokens, self.dim = int(n_tokens), int(dim)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 1:
            raise ValueError(f"{self.name}: expects integer sequences of shape (N, T), got (N, "
                             f"{', '.join(map(str, in_shape))})")
        self.params = (("W", (self.n_tokens, self.dim)),)
        return (in_shape[0], self.dim)

    def init(self, rng: np.random.Generator, default=None) -> None:
        """N(0, 1), as PyTorch, unless the node was given its own scheme."""
        if callable(self.init_scheme):
            self.init_scheme(rng, self.W, None)
        else:
            self.W[...] = rng.standard_normal(self.W.shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind == "f":
            # ids reach the node in the model's dtype: every id of the vocabulary must survive the cast
            exact = 2 ** (np.finfo(x.dtype).nmant + 1)
            if self.n_tokens > exact + 1:
                raise ValueError(f"{self.name}: a {x.dtype} model holds token ids exactly only up to "
                                 f"{exact:,}, the vocabulary has {self.n_tokens:,} tokens; use float64")
            # the range first, on the floats: a cast of 1e20 to an integer is undefined
            low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)  # Python floats: exact compare
            if not (low >= 0 and high < self.n_tokens):
                raise ValueError(f"{self.name}: token ids must lie in [0, {self.n_tokens - 1}], got range "
                                 f"[{low:.17g}, {high:.17g}]" + (f" (ids from {exact:,} on may have been rounded: "
                                 f"X is cast to the model's dtype, {x.dtype})" if high >= exact else ""))
            index = x.astype(np.intp)
            if not np.array_equal(index, x):
                raise ValueError(f"{self.name}: token ids must be whole numbers, got {x[index != x][:3]}")
        else:
            index = x
            if index.size and (index.min() < 0 or index.max() >= self.n_tokens):
                raise ValueError(f"{self.name}: token ids must lie in [0, {self.n_tokens - 1}], "
                                 f"got range [{index.min()}, {index.max()}]")
        self.index, self.groups = index, None
        return np.take(self.W, index, axis=0, out=self.buffer("y", index.shape + (self.dim,)),
                       mode="clip")  # ids checked above; "raise" would buffer out

    def _scatter(self, dy: np.ndarray, out: np.ndarray) -> None:
        # Sum the rows of each token in one pass: sort the positions by token once per forward, then
        # np.add.reduceat over the runs; np.add.at, unbuffered, is 3-9x slower on (768, 128).
        if self.groups is None:
            flat = self.index.reshape(-1)
            order = np.argsort(flat, kind="stable")
            ids = flat[order]
            starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1]))) if ids.size else ids
            self.groups = order, starts, ids[starts]
        order, starts, tokens = self.groups
        out[...] = 0.0
        if order.size:
            out[tokens] = np.add.reduceat(dy.reshape(-1, self.dim)[order], starts, axis=0)

    def backward(self, dy: np.ndarray):
        self._scatter(dy, self.dW)  # no dx: the input holds integers

    def rforward(self, v: np.ndarray, rx):
        V = self.views(v)["W"]
        return np.take(V, self.index, axis=0, out=self.buffer("ry", self.index.shape + (self.dim,)),
                       mode="clip")

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        self._scatter(rdy, self.views(hv)["W"])

    def get_config(self) -> dict:
        return {"n_tokens": self.n_tokens, "dim": self.dim, **super().get_config()}


def _check_scheme(who: str, init) -> None:
    if init is not None and not callable(init):
        raise ValueError(f"{who}: init must be a callable f(rng, W, None), got {init!r}")


class PositionalEmbedding(Node):
    """Learned positions added to a sequence: step t gets row t of W (nanoGPT's ``wpe``).

    forward:  y[n, t] = x[n, t] + W[t]          backward: dx = dy,  dW[t] = Σ_n dy[n, t] (t < T), 0 beyond
    R-forward: R{y} = R{x} + V[:T];  R-backward: R{dx} = R{dy},  R{dW}[t] = Σ_n R{dy}[n, t]  (linear)
    x, y, dy, dx: (N, T, E) with T ≤ max_len; W: (max_len, E).

    Parameters
    ----------
    max_len : int
        The longest sequence (the context length); T may be shorter at any call.
    init : callable, optional
        A scheme ``f(rng, W, None)`` filling W; default N(0, 1), as ``torch.nn.Embedding``.
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes W.

    Raises
    ------
    ValueError
        ``max_len`` not a positive integer; an input that is not (N, T, E) or has T > max_len.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.PositionalEmbedding(8)], input_shape=(5, 3), random_state=0)
    >>> y = model.forward(np.zeros((2, 5, 3)))
    >>> bool(np.array_equal(y[0], model.nodes[1].W[:5]))
    True
    """

    cached = ("x_shape",)

    def __init__(self, max_len: int, *, init=None, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        _check_scheme("PositionalEmbedding", init)
        if isinstance(max_len, bool) or int(max_len) != max_len or max_len < 1:
            raise ValueError(f"PositionalEmbedding: max_len must be a positive integer, got {max_len!r}")
        self.max_len = int(max_len)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 2:
            raise ValueError(f"{self.name}: expects sequences (N, T, E), got (N, {', '.join(map(str, in_shape))})")
        if in_shape[0] > self.max_len:
            raise ValueError(f"{self.name}: sequences of T = {in_shape[0]} steps exceed max_len = {self.max_len}")
        self.params = (("W", (self.max_len, in_shape[1])),)
        return in_shape

    def init(self, rng: np.random.Generator, default=None) -> None:
        if callable(self.init_scheme):
            self.init_scheme(rng, self.W, None)
        else:
            self.W[...] = rng.standard_normal(self.W.shape)

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != 3 or x.shape[1] > self.max_len or x.shape[2] != self.W.shape[1]:
            raise ValueError(f"{self.name}: expects (N, T ≤ {self.max_len}, {self.W.shape[1]}), got {x.shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self.x_shape = x.shape
        return np.add(x, self.W[:x.shape[1]], out=self.buffer("y", x.shape))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        T = dy.shape[1]
        np.add.reduce(dy, axis=0, out=self.dW[:T])
        self.dW[T:] = 0.0
        return dy

    def rforward(self, v: np.ndarray, rx):
        V, T = self.views(v)["W"], self.x_shape[1]
        ry = self.buffer("ry", self.x_shape)
        return np.add(0.0 if rx is None else rx, V[:T], out=ry)

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        H, T = self.views(hv)["W"], rdy.shape[1]
        np.add.reduce(rdy, axis=0, out=H[:T])
        H[T:] = 0.0
        return rdy

    def get_config(self) -> dict:
        return {"max_len": self.max_len, **super().get_config()}
