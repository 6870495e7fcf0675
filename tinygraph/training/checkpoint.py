"""Checkpoints during training, and resuming from them to the same result.

``fit(..., callback=Checkpoint(path, every=N))`` writes, atomically (``tinygraph.io.save``), the
model, the optimizer state (``get_state()``), the history so far and the next epoch after every N-th
epoch, and again when training is interrupted (Ctrl-C). ``load_checkpoint(path)`` reads it back:

    ck = tg.load_checkpoint(path)
    opt = tg.optim.Adam(lr=1e-3); ck.restore(opt)
    tg.fit(ck.model, X, y, opt, epochs=E, initial_epoch=ck.epoch, batch_size=..., random_state=seed)

Since ``fit`` shuffles epoch k from (random_state, k) alone, a run resumed from an end-of-epoch
checkpoint with the same seed is bit-for-bit the uninterrupted run. On interrupt the checkpoint
holds the last completed epoch (the partial one is lost, the result stays exact); only when no
epoch completed yet does it hold the partial epoch (``complete=False``): resuming then repeats
that epoch from its weights, which keeps the work but is not the uninterrupted run.
"""
from __future__ import annotations

import numbers
import os
from typing import NamedTuple

import numpy as np

from ..io import format as fileformat
from ..io.format import FormatError, join_state, split_state
from ..graph import Graph
from ..io.saving import read

__all__ = ["Checkpoint", "Resume", "load_checkpoint"]


class _Snapshot(NamedTuple):
    theta: np.ndarray
    state: dict
    epoch: int
    step: int | None
    lengths: dict  # history list lengths at the snapshot (the lists keep growing)
    model_state: np.ndarray  # the running statistics that go with theta


class Checkpoint:
    """``fit`` callback: save model + optimizer state + next epoch every ``every`` epochs and on interrupt.

    Each write replaces ``path`` atomically, so the file always holds one whole checkpoint. On
    interrupt it writes the state at the end of the last completed epoch (kept in memory), so the
    resumed run is still the uninterrupted one; only an interrupt within the first epoch of a
    ``fit`` call writes the partial epoch (``meta["complete"]`` False). ``last_epoch`` is the epoch
    the last write resumes at.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced at each write); read it back with ``load_checkpoint``.
    every : int, default 1
        Write after every ``every``-th epoch (counted from epoch 0, so also across a resumed run).

    Raises
    ------
    ValueError
        ``every`` not a positive integer.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ck = tg.Checkpoint(os.path.join(tmp, "ck.npz"), every=1)
    ...     _ = tg.fit(model, X, y, tg.optim.Adam(lr=0.01), epochs=2, batch_size=4, random_state=0,
    ...                callback=ck)
    ...     ck.last_epoch
    2
    """

    def __init__(self, path, every: int = 1):
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"Checkpoint: every must be a positive integer, got {every!r}")
        self.path, self.every, self.last_epoch = os.fspath(path), int(every), None
        self._boundary = None

    def __call__(self, info) -> None:
        if info.event == "epoch":
            self._boundary = self._snapshot(info, info.epoch + 1)
            if (info.epoch + 1) % self.every == 0:
                self._save(info, self._boundary, complete=True)
        elif info.event == "interrupt":
            if self._boundary is None:  # nothing completed in this fit call: keep the partial work
                self._save(info, self._snapshot(info, info.epoch), complete=False, interrupted=True)
            else:
                self._save(info, self._boundary, complete=True, interrupted=True)
        elif info.event == "end":
            self._boundary = None  # the next fit call starts its own epochs

    @staticmethod
    def _snapshot(info, epoch: int) -> _Snapshot:
        state = {} if info.optimizer is None else info.optimizer.get_state()
        return _Snapshot(np.array(info.theta, dtype=info.model.dtype), state, epoch, info.step,
                         {k: len(v) for k, v in (info.history or {}).items()}, info.model.state.copy())

    def _save(self, info, snap: _Snapshot, **flags) -> None:
        history = {k: v[:snap.lengths.get(k, len(v))] for k, v in (info.history or {}).items()}
        self.write(info.model, info.optimizer, snap.epoch, history=history, step=snap.step,
                   theta=snap.theta, state=snap.state, model_state=snap.model_state, **flags)

    def write(self, model: Graph, optimizer, epoch: int, *, history=None, step=None, theta=None,
              state=None, model_state=None, complete: bool = True, interrupted: bool = False) -> str:
        """Save now; ``epoch`` is where training resumes (``initial_epoch``).

        ``theta``, ``state`` and ``model_state`` default to the model's theta, ``optimizer.get_state()``
        and the model's running statistics (``model.state``).

        Parameters
        ----------
        model : Graph
            The model to save.
        optimizer : Optimizer or None
            Its state is saved (None: a scipy method, nothing to save).
        epoch : int
            The epoch training resumes at.
        history : dict of str to sequence of float, optional
            The records so far (``OptimizeResult.history``).
        step : int, optional
            The step count, kept in the meta.
        theta, state, model_state : optional
            What to save instead of the current values (see above).
        complete, interrupted : bool
            Kept in the meta: a whole epoch; written on interrupt.

        Returns
        -------
        str
            The path written.
        """
        if state is None:
            state = {} if optimizer is None else optimizer.get_state()
        scalars, arrays = split_state(state)
        for key, values in (history or {}).items():
            arrays[f"history/{key}"] = np.asarray(values, dtype=float)
        meta = {"epoch": int(epoch), "step": step, "complete": complete, "interrupted": interrupted,
                "optimizer": None if optimizer is None else type(optimizer).__name__,
                "optimizer_repr": repr(optimizer), "optimizer_scalars": scalars}
        fileformat.write(model, self.path, meta=meta, arrays=arrays, theta=theta, model_state=model_state,
                         kind="checkpoint")
        self.last_epoch = int(epoch)
        return self.path

    def __repr__(self) -> str:
        return f"Checkpoint({self.path!r}, every={self.every})"


