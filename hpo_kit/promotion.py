"""In-step promotion at a rung: the pruner's way for ASHA, without a round trip per promotion.

A step of a scheduler that implements ``promote_now`` (ASHA, Hyperband) is submitted with
``top`` set: at its budget the worker sends the rung's report and *waits* for an answer
instead of returning. The driver tells the rung result at once (the trial PAUSED, the
scheduler told), asks ``promote_now``, and answers: a promotion continues the same step on
the same worker (no task, no checkpoint read, a function-form trial does not retrain); no
promotion ends the step, and the trial waits PAUSED while its step *drains*. A Resume of a
draining trial is submitted once the drained step has returned. A worker that hears no
answer ends the step after a while; a promotion that reached it too late becomes a new step.

Mixed into :class:`~hpo_kit.driver.Driver` (its state is the five fields set by
:meth:`RungPromotion._init_promotion`, used nowhere else).
"""
from __future__ import annotations

from typing import Any

from .engine.worker import StepResult
from .trial import Trial, TrialStatus


class RungPromotion:
    """The driver's in-step promotion path (see the module docstring)."""

    ledger: Any
    policy: Any
    runner: Any
    paused: bool
    stopping: bool

    def _init_promotion(self) -> None:
        self.in_step: set[int] = set()  # trials whose current step waits at its budget
        self.draining: set[int] = set()  # trials paused at a rung whose step is still ending
        self.after_drain: set[int] = set()  # draining trials resumed meanwhile: submit when drained
        self.seg_t0: dict[int, float] = {}  # worker time the current segment of a step began
        self.counted: dict[int, float] = {}  # busy seconds of the in-flight step already told

    @property
    def promotes_in_step(self) -> bool:
        """The policy can promote at a rung within the step (it overrides ``promote_now``)."""
        from .schedulers.base import Scheduler

        return type(self.policy).promote_now is not Scheduler.promote_now

    def _at_rung(self, t: Trial, now: float) -> None:
        """A step that waits at its budget: tell the rung result, then continue it in the step or end it."""
        segment = max(0.0, now - self.seg_t0.get(t.id, now))
        self.seg_t0[t.id] = now
        self.counted[t.id] = self.counted.get(t.id, 0.0) + segment
        self._end(t, TrialStatus.PAUSED, busy=segment)
        promotion = None if self.paused or self.stopping else self.policy.promote_now(t.id)
        self._journal_policy_events()
        if promotion is not None:
            self.ledger.resume(t.id, promotion.budget, promotion.info)
            self.ledger.start(t.id, t.worker)
        else:
            self.draining.add(t.id)  # the step ends on its worker; the trial waits PAUSED
        self.runner.answer(t.worker, t.id, t.attempt, t.epochs, None if promotion is None else promotion.budget)

    def _drained(self, t: Trial, result: StepResult | BaseException, counted: float) -> None:
        self.draining.discard(t.id)
        if isinstance(result, StepResult):
            self.ledger.add_busy(t.id, max(0.0, result.busy - counted))
        if t.id in self.after_drain:
            self.after_drain.discard(t.id)
            if t.status is TrialStatus.PENDING:
                self._submit(t)
