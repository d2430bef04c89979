"""Trial records, their status, and the one rule for what an optimizer is told.

The rule (issue "Live control"): a trial that ended normally is told its score; one
stopped early (by a scheduler, a monitor or a user kill) is told its last finite score
and marked stopped; a failed trial, or one with no finite score, is told a penalty: the
worst finite loss told so far (nothing is told while no finite loss exists yet, since
no scale is known); a kill with ``discard=True`` tells nothing. ``Observation.penalty``
marks a penalty, so a searcher may price it itself (TimeAwareBO does, above every finite loss).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from .goal import Goal


class TrialStatus(str, enum.Enum):
    """Life cycle of a trial; terminal states are COMPLETED, STOPPED, KILLED, FAILED."""

    PENDING = "PENDING"  # created, waiting for a worker
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # reached its budget; a scheduler may resume it
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"  # stopped early by a policy or a monitor
    KILLED = "KILLED"  # stopped by the user
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in (TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.KILLED, TrialStatus.FAILED)


_P, _R, _Z = TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.PAUSED
_ENDS = {TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.KILLED, TrialStatus.FAILED}
#: The legal status changes, written down once (enforced by :class:`hpo_kit.ledger.Ledger`).
#: PENDING -> PENDING is a requeue (a step cancelled before it started, a retry after a lost worker);
#: RUNNING -> PENDING likewise; a terminal status has no way out.
TRANSITIONS: dict[TrialStatus, frozenset[TrialStatus]] = {
    _P: frozenset({_P, _R} | _ENDS),
    _R: frozenset({_P, _Z} | _ENDS),
    _Z: frozenset({_P} | _ENDS - {TrialStatus.COMPLETED}),
    **{s: frozenset() for s in _ENDS},
}


@dataclass
class Trial:
    """Everything known about one trial; the rows of ``study.results``."""

    id: int
    config: dict[str, Any]
    status: TrialStatus = TrialStatus.PENDING
    budget: int | None = None  # epoch target of the current step (None: the objective decides)
    parent: int | None = None  # trial whose weights this one started from
    reports: list[dict[str, Any]] = field(default_factory=list)
    worker: str | None = None
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    busy: float = 0.0  # seconds spent running steps
    warmup: float = 0.0  # seconds of worker warm-up (data loading, first imports), not in busy
    info: dict[str, Any] = field(default_factory=dict)  # what its Start said: source, bracket, rank...
    error: str | None = None
    traceback: str | None = None
    reason: str | None = None  # why it stopped / was killed
    flags: list[dict[str, Any]] = field(default_factory=list)  # diagnosis findings
    attempt: int = 0
    discard: bool = False

    @property
    def epochs(self) -> int:
        return int(self.reports[-1]["epoch"]) if self.reports else 0

    def values(self, metric: str) -> list[float]:
        """The metric's value in each report that has it (NaN stays NaN)."""
        return [float(r["metrics"][metric]) for r in self.reports if metric in r["metrics"]]

    def score(self, goal: Goal) -> float | None:
        return goal.score_of(self.values(goal.metric))

    @property
    def constraints(self) -> dict[str, float] | None:
        """The constraint values of the last report that had any (``<= 0``: satisfied), or ``None``."""
        for r in reversed(self.reports):
            if r.get("constraints"):
                return dict(r["constraints"])
        return None

    @property
    def violation(self) -> float | None:
        """How far the trial breaks its constraints (the sum of the positive values; 0: feasible), or
        ``None`` when it reported none."""
        values = self.constraints
        return None if values is None else float(sum(max(0.0, v) for v in values.values()))

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else self.started) - self.started


@dataclass(frozen=True)
class Observation:
    """What an optimizer is told when a trial's step ends (see the module docstring).

    ``loss`` is in minimisation orientation; ``None`` means "tell nothing".
    ``final`` is False when the trial only paused at its budget and may be resumed.
    """

    trial_id: int
    config: dict[str, Any]
    loss: float | None
    status: TrialStatus
    epochs: int
    duration: float
    final: bool
    losses: tuple[float, ...] = ()  # losses[e - 1] is epoch e's loss (nan where epoch e reported none)
    #: ``loss`` is the rule's penalty, not a measurement: the trial FAILED or reported no finite score
    #: (TimeAwareBO sets its own penalty, above every finite loss: :func:`hpo_kit.searchers.cost.fit_costs`).
    penalty: bool = False

    @property
    def stopped(self) -> bool:
        return self.status in (TrialStatus.STOPPED, TrialStatus.KILLED)

    @property
    def failed(self) -> bool:
        return self.status is TrialStatus.FAILED or self.loss is None


def epoch_losses(trial: Trial, goal: Goal) -> tuple[float, ...]:
    """The trial's loss by epoch: index ``e - 1`` holds epoch ``e`` (NaN where that epoch reported none).

    Indexed by epoch, not by report, so a metric reported every k epochs puts each value
    at its own epoch (rungs read the loss *at* their epoch).
    """
    out = [math.nan] * trial.epochs
    for r in trial.reports:
        value = r["metrics"].get(goal.metric)
        if value is not None and math.isfinite(value):
            out[int(r["epoch"]) - 1] = goal.loss(value)
    return tuple(out)


def observe(trial: Trial, goal: Goal, worst_loss: float | None) -> Observation:
    """Apply the engine's one rule to a trial whose step just ended."""
    values = trial.values(goal.metric)
    penalty = False
    if trial.discard:
        loss = None
    elif trial.status is TrialStatus.FAILED:
        loss, penalty = worst_loss, True
    else:
        if trial.status in (TrialStatus.STOPPED, TrialStatus.KILLED):
            values = [v for v in values if math.isfinite(v)]  # its last *finite* score
        score = goal.score_of(values)
        loss, penalty = (goal.loss(score), False) if score is not None else (worst_loss, True)
    losses = epoch_losses(trial, goal)
    return Observation(
        trial_id=trial.id, config=dict(trial.config), loss=loss, status=trial.status, epochs=trial.epochs,
        duration=trial.busy, final=trial.status.is_terminal, losses=losses, penalty=penalty,
    )
