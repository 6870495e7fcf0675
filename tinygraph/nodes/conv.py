"""2-D convolution over NCHW images (contract in ``tinygraph.nodes.node``).

One matrix product per pass: the input is copied once into columns (im2col, a loop over the kh·kw
kernel offsets, each a strided slice copy), and every product of the layer is a GEMM on those
columns. Inside the layer the images are kept batch-last, (C, H, W, N), when the output is small
(Ho·Wo < ``BATCH_LAST_BELOW``): the slices copied and added then have contiguous runs of Wo·N
values instead of Wo, which made im2col 1.7× and col2im 2–4× faster on LeNet's second convolution;
large outputs stay (C, N, H, W), whose transposes to NCHW and back are cheaper there.
"""
from __future__ import annotations

import numpy as np

from .initializers import get_initializer
from .node import Node

__all__ = ["Conv2D", "pair"]

BATCH_LAST_BELOW = 256


def pair(value: int | tuple, who: str, what: str, minimum: int = 1) -> tuple:
    """An int or a pair of ints (≥ minimum) as a pair.

    Parameters
    ----------
    value : int or (int, int)
        The size, stride or padding to check.
    who, what : str
        The node and the argument, named in the error message.
    minimum : int, default 1
        The smallest allowed entry.

    Returns
    -------
    (int, int)

    Raises
    ------
    ValueError
        ``value`` is not an int ≥ ``minimum`` or a pair of them.

    Examples
    --------
    >>> from tinygraph.nodes.conv import pair
    >>> pair(3, "Conv2D", "kernel_size"), pair((0, 1), "Conv2D", "padding", minimum=0)
    ((3, 3), (0, 1))
    """
    vals = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        vals = tuple(vals)
        ok = len(vals) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                    and v >= minimum for v in vals)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{who}: {what} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(vals[0]), int(vals[1])


