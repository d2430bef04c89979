"""What the driver does when a step is lost, re-run, hung, or the scheduler goes away.

Mixed into :class:`~hpo_kit.driver.Driver`; it reads the driver's step bookkeeping
(``in_flight``, ``step_started``, ``pending_stop``, ``retries``, ``requeue``) and changes
trial state only through the ledger, like the rest of the driver.

* A step lost with its worker is retried as a new attempt up to ``max_retries`` times;
  a re-run that Dask made itself (a remote scheduler's ``allowed-failures``) counts as one.
* A step past ``trial_timeout`` is FAILED and its worker restarted (off the loop thread).
* A client cut off from its scheduler for ``LOST_AFTER`` seconds ends the study with
  :class:`~hpo_kit.errors.SchedulerLost` (journalled "failed"; every received result is in).
"""
from __future__ import annotations

import time
import traceback as tb
from typing import Any

from distributed import CancelledError

from .errors import LOST_AFTER, SchedulerLost, is_worker_loss
from .trial import Trial, TrialStatus

KILL_STATUS = {"user": TrialStatus.KILLED, "policy": TrialStatus.STOPPED, "monitor": TrialStatus.STOPPED}


class Recovery:
    """The driver's fault paths (see the module docstring)."""

    ledger: Any
    runner: Any
    study: Any
    in_flight: dict[int, str]
    step_started: dict[int, float]
    pending_stop: dict[int, tuple[str, str, bool]]
    retries: dict[int, int]
    requeue: list[int]
    stopping: bool
    _lost_since: float | None

    def _dask_rerun(self, t: Trial, worker: str | None) -> None:
        """Dask re-ran a step after its worker died: that counts as one of ``max_retries`` retries.

        (A remote scheduler may allow such re-runs; the embedded one does not.) Past the limit
        the step is cancelled and the trial FAILED, so ``max_retries`` means what it says.
        """
        tries = self.retries[t.id] = self.retries.get(t.id, 0) + 1
        t.worker = worker or t.worker
        self.ledger.log("trial_retry", trial=t.id, attempt=t.attempt, error="re-run by Dask after its worker died")
        if tries > self.study.max_retries:
            key = self.in_flight.pop(t.id)
            self.step_started.pop(t.id, None)
            self.runner.forget(key)
            self._end(t, TrialStatus.FAILED, error=f"WorkerLost: the step's worker died {tries} times "
                      f"(max_retries={self.study.max_retries})")

    def _step_lost(self, t: Trial, exc: BaseException, stop: tuple[str, str, bool] | None) -> None:
        if stop is not None:
            self._end(t, KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2])
            return
        if isinstance(exc, CancelledError):
            if not self.stopping:
                self.ledger.requeue(t.id)
                self.requeue.append(t.id)
            else:
                self._end(t, TrialStatus.KILLED, reason="study stopped")
            return
        tries = self.retries[t.id] = self.retries.get(t.id, 0) + 1
        text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        if tries <= self.study.max_retries and is_worker_loss(exc):
            self.ledger.requeue(t.id, retry=f"{type(exc).__name__}: {exc}")
            self.requeue.append(t.id)
        else:
            self._end(t, TrialStatus.FAILED, error=f"{type(exc).__name__}: {exc}", traceback=text)

    def _check_client(self) -> None:
        """End the study (an error: journalled "failed") once its scheduler is gone for ``LOST_AFTER`` s.

        A client that lost its scheduler keeps reconnecting; without this check the loop would
        wait for results forever.
        """
        status = getattr(self.runner.client, "status", "running")
        if status == "running":
            self._lost_since = None
            return
        now = time.monotonic()
        self._lost_since = self._lost_since or now
        if status in ("closed", "failed") or now - self._lost_since > LOST_AFTER:
            raise SchedulerLost(f"the Dask scheduler is unreachable (client status {status!r} for "
                                f"{now - self._lost_since:.0f} s); every result received was journalled")

    def _time_out(self, t: Trial) -> None:
        key = self.in_flight.pop(t.id, None)
        self.step_started.pop(t.id, None)
        self.pending_stop.pop(t.id, None)
        self._end(t, TrialStatus.FAILED, error=f"TrialTimeout: step ran over trial_timeout="
                  f"{self.study.trial_timeout}s", reason="timeout")
        if key is not None:
            self.runner.cancel(key)
        if t.worker:  # the hung thread holds the worker: only a restart frees it
            self.runner.restart_worker(t.worker)
