"""Checkpoint writes off the training thread: the trial trains its next epoch while the last one lands.

A Trainable's checkpoint is *encoded* where it is taken (``torch.save`` into memory: a copy,
so the next epoch may change the weights at once) and *written* by one background thread per
worker process, in order (the store's "keep the latest k" pruning stays consistent). Writing
is most of a checkpoint's cost on a local disk: two fsyncs, the rename, the listing.

When a step ends and its trial is not kept waiting on this worker (:mod:`.kept`), the step
first waits for its trial's writes (:func:`wait`), so whoever resumes it, anywhere, finds
the checkpoint of the step's last epoch; a trial kept waiting lets them land in the
background, and a worker lost meanwhile loses at most the epochs since the last written
checkpoint. A write that fails is raised by the trial's next :func:`save` or :func:`wait`,
so its step fails with the error. A plain thread and queue, not a ``concurrent.futures``
pool: waiting is per trial, and a pool's futures would have to be tracked per trial anyway.
"""
from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..checkpoint import CheckpointStore

_Key = tuple[str, int]  # (store url, trial id)


class _Writer:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending: dict[_Key, int] = {}
        self._errors: dict[_Key, BaseException] = {}
        self._thread: threading.Thread | None = None

    def submit(self, store: "CheckpointStore", trial_id: int, epoch: int, data: bytes) -> None:
        key = (store.url, int(trial_id))
        with self._cond:
            self._raise(key)
            self._pending[key] = self._pending.get(key, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="hpo-kit-checkpoints", daemon=True)
                self._thread.start()
        self._jobs.put((key, store, epoch, data))

    def wait(self, store: "CheckpointStore", trial_id: int) -> None:
        key = (store.url, int(trial_id))
        with self._cond:
            self._cond.wait_for(lambda: not self._pending.get(key))
            self._raise(key)

    def _raise(self, key: _Key) -> None:
        error = self._errors.pop(key, None)
        if error is not None:
            raise error

    def _loop(self) -> None:
        while True:
            key, store, epoch, data = self._jobs.get()
            try:
                store.write(key[1], epoch, data)
            except BaseException as exc:  # noqa: BLE001 - the trial's next save or wait raises it
                with self._cond:
                    self._errors.setdefault(key, exc)
            with self._cond:
                left = self._pending[key] - 1
                if left:
                    self._pending[key] = left
                else:
                    del self._pending[key]
                self._cond.notify_all()


_WRITER = _Writer()


def save(store: "CheckpointStore", trial_id: int, epoch: int, state: Any, report: dict[str, float] | None = None,
         attempt: int | None = None) -> None:
    """Encode the checkpoint now, write it in the background (see the module docstring).

    Raises
    ------
    NotWeightsOnly
        As :meth:`CheckpointStore.save`; or the error of an earlier write of this trial.
    """
    _WRITER.submit(store, trial_id, epoch, store.encode(trial_id, state, report, attempt))


def wait(store: "CheckpointStore", trial_id: int) -> None:
    """Block until this process's writes of the trial's checkpoints have landed; raise the first that failed."""
    _WRITER.wait(store, trial_id)
