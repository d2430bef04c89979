"""What a study optimises: one metric, its direction, and how a trial's reports become a score."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


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
    """

    metric: str
    mode: str = "min"
    score: str = "best"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"goal: metric={self.metric!r} must be a non-empty string")
        if self.mode not in ("min", "max"):
            raise ValueError(f"goal: mode={self.mode!r} must be 'min' or 'max'")
        if self.score not in ("best", "last"):
            raise ValueError(f"goal: score={self.score!r} must be 'best' or 'last'")

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
