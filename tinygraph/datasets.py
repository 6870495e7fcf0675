"""Data readers: a general IDX reader, the MNIST test set and tiny Shakespeare bundled with the package.

IDX (the MNIST format): two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian int32,
then the data, big-endian. Files may be gzip-compressed (``.gz``).
"""
from __future__ import annotations

import gzip
import os
from importlib import resources

import numpy as np

from .validation import check_random_state

__all__ = ["load_idx", "load_mnist", "load_tinyshakespeare", "train_test_split"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_TEST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
SHAKESPEARE = "tinyshakespeare.txt.gz"


def load_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its stored shape and type.

    Parameters
    ----------
    path : str or path-like
        The file, plain or gzip-compressed.

    Returns
    -------
    ndarray
        The stored shape, the stored type in native byte order.

    Raises
    ------
    ValueError
        Not a gzip or IDX file, a header or body cut short, or extra bytes.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (header bytes {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header cut short ({len(raw)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX shape {shape} needs {expected} bytes, the file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(images=None, labels=None, *, dtype=np.float64) -> tuple:
    """MNIST as ``(X, y)``: X (N, 784) scaled to [0, 1], y (N,) int64 labels 0-9.

    With no paths, reads the 10,000-digit test set bundled with tinygraph; pass the paths of any
    IDX image/label pair (e.g. the 60,000-digit training set) to read those instead.

    Parameters
    ----------
    images, labels : str or path-like, optional
        An IDX image file and its label file; both or neither.
    dtype : numpy float type, default numpy.float64
        The dtype of X.

    Returns
    -------
    X : ndarray, shape (N, 784)
        Pixels scaled to [0, 1].
    y : ndarray of int64, shape (N,)
        Labels 0-9.

    Raises
    ------
    ValueError
        Only one path given, or images and labels that do not pair up.

    Examples
    --------
    >>> import tinygraph as tg
    >>> X, y = tg.datasets.load_mnist()
    >>> X.shape, y.shape, float(X.max()), sorted(set(y.tolist())) == list(range(10))
    ((10000, 784), (10000,), 1.0, True)
    """
    if (images is None) != (labels is None):
        raise ValueError("load_mnist: pass both images and labels, or neither")
    if images is None:
        data = resources.files("tinygraph") / "data"
        images, labels = (data / MNIST_TEST[0], data / MNIST_TEST[1])
    X, y = load_idx(images), load_idx(labels)
    if X.ndim < 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"load_mnist: images {X.shape} and labels {y.shape} do not pair up")
    X = X.reshape(len(X), -1).astype(dtype)
    X /= 255.0
    return X, y.astype(np.int64)


def load_tinyshakespeare() -> str:
    """Tiny Shakespeare (Karpathy's char-rnn corpus, public domain) as one string, bundled gzipped.

    1,115,394 characters from 65 distinct ones; nanoGPT's shakespeare-char split trains on the
    first 90% and validates on the rest.

    Returns
    -------
    str
        The whole text.

    Examples
    --------
    >>> import tinygraph as tg
    >>> text = tg.datasets.load_tinyshakespeare()
    >>> len(text), len(set(text)), text[:14]
    (1115394, 65, 'First Citizen:')
    """
    with gzip.open(resources.files("tinygraph") / "data" / SHAKESPEARE, "rt", encoding="utf-8") as f:
        return f.read()


def train_test_split(X, y, *, test_size: float = 0.2, random_state=0) -> tuple:
    """A shuffled split ``(X_train, X_test, y_train, y_test)``, like scikit-learn's.

    Parameters
    ----------
    X, y : array_like
        Rows to split (same length).
    test_size : float or int, default 0.2
        A fraction of the rows, or a number of rows.
    random_state : None, int or Generator, default 0
        The shuffle's seed.

    Returns
    -------
    tuple
        ``(X_train, X_test, y_train, y_test)``.

    Raises
    ------
    ValueError
        ``test_size`` leaves no train or no test rows.

    Examples
    --------
    >>> import tinygraph as tg
    >>> X, y = tg.datasets.load_mnist()
    >>> Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    >>> len(Xtr), len(Xte)
    (8000, 2000)
    """
    n = len(X)
    n_test = round(test_size * n) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size!r} leaves no train or test rows of {n}")
    order = check_random_state(random_state).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]
