"""In-step promotion at a rung: the pruner's way for ASHA, without a round trip per promotion.

A step of a scheduler that implements ``promote_now`` (ASHA, Hyperband) is submitted with
``top`` set, and, where the scheduler gives its rungs' cut-offs (``rung_cutoffs``), with a
:class:`~hpo_kit.engine.cutoff.RungRule`. At its budget the worker then decides *alone*: a rung loss
that beats the cut-off goes on in the same step, on the same worker (no task, no checkpoint
read, a function-form trial does not retrain); any other ends the step. Its report says what
it decided; the driver tells the rung result and checks the decision against the rung *as it
stands now* (``promote_now``: the trial must be in the rung's top ``1/eta``): a promotion is
recorded (``trial_resume`` with ``info.in_step`` and ``by: "cutoff"``) only if it passes. A
step's promotion the driver refuses is *halted*: its control record stops it at its next epoch
boundary, and its trial waits PAUSED at the rung like any other (ASHA exact, whatever the step's
snapshot said).

Without a rule the step *waits* for the driver instead: the driver tells the rung result,
asks ``promote_now`` and answers. A worker that hears no answer ends the step after a while;
a promotion that reached it too late becomes a new step. Either way a trial that does not go
on waits PAUSED while its step *drains*; a Resume of a draining trial is submitted once the
drained step has returned, to the worker that keeps the trial alive where it could
(:mod:`hpo_kit.engine.worker.kept`), and the drained step's reports do not restart it.

Mixed into :class:`~hpo_kit.engine.driver.handler.Driver`; the per-step state it uses (``in_step``,
``draining``, ``counted``, ``seg_t0``) lives in the step table (:mod:`hpo_kit.engine.driver.steps`).
"""
from __future__ import annotations

from typing import Any

from ..cutoff import RungRule
from ...decisions import Resume
from .steps import Step
from ..worker.step import StepResult
from ...trial import Trial, TrialStatus, epoch_losses


class RungPromotion:
    """The driver's in-step promotion path (see the module docstring)."""

    ledger: Any
    goal: Any
    policy: Any
    runner: Any
    steps: Any
    _rungs_changed: bool
    paused: bool
    stopping: bool

    @property
    def promotes_in_step(self) -> bool:
        """The policy can promote at a rung within the step (it overrides ``promote_now``)."""
        from ...schedulers.base import Scheduler

        return type(self.policy).promote_now is not Scheduler.promote_now

    def _rung_rule(self, t: Trial) -> RungRule | None:
        """The cut-offs a step applies alone at its rungs (:mod:`hpo_kit.engine.cutoff`), if the policy gives them."""
        cutoffs = self.policy.rung_cutoffs(t.id)
        if cutoffs is None:
            return None
        goal = self.goal
        return RungRule(cutoffs, 1.0 if goal.mode == "min" else -1.0, goal.score, epoch_losses(t, goal))

    def _publish_cutoffs(self) -> None:
        """Once per loop turn in which a rung changed: the current cut-offs of every step that decides
        alone, into the run's control record (its next epoch boundary reads them)."""
        if not self._rungs_changed:
            return
        self._rungs_changed = False
        for step in self.steps:
            if step.in_step and step.spec is not None and step.spec.rule is not None and not step.draining:
                cutoffs = self.policy.rung_cutoffs(step.trial_id)
                if cutoffs and cutoffs != step.cutoffs:  # unchanged cut-offs are not written again
                    step.cutoffs = cutoffs
                    self.runner.cutoffs(step, cutoffs)

    def _at_rung(self, t: Trial, step: Step, msg: dict[str, Any]) -> None:
        """A step at its budget: tell the rung result, then record what the step decided alone if the
        rung allows it now (else halt the step), or decide and answer the step that waits (no rule)."""
        now = msg["t"]
        segment = max(0.0, now - (step.seg_t0 if step.seg_t0 is not None else now))
        step.seg_t0 = now
        step.counted += segment
        self._end(t, TrialStatus.PAUSED, busy=segment)
        decided = msg.get("decided")
        promotion = None
        # A step that went on by its cut-off is a running step: a pause lets it finish, so only the rung decides.
        if decided or (decided is None and not (self.paused or self.stopping)):
            promotion = self.policy.promote_now(t.id)  # exact: the rung as it stands when this is recorded
            if promotion is not None and decided:
                promotion = Resume(promotion.trial_id, promotion.budget, {**promotion.info, "by": "cutoff"})
        self._journal_policy_events()
        if promotion is not None:
            self.ledger.resume(t.id, promotion.budget, promotion.info)
            self.ledger.start(t.id, t.worker)
        else:
            step.draining = True  # the step ends on its worker; the trial waits PAUSED
            if decided:  # the step went on by its snapshot: stop it at its next epoch boundary
                why = f"promotion from rung {t.epochs} refused: not in the rung's top 1/eta now"
                self.runner.signal_stop(step, why)
                self.ledger.control("halt", "policy", why, trial=t.id)
        if decided is None:
            self.runner.answer(step, t.epochs, None if promotion is None else promotion.budget)

    def _drained(self, t: Trial, step: Step, result: StepResult | BaseException) -> None:
        if isinstance(result, StepResult):
            self.ledger.add_busy(t.id, max(0.0, result.busy - step.counted))
        if t.id in self.steps.after_drain:
            self.steps.after_drain.discard(t.id)
            if t.status is TrialStatus.PENDING:
                self._submit(t)
