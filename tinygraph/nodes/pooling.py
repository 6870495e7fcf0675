"""Pooling over NCHW images (contract in ``tinygraph.nodes.node``).

Max and average pooling run as a loop over the ph·pw window offsets, each a strided slice of x the
size of the output (four for 2×2): no window copy of x, and the same code whether windows tile the
input, overlap or leave a remainder (the last rows and columns that start no window get dx = 0).
"""
from __future__ import annotations

import numpy as np

from .conv import pair, pair_text
from .node import Node

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "MaxPool2D"]


def _check_images(node: Node, in_shape: tuple) -> tuple:
    if len(in_shape) != 3:
        raise ValueError(f"{node.name}: expects images of shape (N, C, H, W), got (N, "
                         f"{', '.join(map(str, in_shape))})")
    return in_shape


class _LinearPool:
    """The four passes of a linear pooling from its ``_pool(key, x)`` and ``_spread(key, dy)``: the
    R-operators are the forward on R{x} and the backward on R{dy}, each into its own buffer."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._pool("y", x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._spread("dx", dy)

    def rforward(self, v: np.ndarray, rx):
        return None if rx is None else self._pool("ry", rx)

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        return self._spread("rdx", rdy)


class _Pool2D(Node):
    """Windows of ``pool_size`` every ``stride`` (default: the pool size, windows side by side)."""

    def __init__(self, pool_size: int | tuple, stride: int | tuple | None = None, *, name: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        who = type(self).__name__
        self.pool_size = pair(pool_size, who, "pool_size")
        self.stride = self.pool_size if stride is None else pair(stride, who, "stride")

    def build(self, in_shape: tuple) -> tuple:
        C, H, W = _check_images(self, in_shape)
        (ph, pw), (sh, sw) = self.pool_size, self.stride
        if H < ph or W < pw:
            raise ValueError(f"{self.name}: a {ph}×{pw} window does not fit images of {H}×{W}")
        Ho, Wo = (H - ph) // sh + 1, (W - pw) // sw + 1
        self.offsets = [(i, j) for i in range(ph) for j in range(pw)]
        # windows that neither overlap nor leave a gap: each x sits in exactly one, dx needs no zeroing
        self.tiles = (sh, sw) == (ph, pw) and (H, W) == (Ho * ph, Wo * pw)
        self.disjoint = sh >= ph and sw >= pw
        return (C, Ho, Wo)

    def _window(self, x: np.ndarray, i: int, j: int) -> np.ndarray:
        """x at offset (i, j) of every window: (N, C, Ho, Wo), a strided view."""
        (Ho, Wo), (sh, sw) = self.out_shape[1:], self.stride
        return x[:, :, i:i + (Ho - 1) * sh + 1:sh, j:j + (Wo - 1) * sw + 1:sw]

    def _scatter(self, key: str, n: int, parts) -> np.ndarray:
        """dx from ``parts``, an iterable of (offset, out -> the values at that offset written into out)."""
        dx = self.buffer(key, (n, *self.in_shapes[0]))
        if not self.tiles:
            dx[...] = 0.0
        tmp = None if self.disjoint else self.buffer(key + "_tmp", (n, *self.out_shape))
        for (i, j), write in parts:
            if self.disjoint:  # every x in at most one window: write in place
                write(self._window(dx, i, j))
            else:
                self._window(dx, i, j)[...] += write(tmp)
        return dx

    def geometry(self) -> str:
        """``2×2 windows, stride 2``."""
        return f"{self.pool_size[0]}×{self.pool_size[1]} windows, stride {pair_text(self.stride)}"

    def get_config(self) -> dict:
        return {"pool_size": list(self.pool_size), "stride": list(self.stride), **super().get_config()}


class MaxPool2D(_Pool2D):
    """Max pooling over windows.

    forward:  y[n,c,h,w] = max_{i,j} x[n,c,h·sh+i,w·sw+j];  k* = the first offset reaching it
    backward: dx = dy routed to the argmax k* of each window (added where windows overlap)
    R-forward: R{y} = R{x} at k*;  R-backward: R{dx} = R{dy} routed as dy  (zero Hessian)
    x, dx: (N, C, H, W); y, dy: (N, C, Ho, Wo), Ho = (H - ph) // sh + 1 (likewise Wo).
    Ties go to the first offset in row-major window order, as PyTorch's ``max_pool2d``.

    Parameters
    ----------
    pool_size : int or (int, int)
        (ph, pw), the window; an int k means (k, k).
    stride : int or (int, int), optional
        (sh, sw), the step between windows; default the pool size (windows side by side).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``pool_size`` or ``stride`` not a positive int or a pair of them; at build, inputs not
        images (N, C, H, W) or a window larger than the image.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.MaxPool2D(2)], input_shape=(1, 4, 4))
    >>> model.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> errors = tg.check_node_gradients(tg.MaxPool2D(3, stride=2), (2, 5, 5))
    >>> max(errors.values()) < 1e-6
    True
    """

    cached = ("masks",)

    def __init__(self, pool_size: int | tuple, stride: int | tuple | None = None, *, name: str | None = None,
                 trainable: bool = True):  # its own signature: errors on bad arguments name this class
        super().__init__(pool_size, stride, name=name, trainable=trainable)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.buffer("y", (x.shape[0], *self.out_shape))
        np.copyto(y, self._window(x, 0, 0))
        for i, j in self.offsets[1:]:
            np.maximum(y, self._window(x, i, j), out=y)
        # the argmax as one mask per offset: equal to the max and not taken by an earlier offset
        # (an index array updated by np.copyto(..., where=) took over 10× as long on LeNet's first pool)
        self.masks = masks = self.buffer("masks", (len(self.offsets), *y.shape), bool)
        taken = self.buffer("taken", y.shape, bool)
        for k, (i, j) in enumerate(self.offsets):
            np.equal(self._window(x, i, j), y, out=masks[k])
            if k:
                np.greater(masks[k], taken, out=masks[k])  # m and not taken
                np.logical_or(taken, masks[k], out=taken)
            else:
                np.copyto(taken, masks[0])
        return y

    def _route(self, key: str, dy: np.ndarray) -> np.ndarray:
        return self._scatter(key, dy.shape[0], (
            (off, lambda out, m=m: np.multiply(dy, m, out=out)) for off, m in zip(self.offsets, self.masks)))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._route("dx", dy)

    def rforward(self, v: np.ndarray, rx):
        if rx is None:
            return None
        ry = self.buffer("ry", (rx.shape[0], *self.out_shape))
        tmp = self.buffer("ry_tmp", ry.shape)
        for k, ((i, j), m) in enumerate(zip(self.offsets, self.masks)):
            np.multiply(self._window(rx, i, j), m, out=ry if k == 0 else tmp)
            if k:
                ry += tmp
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray) -> np.ndarray:
        return self._route("rdx", rdy)


class AvgPool2D(_LinearPool, _Pool2D):
    """Average pooling over windows (linear, so its R-operators are its forward and backward).

    forward:  y[n,c,h,w] = (1 / ph·pw) Σ_{i,j} x[n,c,h·sh+i,w·sw+j]
    backward: dx[n,c,h·sh+i,w·sw+j] += dy[n,c,h,w] / (ph·pw)   for every offset (i, j)
    R{y} = forward(R{x});  R{dx} = backward(R{dy})
    x, dx: (N, C, H, W); y, dy: (N, C, Ho, Wo), as MaxPool2D.

    Parameters
    ----------
    pool_size : int or (int, int)
        (ph, pw), the window; an int k means (k, k).
    stride : int or (int, int), optional
        (sh, sw), the step between windows; default the pool size (windows side by side).
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        ``pool_size`` or ``stride`` not a positive int or a pair of them; at build, inputs not
        images (N, C, H, W) or a window larger than the image.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.AvgPool2D(2)], input_shape=(1, 4, 4))
    >>> model.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> errors = tg.check_node_gradients(tg.AvgPool2D(3, stride=2), (2, 5, 5))
    >>> max(errors.values()) < 1e-6
    True
    """

    def __init__(self, pool_size: int | tuple, stride: int | tuple | None = None, *, name: str | None = None,
                 trainable: bool = True):  # its own signature: errors on bad arguments name this class
        super().__init__(pool_size, stride, name=name, trainable=trainable)

    def _pool(self, key: str, x: np.ndarray) -> np.ndarray:
        y = self.buffer(key, (x.shape[0], *self.out_shape))
        np.copyto(y, self._window(x, 0, 0))
        for i, j in self.offsets[1:]:
            y += self._window(x, i, j)
        y *= 1.0 / len(self.offsets)
        return y

    def _spread(self, key: str, dy: np.ndarray) -> np.ndarray:
        scale = 1.0 / len(self.offsets)
        return self._scatter(key, dy.shape[0], (
            (off, lambda out: np.multiply(dy, scale, out=out)) for off in self.offsets))


class GlobalAvgPool2D(_LinearPool, Node):
    """The mean of each channel over all positions (linear).

    forward:  y[n,c] = (1 / H·W) Σ_{h,w} x[n,c,h,w]
    backward: dx[n,c,h,w] = dy[n,c] / (H·W)
    R{y} = forward(R{x});  R{dx} = backward(R{dy})
    x, dx: (N, C, H, W); y, dy: (N, C).

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        Kept for a uniform signature: the node has no parameters, so there is nothing to freeze.

    Raises
    ------
    ValueError
        At build: inputs not images (N, C, H, W).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Conv2D(8, 3), tg.ReLU(), tg.GlobalAvgPool2D(), tg.Dense(2),
    ...                        tg.Softmax(), tg.CrossEntropy()], input_shape=(3, 6, 6), random_state=0)
    >>> model.forward(np.ones((4, 3, 6, 6))).shape
    (4, 2)
    >>> errors = tg.check_node_gradients(tg.GlobalAvgPool2D(), (2, 3, 3))
    >>> max(errors.values()) < 1e-6
    True
    """

    def build(self, in_shape: tuple) -> tuple:
        return (_check_images(self, in_shape)[0],)

    def _pool(self, key: str, x: np.ndarray) -> np.ndarray:
        y = np.add.reduce(x.reshape(x.shape[0], x.shape[1], -1), axis=2,
                          out=self.buffer(key, (x.shape[0], x.shape[1])))
        y *= 1.0 / (x.shape[2] * x.shape[3])
        return y

    def _spread(self, key: str, dy: np.ndarray) -> np.ndarray:
        C, H, W = self.in_shapes[0]
        dx = self.buffer(key, (dy.shape[0], C, H, W))
        np.multiply(dy[:, :, None, None], 1.0 / (H * W), out=dx)
        return dx
