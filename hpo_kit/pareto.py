"""Pareto fronts and hypervolume: which trials no other trial beats on every objective at once.

Pure functions over minimisation vectors (a ``max`` objective is negated first, as
:meth:`~hpo_kit.goal.Goal.loss` does), so they serve the study (:meth:`Study.pareto_front`), the
multi-objective searcher (:mod:`hpo_kit.searchers.parego`), the panel and the benchmarks alike.
Hand-written rather than taken from a library: the fronts here hold tens to hundreds of points in
2 or 3 objectives, where the simple sweeps below are exact and fast, and neither scipy nor
scikit-optimize (our dependencies) has them; pymoo or botorch would add a large dependency for two
small functions.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .goal import TIME, Goal
from .trial import Trial, TrialStatus

Vector = tuple[float, ...]


def objective_vector(trial: Trial, goal: Goal, objectives: Sequence[tuple[str, str]] | None = None) -> Vector | None:
    """The trial's objectives as losses (lower is better), or ``None`` if one has no finite value.

    ``objectives`` defaults to the goal's; :data:`~hpo_kit.goal.TIME` is the trial's training time
    (``trial.busy``, seconds its steps ran). A failed trial has no vector.
    """
    if trial.status is TrialStatus.FAILED:
        return None
    out = []
    for metric, mode in objectives or goal.objectives:
        if metric == TIME:
            value = float(trial.busy) if trial.busy > 0 else math.nan
        else:
            score = Goal(metric, mode, goal.score).score_of(trial.values(metric))
            value = math.nan if score is None else (score if mode == "min" else -score)
        if not math.isfinite(value):
            return None
        out.append(value)
    return tuple(out)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere (minimisation)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (ties: each copy is kept), in input order.

    In lexicographic order a point can only be dominated by one before it, and then by one on
    the front found so far: ``O(n log n + n * front)`` rather than comparing every pair (a whole
    benchmark table has 60,000 points).
    """
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    kept: list[int] = []
    for i in order:
        p = points[i]
        if not any(dominates(points[j], p) for j in kept):
            kept.append(i)
    return sorted(kept)


def hypervolume(points: Iterable[Sequence[float]], ref: Sequence[float]) -> float:
    """The volume dominated by ``points`` and bounded by the reference point ``ref`` (minimisation).

    Points not strictly better than ``ref`` on every objective add nothing. Exact: a sweep in 2-D,
    slicing along the last objective above that (fine for the small fronts of a study).
    """
    ref = tuple(float(r) for r in ref)
    pts = [tuple(float(x) for x in p) for p in points]
    pts = [p for p in pts if len(p) == len(ref) and all(x < r for x, r in zip(p, ref))]
    if not pts:
        return 0.0
    pts = [pts[i] for i in nondominated(pts)]
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in pts)
    if len(ref) == 2:
        area, best_y = 0.0, ref[1]
        for x, y in sorted(set(pts)):
            if y < best_y:
                area += (ref[0] - x) * (best_y - y)
                best_y = y
        return area
    volume, levels = 0.0, sorted({p[-1] for p in pts}) + [ref[-1]]
    for low, high in zip(levels, levels[1:]):  # between two levels the slice's front is fixed
        below = [p[:-1] for p in pts if p[-1] <= low]
        volume += hypervolume(below, ref[:-1]) * (high - low)
    return volume


def front(trials: Iterable[Trial], goal: Goal,
          objectives: Sequence[tuple[str, str]] | None = None) -> list[tuple[Trial, Vector]]:
    """The trials on the Pareto front with their vectors, sorted by the first objective.

    Feasible first: when some trial satisfies its constraints (or reported none), trials that
    broke theirs are left out.
    """
    scored = [(t, v) for t in trials if (v := objective_vector(t, goal, objectives)) is not None]
    if any(not t.violation for t, _ in scored):
        scored = [(t, v) for t, v in scored if not t.violation]
    keep = nondominated([v for _, v in scored])
    return sorted((scored[i] for i in keep), key=lambda tv: (tv[1], tv[0].id))


def check_objectives(objectives: object, field: str = "objectives") -> tuple[tuple[str, str], ...]:
    """``objectives`` as ``((metric, mode), ...)``: at least two, each named once.

    Raises
    ------
    ValueError
        Naming ``field``.
    """
    try:
        pairs = tuple((str(m), str(d)) for m, d in objectives)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{field}={objectives!r} must be (metric, 'min'|'max') pairs") from None
    if len(pairs) < 2 or any(d not in ("min", "max") or not m for m, d in pairs) or \
            len({m for m, _ in pairs}) != len(pairs):
        raise ValueError(f"{field}={objectives!r} must be two or more distinct (metric, 'min'|'max') pairs")
    return pairs
