"""Thread safety of a model without slowing one thread down (``Graph`` derives from ``Locking``).

Every node writes its outputs and gradients into buffers of its own, so two threads running one
model at once would overwrite each other's. Inference (``forward``, ``predict``, ``predict_proba``,
``score``) goes through ``_run``: whoever finds the model's buffers free (a non-blocking lock) uses
them, as a single thread always does; a caller that finds them taken runs on a spare replica
(``tinygraph.parallel.rows.replica``: shared ``theta`` and ``state``, buffers of its own), kept for the
next such caller; it reads the model's noise seed and step on every use. Training (``loss_and_grad``, ``fit``, curvature products) needs the model's own
``grad``: it holds the model (``_hold``/``_exclusive``), and a second thread that tries raises.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from .rows import replica

__all__ = ["Locking"]


class Locking:
    """The locks and spare replicas of a model; see the module docstring."""

    _LOCKS = ("_busy", "_trainer", "_spares")  # never pickled: made afresh by _make_locks

    def _make_locks(self) -> None:
        self._busy, self._trainer, self._spares = threading.RLock(), threading.RLock(), []

    def _hold(self, who: str) -> None:
        """Hold the model for training (``loss_and_grad``, ``fit``): a second thread that tries raises."""
        if not self._trainer.acquire(blocking=False):
            raise RuntimeError(f"{who}: the model is being trained by another thread; training one model "
                               "from two threads at once would mix their gradients (predict, forward "
                               "and score are safe from any thread; train a copy instead)")
        self._busy.acquire()  # waits for a forward pass running on the model's own buffers

    def _release(self) -> None:
        self._busy.release()
        self._trainer.release()

    @contextmanager
    def _exclusive(self, who: str):
        self._hold(who)
        try:
            yield
        finally:
            self._release()

    def _run(self, fn):
        """``fn(self)`` when the model's buffers are free, else ``fn`` of a spare replica."""
        if self._busy.acquire(blocking=False):
            try:
                return fn(self)
            finally:
                self._busy.release()
        try:
            rep = self._spares.pop()  # atomic: two threads never get one replica
        except IndexError:
            rep = replica(self)
        # the model's noise as it is now (a training-mode forward draws the masks of its current step),
        # not as it was when the spare was made
        rep.noise_seed, rep.noise_step = self.noise_seed, self.noise_step
        try:
            return fn(rep)
        finally:
            self._spares.append(rep)
