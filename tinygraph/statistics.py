"""Running statistics of a model (``model.state``): the step-wise and the population update
(``Graph`` derives from ``RunningStatistics``; the state protocol is in ``tinygraph.nodes.node``).
"""
from __future__ import annotations

__all__ = ["RunningStatistics"]


class RunningStatistics:
    """``update_state`` after an accepted step, ``recompute_state`` over the data; see the module docstring."""

    @property
    def n_state(self) -> int:
        """Number of non-trainable values in ``state`` (running statistics)."""
        return self.state.size

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
        return self

    def recompute_state(self, X, *, batch_size: int | None = None):
        """Population statistics of X in one pass (the BatchNorm paper's rule after a full-batch fit).

        Runs the training-mode forward over X in chunks of ``batch_size`` rows (all at once by
        default: exact) and averages the chunks' statistics weighted by their rows (as PyTorch's
        ``update_bn``: with chunks the variance leaves out the spread between chunk means).

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
            for start in range(0, n, bs):
                Xb = X[start:start + bs]
                seen += Xb.shape[0]
                self._forward(Xb, self._predict_plan, training=True)
                self.update_state(momentum=Xb.shape[0] / seen)
        return self
