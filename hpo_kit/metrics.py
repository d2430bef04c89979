"""Study-level metrics of the papers, as pure functions over study results.

From BTTackler (``METHODS.md`` §4):

* :func:`top_k_hit_ratio`: share of the top-k trials of two pooled studies that came from
  the method (Definition 3, "Top10 Hit Ratio"); :func:`top_k_gain` states the same pool as
  "x% more top-k trials than the baseline" (the paper's +44.5%).
* :func:`tsba`: time saving for baseline accuracy, ``1 - T_method / T_baseline`` where T is
  the time a study needs to first reach the baseline's best value (Definition 4; the paper's
  40.33%), from :func:`time_to_reach`.

And, for every method, :func:`worker_utilisation`: the share of worker time spent training.

Inputs are what a study gives: ``study.results`` (a DataFrame with a ``score`` column), or
``study.trials`` (a mapping or list of :class:`~hpo_kit.trial.Trial`) where per-report
times are needed, or plain score lists. Times are seconds from ``start`` (default: when the
study's first trial was created, i.e. the study start).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

import pandas as pd

from .trial import Trial

Trials = Union[Mapping[int, Trial], Iterable[Trial]]
Scores = Union[pd.DataFrame, Sequence[float], Trials]


def _trials(trials: Trials) -> list[Trial]:
    return list(trials.values()) if isinstance(trials, Mapping) else list(trials)


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"mode={mode!r} must be 'min' or 'max'")


def _scores(x: Scores, metric: str | None, mode: str) -> list[float]:
    """Finite scores: a DataFrame's ``score`` column, numbers, or each trial's best ``metric``."""
    if isinstance(x, pd.DataFrame):
        values = x["score"].tolist()
    else:
        items = _trials(x) if isinstance(x, Mapping) else list(x)
        if items and isinstance(items[0], Trial):
            if metric is None:
                raise ValueError("scores of Trial lists need metric=")
            pick = max if mode == "max" else min
            values = [pick([v for v in t.values(metric) if math.isfinite(v)], default=math.nan) for t in items]
        else:
            values = [float(v) for v in items]
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _top_k_counts(method: list[float], baseline: list[float], k: int, mode: str) -> tuple[float, float]:
    """How many of the pooled top-k each side holds; ties at the cut share the last places pro rata."""
    pool = sorted(method + baseline, reverse=(mode == "max"))
    k = min(k, len(pool))
    if k == 0:
        return 0.0, 0.0
    cut = pool[k - 1]
    better = (lambda v: v > cut) if mode == "max" else (lambda v: v < cut)
    above_m, above_b = sum(map(better, method)), sum(map(better, baseline))
    tied_m, tied_b = method.count(cut), baseline.count(cut)
    free = k - above_m - above_b
    return above_m + free * tied_m / (tied_m + tied_b), above_b + free * tied_b / (tied_m + tied_b)


def top_k_hit_ratio(method: Scores, baseline: Scores, k: int = 10, mode: str = "max",
                    metric: str | None = None) -> float:
    """Share of the pooled top-``k`` trials that came from ``method`` (BTTackler's Top10 Hit Ratio).

    Parameters
    ----------
    method, baseline
        ``study.results`` DataFrames (their ``score``), trial lists (with ``metric``), or scores.
    k
        Size of the pooled top (fewer when the pool is smaller).
    mode
        ``"max"`` when higher scores are better (accuracy, the paper's case), else ``"min"``.

    Returns
    -------
    float
        In [0, 1]; 0.5 means both studies placed equally many trials in the top ``k``.
        Non-finite scores are left out; NaN if neither study has a finite score.
    """
    _check_mode(mode)
    m, b = _top_k_counts(_scores(method, metric, mode), _scores(baseline, metric, mode), k, mode)
    return m / (m + b) if m + b > 0 else math.nan


def top_k_gain(method: Scores, baseline: Scores, k: int = 10, mode: str = "max", metric: str | None = None) -> float:
    """How many more of the pooled top-``k`` trials came from ``method`` than from ``baseline``.

    ``n_method / n_baseline - 1``: 0.445 is the paper's "44.5% more top-10 trials"; ``inf``
    when the baseline has none in the top.
    """
    _check_mode(mode)
    m, b = _top_k_counts(_scores(method, metric, mode), _scores(baseline, metric, mode), k, mode)
    if b == 0:
        return math.inf if m > 0 else math.nan
    return m / b - 1.0


def _origin(trials: list[Trial], start: float | None) -> float:
    """The time metrics count from: ``start``, else the earliest creation (or start) of a trial.

    Raises
    ------
    ValueError
        If ``start`` is None and no trial has a creation or start time.
    """
    if start is not None:
        return start
    # 0.0 is a time (a simulator's clock starts there), so "missing" is None only: no ``or``.
    times = [t.created if t.created is not None else t.started for t in trials]
    times = [x for x in times if x is not None]
    if not times:
        raise ValueError("no trial has a creation time; pass start=")
    return min(times)


def best_so_far(trials: Trials, metric: str, mode: str = "max", start: float | None = None) -> list[tuple[float, float]]:
    """The study's best ``metric`` over time: ``(seconds from start, best so far)`` at each improvement."""
    _check_mode(mode)
    items = _trials(trials)
    t0 = _origin(items, start)
    points = sorted((r["t"] - t0, float(r["metrics"][metric])) for t in items for r in t.reports
                    if metric in r["metrics"] and math.isfinite(r["metrics"][metric]))
    out: list[tuple[float, float]] = []
    for when, value in points:
        if not out or (value > out[-1][1] if mode == "max" else value < out[-1][1]):
            out.append((when, value))
    return out


def time_to_reach(trials: Trials, target: float, metric: str, mode: str = "max", start: float | None = None) -> float:
    """Seconds from ``start`` until some trial first reported ``metric`` at least as good as ``target``.

    Returns ``inf`` if no report reached it.
    """
    for when, value in best_so_far(trials, metric, mode, start):
        if (value >= target) if mode == "max" else (value <= target):
            return when
    return math.inf


def tsba(method: Trials, baseline: Trials, metric: str, mode: str = "max", method_start: float | None = None,
         baseline_start: float | None = None) -> float:
    """Time saving for baseline accuracy: ``1 - T_method / T_baseline``.

    T is the time to first reach the baseline's best ``metric`` (its best report). Positive:
    the method got there sooner (0.4033 is the paper's 40.33%); ``-inf``: it never got there.

    Raises
    ------
    ValueError
        If the baseline has no finite value of ``metric``.
    """
    curve = best_so_far(baseline, metric, mode, baseline_start)
    if not curve:
        raise ValueError(f"tsba: the baseline has no finite {metric!r}")
    target, t_base = curve[-1][1], curve[-1][0]
    t_method = time_to_reach(method, target, metric, mode, method_start)
    if math.isinf(t_method):
        return -math.inf
    return 1.0 - t_method / t_base if t_base > 0 else 0.0


def worker_utilisation(trials: Trials, n_workers: int, start: float | None = None, end: float | None = None) -> float:
    """Share of ``n_workers`` x wall time that trials spent running (their ``busy`` seconds).

    ``start`` defaults to the first trial's creation, ``end`` to the last trial's end.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers={n_workers!r} must be >= 1")
    items = _trials(trials)
    t0 = _origin(items, start)
    t1 = end if end is not None else max((t.ended for t in items if t.ended is not None), default=t0)
    span = t1 - t0
    return sum(t.busy for t in items) / (n_workers * span) if span > 0 else math.nan


__all__ = ["best_so_far", "time_to_reach", "top_k_gain", "top_k_hit_ratio", "tsba", "worker_utilisation"]