class Resume(NamedTuple):
    """What ``load_checkpoint`` returns; ``restore(optimizer)`` loads the saved optimizer state.

    Attributes
    ----------
    model : Graph
        The saved model, rebuilt, with the saved theta and running statistics.
    optimizer_state : dict
        The optimizer's ``get_state()`` at the checkpoint.
    epoch : int
        The epoch to resume at (``fit(initial_epoch=)``).
    history : dict of str to numpy.ndarray
        The records up to the checkpoint.
    meta : dict
        ``"epoch"``, ``"step"``, ``"complete"``, ``"interrupted"``, ``"optimizer"`` (class name) and more.
    """

    model: Graph
    optimizer_state: dict
    epoch: int
    history: dict
    meta: dict

    def restore(self, optimizer) -> None:
        """Give ``optimizer`` (a new one of the saved class, same settings) the saved state.

        Parameters
        ----------
        optimizer : Optimizer
            A new optimizer of the saved class.

        Raises
        ------
        ValueError
            The checkpoint holds no optimizer state (trained by a scipy method).
        TypeError
            ``optimizer`` is of another class than the saved one.
        """
        saved = self.meta["optimizer"]
        if saved is None:
            raise ValueError("the checkpoint holds no optimizer state (trained by a scipy method)")
        if type(optimizer).__name__ != saved:
            raise TypeError(f"the checkpoint holds the state of a {self.meta['optimizer_repr']}, "
                            f"got a {type(optimizer).__name__}")
        optimizer.set_state(self.optimizer_state)


def load_checkpoint(path) -> Resume:
    """Read a file written by ``Checkpoint``: the model, optimizer state, next epoch and history.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``Checkpoint`` (or ``Checkpoint.write``).

    Returns
    -------
    Resume
        A named tuple: ``model`` (the rebuilt Graph with the saved theta and running statistics),
        ``optimizer_state`` (dict), ``epoch`` (the next epoch: pass it as ``fit(initial_epoch=)``),
        ``history`` (dict of arrays, as in ``OptimizeResult.history``) and ``meta`` (dict, with
        ``"complete"`` and ``"interrupted"``). ``restore(optimizer)`` loads the optimizer state.

    Raises
    ------
    FormatError
        The file is a saved model (``tinygraph.save``), not a checkpoint, or its meta is invalid.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "ck.npz")
    ...     _ = tg.fit(model, X, y, tg.optim.Adam(lr=0.01), epochs=2, batch_size=4, random_state=0,
    ...                callback=tg.Checkpoint(path))
    ...     ck = tg.load_checkpoint(path)
    >>> ck.epoch, sorted(ck.history)
    (2, ['epoch_loss', 'epoch_time', 'loss', 'time'])
    >>> opt = tg.optim.Adam(lr=0.01)
    >>> ck.restore(opt)                  # the saved moments and step count
    >>> result = tg.fit(ck.model, X, y, opt, epochs=3, batch_size=4, random_state=0,
    ...                 initial_epoch=ck.epoch)   # epoch 2 only: the same as one run of 3 epochs
    >>> result.n_epochs
    1
    """
    saved = read(path)
    if saved.kind != "checkpoint":
        raise FormatError(f"{os.fspath(path)}: a saved {saved.kind}, not a checkpoint; use tinygraph.load")
    meta, path = saved.meta, os.fspath(path)
    for key, types in (("epoch", int), ("optimizer", (str, type(None))), ("optimizer_repr", str),
                       ("optimizer_scalars", dict)):
        if key not in meta or not isinstance(meta[key], types) or key == "epoch" and \
                (isinstance(meta[key], bool) or meta[key] < 0):
            raise FormatError(f"{path}: a checkpoint whose meta has no valid {key!r} "
                              f"(got {meta.get(key, 'nothing')!r})")
    arrays = {k: a for k, a in saved.arrays.items() if k.startswith("optimizer")}
    state = join_state(saved.meta["optimizer_scalars"], arrays)
    history = {k.split("/", 1)[1]: a for k, a in saved.arrays.items() if k.startswith("history/")}
    return Resume(saved.model, state, int(saved.meta["epoch"]), history, saved.meta)
