"""In-step promotion at a rung: the pruner's way for ASHA, without a round trip per promotion.

A step of a scheduler that implements ``promote_now`` (ASHA, Hyperband) is submitted with
``top`` set, and, where the scheduler gives its rungs' cut-offs (``rung_cutoffs``), with a
:class:`~hpo_kit.cutoff.RungRule`. At its budget the worker then decides *alone*: a rung loss
that beats the cut-off goes on in the same step, on the same worker (no task, no checkpoint
read, a function-form trial does not retrain); any other ends the step. Its report says what
it decided; the driver tells the rung result, records the decision (``accept_in_step``,
journalled as ``trial_resume`` with ``info.in_step`` and ``by: "cutoff"``) and sends nothing.

Without a rule the step *waits* for the driver instead: the driver tells the rung result,
asks ``promote_now`` and answers. A worker that hears no answer ends the step after a while;
a promotion that reached it too late becomes a new step. Either way a trial that does not go
on waits PAUSED while its step *drains*; a Resume of a draining trial is submitted once the
drained step has returned, to the worker that keeps the trial alive where it could
(:mod:`hpo_kit.engine.kept`), and the drained step's reports do not restart it.

Mixed into :class:`~hpo_kit.driver.Driver` (its state is the five fields set by
:meth:`RungPromotion._init_promotion`, used nowhere else).
"""
from __future__ import annotations

from typing import Any

from .cutoff import RungRule
from .engine.worker import StepResult
from .trial import Trial, TrialStatus, epoch_losses


class RungPromotion:
    """The driver's in-step promotion path (see the module docstring)."""

    ledger: Any
    goal: Any
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

    def _rung_rule(self, t: Trial) -> RungRule | None:
        """The cut-offs a step applies alone at its rungs (:mod:`hpo_kit.cutoff`), if the policy gives them."""
        cutoffs = self.policy.rung_cutoffs(t.id)
        if cutoffs is None:
            return None
        goal = self.goal
        return RungRule(cutoffs, 1.0 if goal.mode == "min" else -1.0, goal.score, epoch_losses(t, goal))

    def _at_rung(self, t: Trial, msg: dict[str, Any]) -> None:
        """A step at its budget: tell the rung result, then record what the step decided alone, or decide
        and answer the step that waits (no rule)."""
        now = msg["t"]
        segment = max(0.0, now - self.seg_t0.get(t.id, now))
        self.seg_t0[t.id] = now
        self.counted[t.id] = self.counted.get(t.id, 0.0) + segment
        self._end(t, TrialStatus.PAUSED, busy=segment)
        decided = msg.get("decided")
        if decided is not None:  # the step goes on or ends whatever is decided here: follow it
            promotion = self.policy.accept_in_step(t.id) if decided else None
        else:
            promotion = None if self.paused or self.stopping else self.policy.promote_now(t.id)
        self._journal_policy_events()
        if promotion is not None:
            self.ledger.resume(t.id, promotion.budget, promotion.info)
            self.ledger.start(t.id, t.worker)
        else:
            self.draining.add(t.id)  # the step ends on its worker; the trial waits PAUSED
        if decided is None:
            self.runner.answer(t.worker, t.id, t.attempt, t.epochs, None if promotion is None else promotion.budget)

    def _drained(self, t: Trial, result: StepResult | BaseException, counted: float) -> None:
        self.draining.discard(t.id)
        if isinstance(result, StepResult):
            self.ledger.add_busy(t.id, max(0.0, result.busy - counted))
        if t.id in self.after_drain:
            self.after_drain.discard(t.id)
            if t.status is TrialStatus.PENDING:
                self._submit(t)
