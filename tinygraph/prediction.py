"""Evaluation-mode outputs of a model: ``forward``, ``predict_proba``, ``predict``, ``score``
(``Graph`` derives from ``Prediction``).

These run in evaluation mode (running statistics, no dropout; see ``tinygraph.nodes.node``) and are
safe from many threads at once (``tinygraph.parallel.locking``): each call runs on the model's own
buffers when they are free, else on a spare replica. X runs in chunks of rows whose activations
take at most ``_CHUNK_BYTES`` (at least 64 rows: numpy's one-row product rounds differently), so
memory stays bounded for any N, and the buffers a call allocated are released when it returns
(those of training are kept): a model holds no gigabytes after it answered. Each row's output is
computed from that row alone; with one BLAS thread the chunked outputs equal one whole-X pass bit
for bit (OpenBLAS; more threads split a product differently with its size, chunked or not).
Classification models (CrossEntropy, Hinge) predict class indices and score accuracy; any other
predicts its outputs and scores R².
"""
from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from .nodes import CrossEntropy, Hinge

__all__ = ["Prediction"]

_CHUNK_BYTES = 32 << 20  # the activations of one evaluation chunk
_MIN_CHUNK = 64  # rows


def _release(model, kept: list) -> None:
    """Drop the buffers each node allocated since ``kept`` (its keys before). What the last pass cached
    for a backward (``node.cached``) stays until the next pass: at most one chunk's arrays."""
    for node, keys in zip(model.nodes, kept):
        for k in [k for k in node._buffers if k not in keys]:
            del node._buffers[k]


