"""What the driver does when a step is lost, re-run, hung, or the scheduler goes away.

Mixed into :class:`~hpo_kit.engine.driver.handler.Driver`; it changes step state only through the step table
(:mod:`hpo_kit.engine.driver.steps`: retries, losses of unstarted steps, the queue) and trial state
only through the ledger, like the rest of the driver. A step given up on (lost, timed out)
may still run on a worker: the run's control record fences it (``Runner.fence``), so it
trains no further epoch beside its trial's next attempt.

* A step lost with its worker is retried as a new attempt up to ``max_retries`` times;
  a re-run that Dask made itself (a remote scheduler's ``allowed-failures``) counts as one.
  The error names the cause where the cluster's events say it (:mod:`hpo_kit.engine.deaths`):
  the memory limit of a worker that Dask's memory monitor killed, or the exit status.
* A step lost while it was only queued on a worker that died is requeued without using a
  retry. It is known from the nanny's exit event where the cluster reports them (the
  steps that were running); elsewhere from its trial still PENDING (a started step's
  "start" message arrives before its loss), at most ``FREE_REQUEUES`` times, since a
  process that dies within ``engine.outbox.HOLD`` of its start never sends that message.
* A step past ``trial_timeout`` (its own work, counted from its ``ready`` message: the end of its
  warm-up) or ``warmup_timeout`` (its warm-up) is FAILED and its worker restarted (off the loop thread).
* A client cut off from its scheduler for ``LOST_AFTER`` seconds ends the study with
  :class:`~hpo_kit.errors.SchedulerLost` (journalled "failed"; every received result is in); one
  that reconnected to a restarted, empty scheduler is :mod:`.restart`'s (``SchedulerRestarted``).
* A step that fails because its disk is full (a checkpoint write: :class:`~hpo_kit.errors.DiskFull`,
  or the objective's own ``ENOSPC``) FAILs its trial with that error; ``DISK_FULL_STREAK`` such
  trials in a row fail the study with :class:`~hpo_kit.errors.DiskFull`: a full disk does not
  empty itself, and every later trial would fail the same way, burning the budget.
"""
from __future__ import annotations

import errno
import os
import re
import time
import traceback as tb
from typing import Any

from distributed import CancelledError

from ..deaths import death_cause
from ...errors import DISK_FULL_STREAK, LOST_AFTER, DiskFull, SchedulerLost, is_worker_loss
from ...trial import Trial, TrialStatus

KILL_STATUS = {"user": TrialStatus.KILLED, "policy": TrialStatus.STOPPED, "monitor": TrialStatus.STOPPED}
FREE_REQUEUES = 2  # losses of a step that seems never started (no exit event) that use no retry
FREE_QUEUED = 20  # losses of a step that the nanny says was not running (bounded all the same)


