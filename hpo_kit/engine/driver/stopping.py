"""How a study's trials end when the study does: a stop (the user's, the time budget's), the
stop's grace, and the trials still paused at a natural end.

A stop asks every step in flight to end at its next epoch boundary (the run's control
record) and ends the queued trials at once. Steps that have not ended :data:`STOP_GRACE` s
later are settled here as stopped, cancelled, and fenced on their workers, so ``stop()``
ends any study within seconds however long its epochs are, and no step of it trains
another epoch. A time budget's stop is the policy's (trials end STOPPED), a user's is the
user's (KILLED).

Mixed into :class:`~hpo_kit.engine.driver.handler.Driver` (it uses the driver's ledger, step table and runner).
"""
from __future__ import annotations

import time
from typing import Any

from .recovery import KILL_STATUS
from ...trial import TrialStatus

STOP_GRACE = 5.0  # seconds a stopped study waits for its running steps to end at an epoch boundary


class Stopping:
    """The driver's end-of-study paths (see the module docstring)."""

    ledger: Any
    steps: Any
    runner: Any
    study: Any
    policy: Any
    stopping: bool
    stop_reason: str | None
    _stop_deadline: float | None
    _settling: bool

    def stop(self, reason: str, source: str = "user") -> None:
        if self.stopping:
            return
        self.ledger.control("stop", source, reason)
        for tid in [st.trial_id for st in self.steps] + self.steps.queued:
            self.request_stop(tid, source, reason, False)
        self.stopping = True
        self.stop_reason = reason  # the study_end record's reason
        self._stop_deadline = time.monotonic() + STOP_GRACE

    def _force_end(self) -> None:
        """A stopped study's steps that did not end within STOP_GRACE s: settled here as stopped,
        fenced on their workers (no further epoch), their tasks cancelled."""
        for step in list(self.steps):
            t = self.ledger[step.trial_id]
            self._leave(step)
            self.runner.cancel(step)
            source, reason, discard = step.stop or ("user", "study stopped", False)
            if t.status in (TrialStatus.PENDING, TrialStatus.RUNNING):
                self._end(t, KILL_STATUS[source], discard=discard,
                          reason=f"{reason}; its step had not ended {STOP_GRACE:g} s after the stop")
        self.runner.fence()

    def settle_paused(self) -> None:
        """At a natural end, end the trials still PAUSED: no policy will resume them now.

        A study stopped by the user or by its time budget keeps them PAUSED, so that
        ``Study.resume(path)`` can still promote them.
        """
        if self.stopping or self.study.time_spent():
            return
        paused = sorted(self.ledger.with_status(TrialStatus.PAUSED), key=lambda t: t.id)
        for i, t in enumerate(paused):
            self._settling = i < len(paused) - 1  # the progress bar's best: one O(trials) scan, at the last
            self._end(t, TrialStatus.STOPPED, reason=f"paused at epoch {t.epochs}; "
                      f"{self.policy.name} did not resume it before the study ended")
        self._settling = False
