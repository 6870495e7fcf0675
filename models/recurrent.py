"""Recurrent nets: a sequence classifier (row-by-row MNIST), a sequence regressor (the addition
problem) and the addition problem's data.

``sequence_classifier``: x (N, T, F) → LSTM/GRU/SimpleRNN(units) → Dense(n_classes) → Softmax →
CrossEntropy. On the standard 8,000/2,000 split of the bundled digits read as 28 rows of 28 pixels,
LSTM-128 with Adam 1e-3, batch 64 (``TRAINING``) reaches the held-out accuracy stated in
docs/recurrent.md (``examples/rnn_mnist.py``).

``sequence_regressor``: the same with one linear output and squared error. ``addition_problem``
(Hochreiter & Schmidhuber 1997; the form of Le et al. 2015): each step holds (value, marker), values
U(0, 1), two markers, one in each half of the sequence; the target is the sum of the two marked
values. Always answering 1 gives MSE 1/6 ≈ 0.167; "solved" is MSE < 0.01.
"""
from __future__ import annotations

import numpy as np

import tinygraph as tg

CELLS = {"lstm": tg.LSTM, "gru": tg.GRU, "rnn": tg.SimpleRNN}
DEFAULTS = {"cell": "lstm", "units": 128}


def __getattr__(name: str):
    # TRAINING holds an optimizer, which keeps state: every read gets a fresh Adam.
    if name == "TRAINING":
        return {"optimizer": tg.optim.Adam(1e-3), "batch_size": 64, "epochs": 10}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cell(cell: str, units: int, who: str):
    if cell not in CELLS:
        raise ValueError(f"{who}: cell must be one of {sorted(CELLS)}, got {cell!r}")
    return CELLS[cell](units)


def sequence_classifier(input_shape=(28, 28), n_classes: int = 10, *, cell: str = DEFAULTS["cell"],
                        units: int = DEFAULTS["units"], random_state=None,
                        dtype=np.float64) -> tg.Sequential:
    """Recurrent layer (last hidden state) → Dense(n_classes) → Softmax → CrossEntropy."""
    layers = [_cell(cell, units, "sequence_classifier"), tg.Dense(n_classes), tg.Softmax(),
              tg.CrossEntropy()]
    return tg.Sequential(layers, input_shape=input_shape, random_state=random_state, dtype=dtype)


def sequence_regressor(input_shape, n_outputs: int = 1, *, cell: str = DEFAULTS["cell"],
                       units: int = DEFAULTS["units"], random_state=None,
                       dtype=np.float64) -> tg.Sequential:
    """Recurrent layer (last hidden state) → Dense(n_outputs) → MeanSquaredError."""
    layers = [_cell(cell, units, "sequence_regressor"), tg.Dense(n_outputs), tg.MeanSquaredError()]
    return tg.Sequential(layers, input_shape=input_shape, random_state=random_state, dtype=dtype)


def addition_problem(n: int, T: int, random_state=None, dtype=np.float64) -> tuple:
    """X (n, T, 2): (value, marker) per step; y (n,): the sum of the two marked values."""
    if T < 2:
        raise ValueError(f"addition_problem: T must be at least 2, got {T}")
    rng = np.random.default_rng(random_state)
    X = np.zeros((n, T, 2), dtype=dtype)
    X[:, :, 0] = rng.random((n, T))
    rows = np.arange(n)
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    X[rows, first, 1] = X[rows, second, 1] = 1.0
    return X, X[rows, first, 0] + X[rows, second, 0]


def mnist_rows(dtype=np.float64, test_size: int = 2000, random_state=0) -> tuple:
    """The bundled digits as sequences of 28 rows of 28 pixels, split 8,000/2,000 (the standard split)."""
    X, y = tg.datasets.load_mnist(dtype=dtype)
    return tg.datasets.train_test_split(X.reshape(-1, 28, 28), y, test_size=test_size,
                                        random_state=random_state)
