"""Evaluation-mode outputs of a model: ``forward``, ``predict_proba``, ``predict``, ``score``
(``Graph`` derives from ``Prediction``).

These run in evaluation mode (running statistics, no dropout; see ``tinygraph.nodes.node``) and are
safe from many threads at once (``tinygraph.parallel.locking``): each call runs on the model's own buffers
when they are free, else on a spare replica. Classification models (CrossEntropy, Hinge) predict
class indices and score accuracy; any other predicts its outputs and scores R².
"""
from __future__ import annotations

import numpy as np

from .nodes import CrossEntropy, Hinge

__all__ = ["Prediction"]


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
        return self._run(lambda m: m._forward(X, m._predict_plan, training)[m._out_index].copy())

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (N, K) of a cross-entropy model: the Sigmoid or Softmax output.

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.

        Returns
        -------
        ndarray (N, K)
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
            (N,) for one output, else (N, K).
        """
        return self._decide(self.forward(X))

    def _decide(self, out: np.ndarray) -> np.ndarray:
        if isinstance(self.loss, (CrossEntropy, Hinge)):
            cut = 0.5 if isinstance(self.loss, CrossEntropy) else 0.0  # a probability, or a score
            return out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > cut).astype(np.intp)
        return out[:, 0] if out.shape[1] == 1 else out

    def score(self, X, y) -> float:
        """Accuracy for a cross-entropy or hinge model, R² for any other; y is checked as the loss's target.

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.
        y : ndarray
            Targets as the loss takes them: labels (N,) or one-hot (N, K) for a classifier.

        Returns
        -------
        float
            The fraction of rows classified right, or R² (1.0 is perfect), in evaluation mode.
        """
        X, y, _ = self._check_data(X, y, None)
        return self._run(lambda m: m._score(m._forward(X, m._predict_plan, False)[m._out_index], y))  # X checked once

    def _score(self, out: np.ndarray, y: np.ndarray) -> float:
        """Accuracy or R² of the output ``out`` against targets already checked by the loss."""
        pred = self._decide(out)
        if isinstance(self.loss, (CrossEntropy, Hinge)):
            labels = y if y.ndim == 1 else y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0] > 0.5
            return float(np.mean(pred == labels))
        y = y.reshape(pred.shape)
        return float(1.0 - ((y - pred) ** 2).sum() / max(((y - y.mean(axis=0)) ** 2).sum(), 1e-300))
