"""What a study optimises: a metric, its direction, how a trial's reports become a score, and, for a
multi-objective study, the further objectives (:attr:`Goal.others`).

A multi-objective goal keeps one *primary* objective (``metric``/``mode``): schedulers rank rungs by
it and single-objective searchers optimise it, so every policy runs unchanged; the study's
Pareto front (:mod:`hpo_kit.pareto`) and multi-objective searchers read all of them. The
objective named :data:`TIME` is not reported: it is the trial's training time (seconds its
steps ran), the ``T`` of the time-aware cost ``Z = L + b*T``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The objective that is measured, not reported: a trial's training time in seconds.
TIME = "time"


@dataclass(frozen=True)
class Goal:
    """The study's objective.

    Parameters
    ----------
    metric
        Name of the reported metric to optimise, e.g. ``"val_loss"``.
    mode
        ``"min"`` or ``"max"``.
    score
        ``"best"``: a trial scores its best finite report; ``"last"``: its last report.
    others
        Further objectives of a multi-objective study, ``((metric, mode), ...)``; :data:`TIME`
        is the trial's training time. Each is scored by the same ``score`` rule.
    """

    metric: str
    mode: str = "min"
    score: str = "best"
    others: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric or self.metric == TIME:
            raise ValueError(f"goal: metric={self.metric!r} must be a non-empty string, a reported metric "
                             f"(not {TIME!r}, the measured training time, which may only be a further objective)")
        if self.mode not in ("min", "max"):
            raise ValueError(f"goal: mode={self.mode!r} must be 'min' or 'max'")
        if self.score not in ("best", "last"):
            raise ValueError(f"goal: score={self.score!r} must be 'best' or 'last'")
        others = []
        for pair in self.others or ():  # a journal gives lists
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str)
                    or not pair[0] or pair[1] not in ("min", "max")):
                raise ValueError(f"goal: others={self.others!r} must hold (metric, 'min'|'max') pairs")
            others.append((pair[0], pair[1]))
        names = [self.metric] + [m for m, _ in others]
        if len(set(names)) != len(names):
            raise ValueError(f"goal: metric={names!r} names an objective twice")
        object.__setattr__(self, "others", tuple(others))

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        """Every objective, the primary first: ``((metric, mode), ...)``."""
        return ((self.metric, self.mode),) + self.others

    @property
    def multi(self) -> bool:
        """True for a multi-objective goal."""
        return bool(self.others)

    def loss(self, value: float) -> float:
        """Map a metric value to a loss (lower is better) - what every optimizer sees."""
        return float(value) if self.mode == "min" else -float(value)

    def score_of(self, values: Sequence[float]) -> float | None:
        """A trial's score from its reported metric values; ``None`` if none is finite.

        With ``score="last"`` a non-finite last report gives ``None`` (the trial broke).
        """
        if not values:
            return None
        if self.score == "last":
            last = float(values[-1])
            return last if math.isfinite(last) else None
        finite = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        return min(finite) if self.mode == "min" else max(finite)

    def better(self, a: float | None, b: float | None) -> bool:
        """True when score ``a`` beats score ``b`` (``None`` never wins)."""
        if a is None:
            return False
        if b is None:
            return True
        return a < b if self.mode == "min" else a > b


def make_goal(metric: Any, mode: Any, score: str) -> Goal:
    """The goal of ``Study(metric=..., mode=...)``: one metric, or a list of them (multi-objective).

    ``mode`` is one direction for all, or a list as long as ``metric``.

    Raises
    ------
    ValueError
        Naming ``metric`` or ``mode``.
    """
    if isinstance(metric, str):
        if not isinstance(mode, str):
            raise ValueError(f"Study: mode={mode!r} must be 'min' or 'max' for the one metric {metric!r}")
        return Goal(metric, mode, score)
    if not isinstance(metric, (list, tuple)) or not metric or not all(isinstance(m, str) for m in metric):
        raise ValueError(f"Study: metric={metric!r} must be a metric name or a non-empty list of them")
    modes = [mode] * len(metric) if isinstance(mode, str) else mode
    if not isinstance(modes, (list, tuple)) or len(modes) != len(metric):
        raise ValueError(f"Study: mode={mode!r} must be one direction or one per metric ({len(metric)})")
    return Goal(metric[0], modes[0], score, others=tuple(zip(metric[1:], modes[1:])))
