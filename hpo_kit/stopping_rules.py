"""Study stop rules as values: stop the whole study when its best score says it is done.

``Study(..., stop_when=[Target(0.1), NoImprovement(trials=20), NoImprovement(seconds=600)])``
stops the study (as ``stop()`` does, trials ending STOPPED) as soon as *any* rule fires; the
journal's ``study_end`` names the rule in its ``reason``. A rule is a frozen value with a pure
:meth:`StopRule.check` of a :class:`Record`, the summary of the study's ended trials that
:func:`fold` builds from the ledger's end log (the driver folds each new end once, so a check
costs O(1) however long the study; a resume folds the journal's ends again and reaches the
same record). Rules never see Dask, the driver or a trial record.

What counts. Only trials that *ended* (COMPLETED, STOPPED, KILLED, FAILED; not a discarded
kill) count, each with its final score: a trial paused at a rung counts when it ends. "No
improvement for N trials" is N such ends since the best score last became strictly better
(from the first end while no finite score exists). "For T seconds" counts from the later of
the last improvement and this run's start, so a study resumed a day later is not stopped at
once for the day it was away.

A regret rule (stop when the simple regret is below e) is left out: the regret needs the
optimum, which a user who knows it states as ``Target``; estimating it needs a surrogate's
model, which only some searchers have, and a rule must work under every one.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .goal import Goal

__all__ = ["NoImprovement", "Record", "StopRule", "Target", "check_rules", "fold", "rules_from_records"]


@dataclass(frozen=True)
class Record:
    """What the rules read: a summary of the ended trials, in end order.

    Attributes
    ----------
    best
        The best final score so far (``None`` before any finite score).
    best_at
        Unix time the best score was reached (``None`` before it).
    since_best
        Trials ended since the best last improved (all ended trials while there is none).
    ended
        Trials ended in all.
    """

    best: float | None = None
    best_at: float | None = None
    since_best: int = 0
    ended: int = 0


def fold(record: Record, score: float | None, ended_at: float, goal: Goal) -> Record:
    """The record after one more ended trial with final ``score`` (``None``: no finite score)."""
    if score is not None and math.isfinite(score) and goal.better(score, record.best):
        return Record(best=float(score), best_at=ended_at, since_best=0, ended=record.ended + 1)
    return replace(record, since_best=record.since_best + 1, ended=record.ended + 1)


class StopRule:
    """Base of the stop rules: a frozen value; :meth:`check` says why to stop, or ``None``."""

    kind = "rule"

    def check(self, record: Record, goal: Goal, now: float, run_start: float) -> str | None:
        """The reason to stop now (naming the rule), or ``None`` to go on."""
        raise NotImplementedError

    def to_record(self) -> dict[str, Any]:
        """A JSON-able form (journalled; :func:`rules_from_records` reads it back)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Target(StopRule):
    """Stop once the best score reaches ``value`` (``<=`` for ``mode="min"``, ``>=`` for ``"max"``).

    Parameters
    ----------
    value
        The score that is good enough, in the metric's own units.
    """

    value: float
    kind = "target"

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ValueError(f"Target: value={self.value!r} must be a finite number")

    def check(self, record: Record, goal: Goal, now: float, run_start: float) -> str | None:
        if record.best is None:
            return None
        reached = record.best <= self.value if goal.mode == "min" else record.best >= self.value
        return f"{self!r}: best {goal.metric}={record.best:.6g} reached the target" if reached else None

    def to_record(self) -> dict[str, Any]:
        return {"rule": self.kind, "value": self.value}


@dataclass(frozen=True)
class NoImprovement(StopRule):
    """Stop once the best score has not improved for ``trials`` ended trials, or for ``seconds``.

    Parameters
    ----------
    trials
        Ended trials without a strictly better score (an integer >= 1).
    seconds
        Wall seconds without one (> 0), counted from the later of the last improvement and
        this run's start, once a trial has ended; a pause counts as time (a paused study is
        not stopped, but may stop as it resumes).

    Exactly one of the two is given; pass two rules for both.
    """

    trials: int | None = None
    seconds: float | None = field(default=None)
    kind = "no_improvement"

    def __post_init__(self) -> None:
        if (self.trials is None) == (self.seconds is None):
            raise ValueError(f"NoImprovement: give exactly one of trials= or seconds= (got trials={self.trials!r}, "
                             f"seconds={self.seconds!r})")
        if self.trials is not None and (isinstance(self.trials, bool) or not isinstance(self.trials, int)
                                        or self.trials < 1):
            raise ValueError(f"NoImprovement: trials={self.trials!r} must be an integer >= 1")
        if self.seconds is not None and (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                                         or not math.isfinite(self.seconds) or not self.seconds > 0):
            raise ValueError(f"NoImprovement: seconds={self.seconds!r} must be a number of seconds > 0")

    def check(self, record: Record, goal: Goal, now: float, run_start: float) -> str | None:
        if self.trials is not None:
            if record.since_best >= self.trials:
                what = "no finite score" if record.best is None else f"no better {goal.metric} than {record.best:.6g}"
                return f"{self!r}: {what} in the last {record.since_best} ended trials"
            return None
        if record.ended == 0:
            return None  # nothing has ended yet: a first trial longer than T is no plateau
        since = max(record.best_at or run_start, run_start)
        if now - since >= self.seconds:
            return f"{self!r}: no better {goal.metric} for {now - since:.0f} s"
        return None

    def to_record(self) -> dict[str, Any]:
        return {"rule": self.kind, "trials": self.trials, "seconds": self.seconds}


_KINDS: dict[str, type[StopRule]] = {"target": Target, "no_improvement": NoImprovement}


def check_rules(owner: str, field_name: str, rules: Any) -> tuple[StopRule, ...]:
    """``rules`` as a tuple of stop rules; ``None`` is none.

    Raises
    ------
    ValueError
        Naming ``owner: field_name`` if ``rules`` is not a rule or a list of rules.
    """
    if rules is None:
        return ()
    if isinstance(rules, StopRule):
        rules = [rules]
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
        raise ValueError(f"{owner}: {field_name}={rules!r} must be a list of stop rules "
                         f"(Target(...), NoImprovement(...))")
    out = tuple(rules)
    for rule in out:
        if not isinstance(rule, StopRule) or type(rule) is StopRule:
            raise ValueError(f"{owner}: {field_name} holds {rule!r}, which is not a stop rule "
                             f"(Target(...), NoImprovement(...))")
    return out


def rules_from_records(records: Sequence[dict[str, Any]]) -> tuple[StopRule, ...]:
    """Rebuild rules from their journalled form (:meth:`StopRule.to_record`)."""
    out = []
    for rec in records:
        cls = _KINDS.get(rec.get("rule")) if isinstance(rec, dict) else None
        if cls is None:
            raise ValueError(f"stop rule record {rec!r} names no known rule ({sorted(_KINDS)})")
        out.append(cls(**{k: v for k, v in rec.items() if k != "rule"}))
    return tuple(out)


def first_reason(rules: Sequence[StopRule], record: Record, goal: Goal, now: float,
                 run_start: float) -> str | None:
    """The first rule's reason to stop, in the order given; ``None`` if none fires."""
    for rule in rules:
        reason = rule.check(record, goal, now, run_start)
        if reason is not None:
            return reason
    return None
