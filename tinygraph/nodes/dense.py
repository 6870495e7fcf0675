"""The fully connected layer (contract in ``tinygraph.nodes.node``)."""
from __future__ import annotations

import numpy as np

from .initializers import get_initializer
from .node import Node

__all__ = ["Dense"]


class Dense(Node):
    """Fully connected layer.

    forward:  y = x W + b
    backward: dW = xᵀ dy,  db = Σ_n dy,  dx = dy Wᵀ
    R-forward (direction VW, Vb):  R{y} = R{x} W + x VW + Vb
    R-backward: R{dW} = R{x}ᵀ dy + xᵀ R{dy},  R{db} = Σ_n R{dy},  R{dx} = R{dy} Wᵀ + dy VWᵀ
    x: (N, n_in), W: (n_in, n_out), b: (n_out,), y and dy: (N, n_out), dx like x.
    ``Dense(n_out)`` takes n_in from its input at build time. On sequences x (N, T, n_in) it acts on
    the last axis, every step with the same W (Keras's time-distributed Dense): y (N, T, n_out),
    computed as the rows (N·T, n_in) of one product.

    Parameters
    ----------
    n_in : int or None
        Input features (the last axis of x). With one argument, ``Dense(n_out)``, it is taken from
        the input at build time.
    n_out : int, optional
        Output features. Omitted: the first argument is ``n_out``.
    init : str or callable, optional
        This node's initial-weight scheme (a name such as "glorot" or "he", or ``f(rng, W, b)``);
        default: the model's ``init``.
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        False freezes the node: ``tg.fit`` leaves its parameters as they are.

    Raises
    ------
    ValueError
        ``n_in`` or ``n_out`` not a positive integer, or an unknown ``init`` name; at build, inputs
        that are not (N, n_in) or (N, T, n_in).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> model.forward(np.ones((5, 4))).shape
    (5, 2)
    >>> sorted(tg.check_node_gradients(tg.Dense(3), (6, 4)))      # a sequence: W shared by the 6 steps
    ['W', 'b', 'x0']
    """

    cached = ("x", "rx", "x_shape")
    regularized = ("W",)

    def __init__(self, n_in: int | None, n_out: int | None = None, *, init=None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        if n_out is None:
            n_in, n_out = None, n_in
        for label, n in (("n_in", n_in), ("n_out", n_out)):
            if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
                raise ValueError(f"Dense: {label} must be a positive integer, got {n!r}")
        self.n_in = None if n_in is None else int(n_in)
        self.n_out = int(n_out)
        if init is not None:
            get_initializer(init)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) not in (1, 2):
            raise ValueError(f"{self.name}: expects inputs of shape (N, n_in) or sequences (N, T, n_in), "
                             f"got (N, {', '.join(map(str, in_shape))}); put a Flatten in front")
        if self.n_in is None:
            self.n_in = in_shape[-1]
        elif in_shape[-1] != self.n_in:
            raise ValueError(f"{self.name}: expects {self.n_in} input features, "
                             f"its input {self.inputs[0].name} gives {in_shape[-1]}")
        self.params = (("W", (self.n_in, self.n_out)), ("b", (self.n_out,)))
        return in_shape[:-1] + (self.n_out,)

    def init(self, rng: np.random.Generator, default=None) -> None:
        scheme = default if self.init_scheme is None else self.init_scheme
        get_initializer(scheme)(rng, self.W, self.b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2:
            return self._forward_rows(x)
        self.x, self.x_shape = x, None
        y = self.buffer("y", (x.shape[0], self.n_out))
        np.matmul(x, self.W, out=y)
        y += self.b
        return y

    def _forward_rows(self, x: np.ndarray) -> np.ndarray:
        """Sequences: every step a row of one (N·T, n_in) product; backward reads the rows."""
        self.x, self.x_shape = x.reshape(-1, self.n_in), x.shape
        y = self.buffer("y", x.shape[:-1] + (self.n_out,))
        np.matmul(self.x, self.W, out=y.reshape(-1, self.n_out))
        y += self.b
        return y

    def _rows(self, dy: np.ndarray) -> np.ndarray:
        return dy if self.x_shape is None else dy.reshape(-1, self.n_out)

    def _shaped(self, dx: np.ndarray) -> np.ndarray:
        return dx if self.x_shape is None else dx.reshape(self.x_shape)

    def backward(self, dy: np.ndarray):
        dy = self._rows(dy)
        np.matmul(self.x.T, dy, out=self.dW)
        np.add.reduce(dy, axis=0, out=self.db)  # np.sum's Python wrapper costs more than a small sum
        if not self.need_dx:  # the first layer: skipping dx saves an N×n_in product per step
            return None
        return self._shaped(np.matmul(dy, self.W.T, out=self.buffer("dx", self.x.shape)))

    def rforward(self, v: np.ndarray, rx):
        V = self.views(v)
        self.rx = rx if rx is None or self.x_shape is None else rx.reshape(-1, self.n_in)
        ry = np.matmul(self.x, V["W"], out=self.buffer("ry", (self.x.shape[0], self.n_out)))
        ry += V["b"]
        if rx is not None:
            ry += np.matmul(self.rx, self.W, out=self.buffer("rtmp", ry.shape))
        return ry if self.x_shape is None else ry.reshape(self.x_shape[:-1] + (self.n_out,))

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        rdy, dy = self._rows(rdy), None if dy is None else self._rows(dy)
        H = self.views(hv)
        np.matmul(self.x.T, rdy, out=H["W"])
        np.sum(rdy, axis=0, out=H["b"])
        if dy is not None and self.rx is not None:
            H["W"] += np.matmul(self.rx.T, dy, out=self.buffer("rdW", H["W"].shape))
        if not self.need_dx:
            return None
        rdx = np.matmul(rdy, self.W.T, out=self.buffer("rdx", self.x.shape))
        if dy is not None:
            rdx += np.matmul(dy, self.views(v)["W"].T, out=self.buffer("rtmp", rdx.shape))
        return self._shaped(rdx)

    def get_config(self) -> dict:
        init = self.init_scheme if isinstance(self.init_scheme, str) else None
        return {"n_in": self.n_in, "n_out": self.n_out, "init": init,
                **super().get_config()}