def pair_text(pair: tuple) -> str:
    """``(2, 2)`` -> ``'2'``, ``(1, 2)`` -> ``'1×2'``: a kernel, stride or padding as a picture shows it."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


class Conv2D(Node):
    """2-D convolution (cross-correlation, as PyTorch's ``conv2d``).

    forward:  y[n,o,h,w] = b[o] + Σ_{c,i,j} W[o,c,i,j] xp[n,c,h·s+i,w·s+j]   (xp: x zero-padded);
              as a product, Y = W₂ X_col + b with X_col the im2col columns of x
    backward: dW₂ = dY X_colᵀ,  db = Σ_{n,h,w} dy,  dx = col2im(W₂ᵀ dY)
    R-forward (bilinear):  R{y} = conv(R{x}, W) + conv(x, V_W) + V_b
    R-backward: R{dW₂} = R{dY} X_colᵀ + dY R{X_col}ᵀ,  R{db} = Σ R{dy},
                R{dx} = col2im(W₂ᵀ R{dY} + V_W₂ᵀ dY)
    x, dx: (N, C, H, W); W: (out_channels, C, kh, kw); b: (out_channels,); y, dy: (N, out_channels,
    Ho, Wo) with Ho = (H + pad_top + pad_bottom - kh) // sh + 1 (likewise Wo).
    ``padding``: an int or a pair (rows, columns), or "same" (stride 1: Ho = H; an odd total
    goes to the bottom/right, as PyTorch). The in_channels C come from the input at build time.
    Initial weights: the model's scheme on W seen as (C·kh·kw, out_channels): fan-in C·kh·kw.

    Parameters
    ----------
    out_channels : int
        Output channels (filters), ≥ 1.
    kernel_size : int or (int, int)
        (kh, kw); an int k means (k, k).
    stride : int or (int, int), default 1
        (sh, sw), the step between windows.
    padding : int, (int, int) or "same", default 0
        Zeros added on each side (rows, columns); "same" keeps H × W (stride 1 only).
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
        A size, stride or padding that is not a positive int (padding: ≥ 0) or a pair of them;
        "same" with a stride other than 1; an unknown ``init`` name; at build, inputs not images
        (N, C, H, W) or a kernel larger than the padded image.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Conv2D(4, 3, padding="same"), tg.ReLU(), tg.MaxPool2D(2), tg.Flatten(),
    ...                        tg.Dense(10), tg.Softmax(), tg.CrossEntropy()], input_shape=(1, 8, 8),
    ...                       random_state=0)
    >>> model.forward(np.ones((2, 1, 8, 8))).shape
    (2, 10)
    >>> errors = tg.check_node_gradients(tg.Conv2D(2, 3, stride=2, padding=1), (1, 5, 5))
    >>> max(errors.values()) < 1e-6
    True
    """

    cached = ("cols", "rcols", "rx", "_zeroed")
    regularized = ("W",)

    def __init__(self, out_channels: int, kernel_size: int | tuple, *, stride: int | tuple = 1,
                 padding: int | tuple | str = 0, init=None, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        if not isinstance(out_channels, (int, np.integer)) or isinstance(out_channels, bool) or out_channels < 1:
            raise ValueError(f"Conv2D: out_channels must be a positive int, got {out_channels!r}")
        self.out_channels = int(out_channels)
        self.kernel_size = pair(kernel_size, "Conv2D", "kernel_size")
        self.stride = pair(stride, "Conv2D", "stride")
        if padding == "same":
            if self.stride != (1, 1):
                raise ValueError(f"Conv2D: padding='same' needs stride 1, got stride={stride!r}")
            self.padding = "same"
        else:
            self.padding = pair(padding, "Conv2D", "padding", minimum=0)
        if init is not None:
            get_initializer(init)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: expects images of shape (N, C, H, W), got (N, "
                             f"{', '.join(map(str, in_shape))}); give Input/Sequential input_shape=(C, H, W)")
        C, H, W = in_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self.padding == "same":
            self.pads = ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)  # (top, bottom, left, right)
        else:
            self.pads = (self.padding[0], self.padding[0], self.padding[1], self.padding[1])
        top, bottom, left, right = self.pads
        self.padded = (H + top + bottom, W + left + right)
        Ho, Wo = (self.padded[0] - kh) // sh + 1, (self.padded[1] - kw) // sw + 1
        if self.padded[0] < kh or self.padded[1] < kw:
            raise ValueError(f"{self.name}: a {kh}×{kw} kernel does not fit images of {H}×{W} "
                             f"padded by {self.pads} (top, bottom, left, right)")
        self.params = (("W", (self.out_channels, C, kh, kw)), ("b", (self.out_channels,)))
        self.batch_last = Ho * Wo < BATCH_LAST_BELOW
        return (self.out_channels, Ho, Wo)

    def init(self, rng: np.random.Generator, default=None) -> None:
        scheme = default if self.init_scheme is None else self.init_scheme
        get_initializer(scheme)(rng, self.W.reshape(self.out_channels, -1).T, self.b)

    def _internal(self, n: int, key: str, channels: int, spatial: tuple) -> np.ndarray:
        """A buffer in the layer's inner layout: (C, H, W, N) batch-last, else (C, N, H, W)."""
        shape = (channels, *spatial, n) if self.batch_last else (channels, n, *spatial)
        return self.buffer(key, shape)

    def _to_nchw_view(self, a: np.ndarray) -> np.ndarray:
        """The NCHW view of an array in the inner layout."""
        return a.transpose(3, 0, 1, 2) if self.batch_last else a.transpose(1, 0, 2, 3)

    def _windows(self, a: np.ndarray, i: int, j: int) -> np.ndarray:
        """The input values kernel offset (i, j) meets at every output position, from a padded
        array in the inner layout."""
        (Ho, Wo), (sh, sw) = self.out_shape[1:], self.stride
        rows, cols = slice(i, i + (Ho - 1) * sh + 1, sh), slice(j, j + (Wo - 1) * sw + 1, sw)
        return a[:, rows, cols] if self.batch_last else a[:, :, rows, cols]

    def _inner_out(self, n: int) -> tuple:
        Ho, Wo = self.out_shape[1:]
        return (Ho, Wo, n) if self.batch_last else (n, Ho, Wo)

    def _interior(self, a: np.ndarray) -> np.ndarray:
        """The unpadded part of a padded array in the inner layout."""
        (_, H, W), (top, _, left, _) = self.in_shapes[0], self.pads
        rows, cols = slice(top, top + H), slice(left, left + W)
        return a[:, rows, cols] if self.batch_last else a[:, :, rows, cols]

    def _im2col(self, x: np.ndarray, key: str) -> np.ndarray:
        """The columns (C·kh·kw, N·Ho·Wo) of x, in a buffer of this node's (``key``)."""
        n, C = x.shape[0], x.shape[1]
        kh, kw = self.kernel_size
        xp = self._internal(n, key + "_pad", C, self.padded)
        zeroed = self.__dict__.setdefault("_zeroed", {})  # dropped by pickling, like the buffers
        if any(self.pads) and zeroed.get(key) is not xp:
            xp[...] = 0.0  # the border is never written again: zero it once per buffer
            zeroed[key] = xp
        np.copyto(self._to_nchw_view(self._interior(xp)), x)
        cols = self._internal(n, key, C * kh * kw, self.out_shape[1:])
        cols6 = cols.reshape(C, kh, kw, *cols.shape[1:])
        for i in range(kh):
            for j in range(kw):
                np.copyto(cols6[:, i, j], self._windows(xp, i, j))
        return cols.reshape(C * kh * kw, -1)

    def _col2im(self, dcols: np.ndarray, n: int, key: str) -> np.ndarray:
        """The adjoint of ``_im2col``: every column entry added back where it was copied from
        (a strided ``+=`` per kernel offset; ``np.add.at`` on indices was 3–7× slower)."""
        C = self.in_shapes[0][0]
        kh, kw = self.kernel_size
        dxp = self._internal(n, "col2im", C, self.padded)  # one scratch for dx and R{dx}: buffers stay ≤ 16
        dxp[...] = 0.0
        d6 = dcols.reshape(C, kh, kw, *self._inner_out(n))
        for i in range(kh):
            for j in range(kw):
                self._windows(dxp, i, j)[...] += d6[:, i, j]
        dx = self.buffer(key, (n, *self.in_shapes[0]))
        np.copyto(dx, self._to_nchw_view(self._interior(dxp)))
        return dx

    def _to_inner(self, dy: np.ndarray, key: str) -> np.ndarray:
        """dy (N, O, Ho, Wo) as (O, N·Ho·Wo) in the inner layout (one transposing copy)."""
        out = self._internal(dy.shape[0], key, self.out_channels, self.out_shape[1:])
        np.copyto(self._to_nchw_view(out), dy)
        return out.reshape(self.out_channels, -1)

    def _to_output(self, Y: np.ndarray, key: str) -> np.ndarray:
        """Y (O, N·Ho·Wo) in the inner layout as a fresh NCHW buffer."""
        n = Y.shape[1] // (self.out_shape[1] * self.out_shape[2])
        y = self.buffer(key, (n, *self.out_shape))
        np.copyto(y, self._to_nchw_view(Y.reshape(self.out_channels, *self._inner_out(n))))
        return y

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.cols = self._im2col(x, "cols")
        Y = np.matmul(self.W.reshape(self.out_channels, -1), self.cols,
                      out=self.buffer("Y", (self.out_channels, self.cols.shape[1])))
        Y += self.b[:, None]
        return self._to_output(Y, "y")

    def backward(self, dy: np.ndarray):
        O = self.out_channels
        dyt = self._to_inner(dy, "dyt")
        np.matmul(dyt, self.cols.T, out=self.dW.reshape(O, -1))
        np.add.reduce(dyt, axis=1, out=self.db)
        if not self.need_dx:  # the first layer: no col2im
            return None
        dcols = np.matmul(self.W.reshape(O, -1).T, dyt, out=self.buffer("dcols", self.cols.shape))
        return self._col2im(dcols, dy.shape[0], "dx")

    def rforward(self, v: np.ndarray, rx):
        V, self.rx, O = self.views(v), rx, self.out_channels
        RY = np.matmul(V["W"].reshape(O, -1), self.cols, out=self.buffer("RY", (O, self.cols.shape[1])))
        RY += V["b"][:, None]
        self.rcols = None
        if rx is not None:
            self.rcols = self._im2col(rx, "rcols")
            RY += np.matmul(self.W.reshape(O, -1), self.rcols, out=self.buffer("Y", RY.shape))
        return self._to_output(RY, "ry")

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        H, O = self.views(hv), self.out_channels
        rdyt = self._to_inner(rdy, "rdyt")
        np.matmul(rdyt, self.cols.T, out=H["W"].reshape(O, -1))
        np.add.reduce(rdyt, axis=1, out=H["b"])
        dyt = None if dy is None else self._to_inner(dy, "dyt")
        if dyt is not None and self.rcols is not None:
            H["W"].reshape(O, -1)[...] += np.matmul(dyt, self.rcols.T, out=self.buffer("rdW", (O, self.cols.shape[0])))
        if not self.need_dx:
            return None
        dcols = np.matmul(self.W.reshape(O, -1).T, rdyt, out=self.buffer("dcols", self.cols.shape))
        if dyt is not None:
            dcols += np.matmul(self.views(v)["W"].reshape(O, -1).T, dyt, out=self.buffer("rdcols", dcols.shape))
        return self._col2im(dcols, rdy.shape[0], "rdx")

    def geometry(self) -> str:
        """``20@5×5, stride 1`` (and the padding, if any): out channels @ kernel, stride."""
        (kh, kw) = self.kernel_size
        text = f"{self.out_channels}@{kh}×{kw}, stride {pair_text(self.stride)}"
        if self.padding == "same" or any(self.padding):
            text += ", padding " + (self.padding if self.padding == "same" else pair_text(self.padding))
        return text

    def get_config(self) -> dict:
        init = self.init_scheme if isinstance(self.init_scheme, str) else None
        padding = self.padding if self.padding == "same" else list(self.padding)
        return {"out_channels": self.out_channels, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": padding, "init": init, **super().get_config()}