class Recovery:
    """The driver's fault paths (see the module docstring)."""

    ledger: Any
    runner: Any
    study: Any
    steps: Any
    stopping: bool
    watch: Any
    _lost_since: float | None
    _disk_full: list[int]

    def _dask_rerun(self, t: Trial, step: Any, worker: str | None) -> None:
        """Dask re-ran a step after its worker died: that counts as one of ``max_retries`` retries.

        (A remote scheduler may allow such re-runs; the embedded one does not.) Past the limit
        the step is cancelled and the trial FAILED; the re-run that was seen has started by then
        (see :func:`hpo_kit.engine.cluster.local_cluster` for exact counts on such a cluster).
        """
        tries = self.steps.add_retry(t.id)
        t.worker = worker or t.worker
        self.ledger.log("trial_retry", trial=t.id, attempt=t.attempt, error="re-run by Dask after its worker died")
        self.steps.rerun(step, worker)  # trial_timeout must not count the new worker's warm-up
        if tries > self.study.max_retries:
            self._leave(step)
            self.runner.cancel(step)
            self.runner.fence()
            cause = death_cause(self.runner.client, t.worker, 0.0, False)
            self._end(t, TrialStatus.FAILED, error=f"WorkerLost: the step's worker died {tries} times "
                      f"(max_retries={self.study.max_retries})" + (f"; last: {_text(cause)}" if cause else ""))

    def _step_lost(self, t: Trial, exc: BaseException, stop: tuple[str, str, bool] | None) -> None:
        if stop is not None:
            self._end(t, KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2])
            return
        self.runner.fence()  # the lost step's task may still run (a re-run by Dask, a client reset)
        if isinstance(exc, CancelledError):
            if not self.stopping:
                self._requeue(t)
            else:
                self._end(t, TrialStatus.KILLED, reason="study stopped")
            return
        lost = is_worker_loss(exc)
        cause = self._death_cause(t, exc) if lost else None
        if lost and self._never_ran(t, exc, cause):
            self.steps.add_unstarted(t.id)
            self._requeue(t)  # queued on the dead worker, never run: no retry used
            return
        tries = self.steps.add_retry(t.id)
        text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        if tries <= self.study.max_retries and lost:
            self._requeue(t, retry=_text(cause or exc))
        elif cause is not None:  # Dask's KilledWorker text stays in the traceback
            self._end(t, TrialStatus.FAILED, error=f"{_text(cause)}; {tries} run(s), max_retries="
                      f"{self.study.max_retries}", traceback=text)
        else:
            self._end(t, TrialStatus.FAILED, error=_text(exc), traceback=text)

    def _never_ran(self, t: Trial, exc: BaseException, cause: Any) -> bool:
        free = self.steps.unstarted.get(t.id, 0)
        running = getattr(cause, "running", None)
        if running is not None:
            return getattr(exc, "task", None) not in running and free < FREE_QUEUED
        return t.status is TrialStatus.PENDING and free < FREE_REQUEUES

    def _death_cause(self, t: Trial, exc: BaseException) -> BaseException | None:
        """Why the step's worker died, from the cluster's events (waits up to 2 s for a nanny's word)."""
        if type(exc).__name__ != "KilledWorker":
            return None
        worker = getattr(getattr(exc, "last_worker", None), "address", None) or t.worker
        # Nannies that report exits (the embedded cluster's) always say something: worth a longer wait.
        exits = getattr(self.runner, "exits_reported", False)
        return death_cause(self.runner.client, worker, 2.0 if exits else 0.5, exits)

    def _check_client(self) -> None:
        """End the study (an error: journalled "failed") once its scheduler is gone for ``LOST_AFTER`` s.

        A client that lost its scheduler keeps reconnecting; without this check the loop would
        wait for results forever.
        """
        status = getattr(self.runner.client, "status", "running")
        if status == "running":
            self._lost_since = None
            self.watch.check()  # reconnected to a scheduler that came back empty (engine.driver.restart)
            return
        now = time.monotonic()
        self._lost_since = self._lost_since or now
        if status in ("closed", "failed") or now - self._lost_since > LOST_AFTER:
            raise SchedulerLost(f"the Dask scheduler is unreachable (client status {status!r} for "
                                f"{now - self._lost_since:.0f} s); every result received was journalled")

    def _check_timeouts(self) -> None:
        """Fail the steps past ``trial_timeout`` (their own work) or ``warmup_timeout`` (their warm-up)."""
        s, now = self.study, time.time()
        for step in self.steps.running():
            if step.ready is not None:
                if s.trial_timeout is not None and now - step.ready > s.trial_timeout:
                    self._time_out(self.ledger[step.trial_id], step,
                                   f"TrialTimeout: step ran over trial_timeout={s.trial_timeout}s (its own work, "
                                   f"counted from the end of its warm-up)", "timeout")
            elif step.started is not None and s.warmup_timeout is not None and now - step.started > s.warmup_timeout:
                self._time_out(self.ledger[step.trial_id], step,
                               f"WarmupTimeout: the step's warm-up (first imports, data loading, a Trainable's setup "
                               f"and restore) ran over warmup_timeout={s.warmup_timeout}s", "warmup timeout")

    def _count_disk_full(self, t: Trial, result: Any) -> None:
        """Count the trials FAILED in a row by a full disk; at ``DISK_FULL_STREAK`` the study fails (DiskFull)."""
        if result.outcome == "not_started":
            return
        error = (result.error or "").split("\n", 1)[0]
        if result.outcome != "failed" or not (error.startswith("DiskFull:") or f"[Errno {errno.ENOSPC}]" in error):
            self._disk_full.clear()  # a step that ended otherwise wrote what it had to
            return
        self._disk_full.append(t.id)
        if len(self._disk_full) >= DISK_FULL_STREAK:
            named = re.search(r": '([^']+)'$", error)  # DiskFull and OSError end with the path they failed on
            ids = ", ".join(map(str, self._disk_full))
            raise DiskFull(errno.ENOSPC, f"the disk is full: trials {ids} failed on it in a row "
                           f"({os.strerror(errno.ENOSPC)}); free space, then continue the study with "
                           f"Study.resume(journal)",
                           named.group(1) if named else self.study.store.url)

    def _time_out(self, t: Trial, step: Any, error: str, reason: str) -> None:
        self._leave(step)
        self._end(t, TrialStatus.FAILED, error=error, reason=reason)
        self.runner.cancel(step)
        self.runner.fence()
        if t.worker:  # the hung thread holds the worker: only a restart frees it
            self.runner.restart_worker(t.worker)


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
