"""What can end a study or a step from outside the trial: the errors, and how a lost step is told apart."""
from __future__ import annotations

import errno

LOST_AFTER = 20.0  # seconds a client may be disconnected from its scheduler before the study fails
REJOIN_WAIT = 30.0  # seconds a scheduler that came back empty may stay without workers before the study fails
DISK_FULL_STREAK = 3  # trials in a row FAILED by a full checkpoint disk before the study fails (DiskFull)
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class SchedulerLost(RuntimeError):
    """The study's Dask scheduler went away (died, restarted, or the network to it broke)."""


class SchedulerRestarted(SchedulerLost):
    """The client reconnected to a new, empty scheduler at the same address (the old one was restarted):
    the study's queued and running steps went with the old one, and no worker joined the new one in time."""


class DiskFull(OSError):
    """A disk the study writes to is full (``ENOSPC``, or a quota's ``EDQUOT``): the journal's or the
    checkpoint store's. ``filename`` is the path that could not be written; ``errno`` the system's."""


def disk_full(exc: BaseException, what: str, path: str) -> DiskFull | None:
    """``exc`` as a :class:`DiskFull` naming ``what`` and ``path`` if it says the disk is full, else ``None``."""
    if isinstance(exc, DiskFull):
        return exc
    if not isinstance(exc, OSError) or exc.errno not in _FULL:
        return None
    return DiskFull(exc.errno, f"the disk is full: {what} cannot be written ({exc.strerror}); free space, "
                               f"then continue the study with Study.resume(journal)", str(path))


class MetricNotReported(RuntimeError):
    """The study's metric appears in no report: a typo such as ``metric="val_los"``."""


class WorkerDied(RuntimeError):
    """A step's worker process died under it (its exit status or signal in the message).

    ``running``: the keys of the steps that were running on it, ``None`` where unknown.
    """

    running: list[str] | None = None


class WorkerOutOfMemory(WorkerDied):
    """Dask's memory monitor killed a step's worker for going over its ``memory_limit``."""


class NotSerializable(TypeError):
    """The objective, the data loader or a step cannot be pickled to be sent to the workers."""


def not_serializable(what: str, exc: BaseException) -> NotSerializable:
    """The named error for ``what`` that pickling refused, with pickle's own reason (not Dask's graph dump)."""
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    return NotSerializable(f"{what} cannot be serialised to be sent to the workers ({type(root).__name__}: "
                           f"{root}); trials run in other processes: create locks, generators, open files and "
                           f"clients inside the objective (or in a data= loader), not around it")


def is_worker_loss(exc: BaseException) -> bool:
    """A step lost with its worker (retried) rather than one that cannot run at all (FAILED).

    Trial errors never get here (``run_step`` records them); what does is Dask's own:
    workers that died under the step, lost connections, or a spec that cannot be unpickled.
    """
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"KilledWorker", "CommClosedError", "FutureCancelledError", "StreamClosedError"})


class RepeatedTrialError(RuntimeError):
    """The study's first ``fail_fast`` trials to end all FAILED with one error, so it stopped early.

    ``error`` is the first trial's error line, ``trials`` the ids of the failed trials and
    ``traceback`` the first one's traceback (:mod:`hpo_kit.engine.driver.failfast`).
    """

    def __init__(self, message: str, error: str, trials: list[int], traceback: str | None) -> None:
        super().__init__(message)
        self.error, self.trials, self.traceback = error, trials, traceback

    def __reduce__(self) -> tuple:  # picklable with its fields (a study's error may cross processes)
        return (type(self), (self.args[0], self.error, self.trials, self.traceback))
