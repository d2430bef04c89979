"""The live controls on the loop thread: kill one trial, pause, tune live parameters, concurrency.

A mixin of :class:`~hpo_kit.engine.driver.handler.Driver`. Each control was validated by the study in
the caller's thread (:mod:`hpo_kit.study_control`) and reaches here through ``Runner.call_soon``;
each is journalled as a ``control`` record with its source and reason, and a refused one says why.
"""
from __future__ import annotations

from typing import Any

from ...trial import TrialStatus
from .recovery import KILL_STATUS


class LiveControls:
    """Kill, pause, tune and concurrency, applied on the loop (the Driver's state is its own)."""

    def request_stop(self, tid: int, source: str, reason: str, discard: bool) -> None:
        t = self.ledger[tid]
        step = self.steps.of(tid)
        if t.status.is_terminal or (step is not None and step.stop is not None):
            return
        self.ledger.control("kill", source, reason, trial=tid, discard=discard)
        if step is not None:
            step.stop = (source, reason, discard)
            if not self._reconciling:  # a step being settled has already returned
                self.runner.signal_stop(step, reason)
                if t.status is TrialStatus.PENDING:
                    self.runner.cancel(step)  # queued: its record keeps it from training if it started
            if not step.draining:
                return
        self.steps.unqueue(tid)
        if self.steps.kept_on.pop(tid, None) is not None:
            self.runner.release(tid)  # kept alive at a rung on a worker: its thread and memory go now
        if step is None or t.status is TrialStatus.PAUSED:
            self._end(t, KILL_STATUS[source], reason=reason, discard=discard)

    def set_paused(self, paused: bool, reason: str, source: str) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        self.runner.set_paused(paused)
        self.study.state = "paused" if paused else "running"
        self.ledger.control("pause" if paused else "resume", source, reason)

    def tune(self, params: dict[str, Any], reason: str, source: str) -> None:
        try:
            self.policy.update(**params)
        except Exception as exc:  # noqa: BLE001 - validated in the caller; a control never ends the loop
            self.ledger.control("tune", source, reason, value=params, refused=f"{type(exc).__name__}: {exc}")
            return
        self.ledger.control("tune", source, reason, value=params)
        self._journal_policy_events()

    def set_concurrency(self, n: int, reason: str, source: str) -> None:
        self.study.concurrency = n
        self.ledger.control("concurrency", source, reason, value=n)

    def _journal_policy_events(self) -> None:
        for event in self.policy.drain_events():
            action = event.pop("action")
            self.ledger.control(action, "policy", event.pop("reason", ""), value=event or None)