class Prediction:
    """Evaluation-mode outputs; see the module docstring."""

    def forward(self, X, theta=None, *, training: bool = False) -> np.ndarray:
        """The output (the loss node's input, e.g. probabilities) for X, as a new array.

        Evaluation mode by default (running statistics, no dropout); ``training=True`` gives the
        training-mode output (batch statistics, dropout masks of the current ``noise_step``).
        Safe to call from many threads at once (so are ``predict``, ``predict_proba``, ``score``).

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.
        theta : ndarray (n_params,), optional
            Parameters to load into ``model.theta`` first (None: the model's current theta).
        training : bool, default False
            Run the training-mode forward instead.

        Returns
        -------
        ndarray (N, *output_shape)
            The output of the node before the loss, a new array.

        Examples
        --------
        >>> import numpy as np
        >>> import tinygraph as tg
        >>> model = tg.Sequential([tg.Dense(2, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> model.forward(X).shape
        (2, 3)
        >>> model.forward(X).sum(axis=1).round(6).tolist()
        [1.0, 1.0]
        >>> model.predict(X).shape
        (2,)
        """
        if theta is not None:
            with self._exclusive("forward(theta=...)"):
                self._load(theta)
        X = self._check_X(X)
        if not training:
            self._check_state("forward")
        return self._outputs(X, training)

    def _chunk_rows(self) -> int:
        """Rows per evaluation chunk: their outputs take at most ``_CHUNK_BYTES``, at least 64 rows."""
        per_row = sum(math.prod(node.out_shape) for _, node, _ in self._predict_plan) * self.dtype.itemsize
        return max(_MIN_CHUNK, _CHUNK_BYTES // max(per_row, 1))

    def _outputs(self, X, training: bool = False) -> np.ndarray:
        """The output for checked X as a new array: evaluation mode chunk by chunk, training mode at once
        (batch statistics couple the rows); the buffers the call allocated are released afterwards."""
        def run(m):
            kept = [set(node._buffers) for node in m.nodes]
            try:
                n = X.shape[0]
                if training or n <= m._chunk_rows():
                    return m._forward(X, m._predict_plan, training)[m._out_index].copy()
                out = None
                for start, stop in _chunks(n, m._chunk_rows()):
                    y = m._forward(X[start:stop], m._predict_plan, False)[m._out_index]
                    if out is None:
                        out = np.empty((n,) + y.shape[1:], y.dtype)
                    out[start:stop] = y
                return out
            finally:
                _release(m, kept)
        return self._run(run)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (N, K) of a cross-entropy model: the Sigmoid or Softmax output.

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.

        Returns
        -------
        ndarray (N, K), or (N, T, K) for per-step targets
            The probabilities (K = 1 for one Sigmoid unit).

        Raises
        ------
        TypeError
            The model's loss is not ``CrossEntropy``.
        """
        if not isinstance(self.loss, CrossEntropy):
            raise TypeError(f"predict_proba needs a CrossEntropy loss; this graph ends in {self.loss!r}")
        return self.forward(X)

    def predict(self, X) -> np.ndarray:
        """Class indices 0..K-1 for a cross-entropy or hinge model (one output: p > 0.5, z > 0); else outputs.

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.

        Returns
        -------
        ndarray
            Class indices (N,) of dtype intp for a classification model; otherwise the outputs,
            (N,) for one output, else (N, K). Per-step targets give (N, T) indices, (N, T) or
            (N, T, K) outputs.
        """
        X = self._check_X(X)
        self._check_state("predict")
        return self._decide(self._outputs(X))

    def _decide(self, out: np.ndarray) -> np.ndarray:
        if isinstance(self.loss, (CrossEntropy, Hinge)):
            cut = 0.5 if isinstance(self.loss, CrossEntropy) else 0.0  # a probability, or a score
            return out.argmax(axis=-1) if out.shape[-1] > 1 else (out[..., 0] > cut).astype(np.intp)
        return out[..., 0] if out.shape[-1] == 1 else out

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for a cross-entropy or hinge model, R² for any other; y is checked as the loss's target.

        With per-step targets every position counts once: the accuracy over all N·T positions, or
        over the weighted ones (``sample_weight`` (N, T) of 0/1 masks padding).

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.
        y : ndarray
            Targets as the loss takes them: labels (N,) or one-hot (N, K) for a classifier; (N, T)
            labels for per-step targets.
        sample_weight : ndarray (N,) or (N, T), optional
            Weights of the rows or positions (scikit-learn's ``accuracy_score`` and ``r2_score``).

        Returns
        -------
        float
            The (weighted) fraction of positions classified right, or R² (1.0 is perfect), in
            evaluation mode.
        """
        X, y, sw = self._check_data(X, y, sample_weight)
        self._check_state("score")
        return self._score(self._outputs(X), y, sw)  # X checked once

    def _score(self, out: np.ndarray, y: np.ndarray, sample_weight=None) -> float:
        """Accuracy or R² of the output ``out`` against targets (and weights) already checked."""
        pred = self._decide(out)
        positions = out.shape[:-1]  # (N,), or (N, T) for per-step targets
        w = None
        if sample_weight is not None:  # one weight per position: a row's weight spreads over its steps
            extra = (1,) * (len(positions) - sample_weight.ndim)
            w = np.broadcast_to(sample_weight.reshape(sample_weight.shape + extra), positions).reshape(-1)
        if isinstance(self.loss, (CrossEntropy, Hinge)):
            labels = (y if y.ndim == len(positions) else y.argmax(axis=-1) if y.shape[-1] > 1
                      else y[..., 0] > 0.5)
            hit = (pred == labels).reshape(-1)
            return float(hit.mean()) if w is None else float(np.dot(w, hit) / w.sum())
        y, pred = y.reshape(-1, out.shape[-1]), pred.reshape(-1, out.shape[-1])  # positions × outputs
        if w is None:
            res, tot = ((y - pred) ** 2).sum(), ((y - y.mean(axis=0)) ** 2).sum()
        else:
            mean = w @ y / w.sum()
            res, tot = w @ ((y - pred) ** 2).sum(axis=1), w @ ((y - mean) ** 2).sum(axis=1)
        return float(1.0 - res / max(tot, 1e-300))


def _chunks(n: int, size: int) -> list:
    """``[(start, stop)]`` of ``size`` rows covering n, a last chunk under 64 rows joined to the one before."""
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < _MIN_CHUNK:
        del bounds[-2]
    return list(pairwise(bounds))
