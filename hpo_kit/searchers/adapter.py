"""Any ask/tell sampler as a searcher: ``AskTellSearcher(skopt.Optimizer(...), points="skopt")``.

The sampler needs ``ask()`` and ``tell(point, loss)``. Points are either configuration
dicts (``points="dict"``) or skopt-style lists in the order of
:func:`hpo_kit.searchers.conditional.skopt_dimensions` (``points="skopt"``; categoricals as
choice indices). Only final results with a finite loss are told (``final_only=True``),
since a plain ask/tell sampler has no notion of a budget; a sampler without ``tell``
results in plain ask-only sampling.
"""
from __future__ import annotations

import math
from typing import Any

from ..decisions import Start
from ..trial import Observation
from .base import Searcher

POINTS = ("dict", "skopt")


class AskTellSearcher(Searcher):
    """Adapter for an external ask/tell sampler (see the module docstring).

    Parameters
    ----------
    sampler
        An object with ``ask()`` and ``tell(point, loss)``.
    points
        ``"dict"`` or ``"skopt"``.
    final_only
        Tell only final results (default) or also intermediate ones at a rung.
    """

    name = "ask_tell"

    def __init__(self, sampler: Any, points: str = "dict", final_only: bool = True) -> None:
        super().__init__(seed=None)
        if not callable(getattr(sampler, "ask", None)):
            raise ValueError(f"AskTellSearcher: sampler={sampler!r} has no ask() method")
        if points not in POINTS:
            raise ValueError(f"AskTellSearcher: points={points!r} must be one of {list(POINTS)}")
        self.sampler, self.points, self.final_only = sampler, points, bool(final_only)

    def ask(self, trial_id: int) -> Start:
        point = self.sampler.ask()
        if self.points == "skopt":
            from .conditional import to_config

            point = to_config(self.space, point)
        return Start(self.space.validate(dict(point)), info={"source": type(self.sampler).__name__})

    def tell(self, obs: Observation) -> None:
        if (self.final_only and not obs.final) or obs.loss is None or not math.isfinite(obs.loss):
            return
        tell = getattr(self.sampler, "tell", None)
        if tell is None:
            return
        if self.points == "skopt":
            from .conditional import to_point

            tell(to_point(self.space, obs.config), float(obs.loss))
        else:
            tell(dict(obs.config), float(obs.loss))

    def params(self) -> dict[str, Any]:
        return {"sampler": type(self.sampler).__name__, "points": self.points, "final_only": self.final_only}
