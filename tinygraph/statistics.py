"""Running statistics of a model (``model.state``): the step-wise and the population update
(``Graph`` derives from ``RunningStatistics``; the state protocol is in ``tinygraph.nodes.node``).

Statistics belong to a theta: the model remembers the theta they were last folded in at (a copy,
for models with running statistics only). Every writer of ``state`` in tinygraph (``update_state``,
``recompute_state``, ``initialize``, loading, early stopping's restore) records it; evaluation
(``predict``, ``score``, ``forward``) warns with ``StaleStatisticsWarning`` when theta has moved
since, e.g. after ``scipy.optimize.minimize(model.loss_and_grad, ...)``, whose calls never write
``state``: ``model.recompute_state(X)`` then gives the statistics of the new theta.
"""
from __future__ import annotations

import warnings
from itertools import pairwise

import numpy as np

__all__ = ["RunningStatistics", "StaleStatisticsWarning"]


class StaleStatisticsWarning(UserWarning):
    """A model with running statistics evaluates at a theta its statistics were not computed for."""


class RunningStatistics:
    """``update_state`` after an accepted step, ``recompute_state`` over the data; see the module docstring."""

    @property
    def n_state(self) -> int:
        """Number of non-trainable values in ``state`` (running statistics)."""
        return self.state.size

    def _stamp_state(self) -> None:
        """Record that ``state`` now goes with the current theta."""
        if not self._stateful:
            return
        stamp = getattr(self, "_state_theta", None)
        if stamp is None or stamp.shape != self.theta.shape or stamp.dtype != self.theta.dtype:
            self._state_theta = self.theta.copy()
        else:
            np.copyto(stamp, self.theta)

    def _check_state(self, who: str) -> None:
        """Warn when theta moved since the statistics were last computed (see the module docstring)."""
        if not self._stateful:
            return
        stamp = getattr(self, "_state_theta", None)
        if stamp is None or np.array_equal(stamp, self.theta):  # None: a model pickled before stamps
            return
        warnings.warn(f"{who}: {type(self).__name__}'s running statistics (model.state) were computed at "
                      "another theta than the current one (theta was set or trained without updating them, "
                      "e.g. by scipy.optimize.minimize(model.loss_and_grad, ...)); call "
                      "model.recompute_state(X) with the training X first", StaleStatisticsWarning, stacklevel=3)

    def update_state(self, momentum: float | None = None):
        """Fold the batch statistics of the last training-mode pass into ``state``.

        The minibatch loop calls it once per accepted step (``loss_and_grad`` itself never writes
        ``state``). ``momentum`` overrides each node's own (PyTorch's: new = (1 - m) old + m batch).

        Parameters
        ----------
        momentum : float in (0, 1], optional
            The weight m of the batch statistics; None uses each node's own momentum.

        Returns
        -------
        Graph
            The model itself.
        """
        for node in self._stateful:
            node.update_state(momentum)
        self._stamp_state()
        return self

    def recompute_state(self, X, *, batch_size: int | None = None):
        """Population statistics of X in one pass (the BatchNorm paper's rule after a full-batch fit).

        Runs the training-mode forward over X in chunks of ``batch_size`` rows (all at once by
        default: exact) and averages the chunks' statistics weighted by their rows (as PyTorch's
        ``update_bn``: with chunks the variance leaves out the spread between chunk means). A last
        chunk of one row joins the one before (a batch statistic of one row has no variance).

        Parameters
        ----------
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples whose statistics become the running ones.
        batch_size : int, optional
            Rows per chunk (None: all of X at once).

        Returns
        -------
        Graph
            The model itself (unchanged when no node keeps running statistics).

        Raises
        ------
        ValueError
            ``batch_size`` is not a positive integer.

        Examples
        --------
        >>> import numpy as np
        >>> import tinygraph as tg
        >>> model = tg.Sequential([tg.Dense(2, 3), tg.BatchNorm(), tg.Identity(), tg.MeanSquaredError()],
        ...                       random_state=0)
        >>> X = np.random.default_rng(0).normal(size=(8, 2))
        >>> model.recompute_state(X).n_state > 0
        True
        """
        if not self._stateful:
            return self
        X = self._check_X(X)
        n = X.shape[0]
        bs = n if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError(f"recompute_state: batch_size must be a positive integer, got {batch_size!r}")
        seen = 0
        with self._exclusive("recompute_state"):  # the model's own buffers and state
            for start, stop in row_chunks(n, bs):
                Xb = X[start:stop]
                seen += stop - start
                self._forward(Xb, self._predict_plan, training=True)
                self.update_state(momentum=(stop - start) / seen)
        return self


def row_chunks(n: int, size: int) -> list:
    """``[(start, stop)]`` of ``size`` rows covering n, a last chunk of one row joined to the one before."""
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return list(pairwise(bounds))
