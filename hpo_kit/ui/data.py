"""Plot data from journal records: pure functions, no widgets, no Bokeh (tested without a browser).

Every view of a study (the notebook panel and plots, the Dask dashboard page) reads
the study's journal records (see :class:`hpo_kit.ui.feed.Feed`) and turns them into
*columns*: dicts of equal-length lists, ready for a Bokeh ``ColumnDataSource``. Times
are seconds since the study started (its ``study_start`` record). Following Optuna's
``_get_*_info`` functions, rendering is somebody else's job: these functions choose
what is shown, :mod:`hpo_kit.ui.plots` chooses how.

Records, not ``Study`` objects, are the input because they are the one form every view
has: a live study (``study.listeners``), a journal file, and the scheduler's dashboard.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from ..engine.replay import replay_records
from ..goal import Goal
from ..trial import Trial, TrialStatus

Records = Sequence[dict[str, Any]]
Columns = dict[str, list]

#: The category of a trial that a diagnosis monitor flagged (drawn apart from its status).
FLAGGED = "FLAGGED"


def study_start(records: Records) -> dict[str, Any]:
    """The study's ``study_start`` record (``{}`` before it is written)."""
    return next((r for r in records if r.get("event") == "study_start"), {})


def goal_of(records: Records) -> Goal:
    """The study's goal, from its start record (``loss``/``min`` when unknown)."""
    return Goal(**study_start(records).get("goal", {"metric": "loss"}))


def t0_of(records: Records) -> float:
    """Unix time the study started (the first record's time if there is no start record)."""
    start = study_start(records)
    if start:
        return float(start["t"])
    return float(records[0]["t"]) if records else 0.0


_folded: tuple[Any, int, Any, dict[int, Trial]] | None = None  # (records, len, last record, trials)


def fold_trials(records: Iterable[dict[str, Any]]) -> dict[int, Trial]:
    """Rebuild trial records from journal records (the engine's own replay, mid-study allowed).

    One redraw asks this of the same list a dozen times (each figure, the table, the panel);
    the last answer is kept for that list while it has the same length and last record
    (journals only grow), so the journal is replayed once per redraw. Treat the trials
    returned as read-only.
    """
    global _folded
    if isinstance(records, list) and records:
        kept = _folded
        if kept is not None and kept[0] is records and kept[1] == len(records) and kept[2] is records[-1]:
            return kept[3]
        trials = replay_records(records, source="records", require_start=False).trials
        _folded = (records, len(records), records[-1], trials)
        return trials
    return replay_records(records, source="records", require_start=False).trials


def category(trial: Trial) -> str:
    """How a trial is coloured: :data:`FLAGGED` if a monitor flagged it, else its status."""
    return FLAGGED if trial.flags else trial.status.value


def learning_curves(records: Records, metric: str | None = None) -> Columns:
    """One line per trial: the metric against epochs.

    Returns
    -------
    dict
        ``trial``, ``xs`` (epochs), ``ys`` (values; NaN kept), ``status``, ``category``
        (status, or ``FLAGGED``), ``flags`` (indicator names, comma-separated).
    """
    metric = metric or goal_of(records).metric
    out: Columns = {"trial": [], "xs": [], "ys": [], "status": [], "category": [], "flags": []}
    for t in fold_trials(records).values():
        points = [(r["epoch"], float(r["metrics"][metric])) for r in t.reports if metric in r["metrics"]]
        if not points:
            continue
        out["trial"].append(t.id)
        out["xs"].append([p[0] for p in points])
        out["ys"].append([p[1] for p in points])
        out["status"].append(t.status.value)
        out["category"].append(category(t))
        out["flags"].append(",".join(f["indicator"] for f in t.flags))
    return out


def best_so_far(records: Records, now: float | None = None) -> Columns:
    """The best score seen so far against wall time: one point per improvement, then one at ``now``.

    With ``score="best"`` every finite report counts the moment it arrives; with
    ``score="last"`` a trial counts once its step ends (its last report is then known).
    The last point repeats the best at ``now`` (default: the last record's time), so a
    step line drawn through the points reaches the present.

    Returns
    -------
    dict
        ``elapsed`` (s), ``best``, ``trial`` (the trial that set it).
    """
    goal, t0 = goal_of(records), t0_of(records)
    out: Columns = {"elapsed": [], "best": [], "trial": []}
    best: float | None = None
    for rec in records:
        if goal.score == "best" and rec.get("event") == "report":
            value = rec.get("metrics", {}).get(goal.metric)
        elif goal.score == "last" and rec.get("event") in ("trial_end", "trial_pause"):
            value = rec.get("score")
        else:
            continue
        if value is None or not math.isfinite(value) or not goal.better(value, best):
            continue
        best = float(value)
        out["elapsed"].append(rec["t"] - t0)
        out["best"].append(best)
        out["trial"].append(rec["trial"])
    end = (now if now is not None else records[-1]["t"] if records else t0) - t0
    if out["elapsed"] and end > out["elapsed"][-1]:
        for name, value in (("elapsed", end), ("best", best), ("trial", out["trial"][-1])):
            out[name].append(value)
    return out


def trial_scores(records: Records) -> Columns:
    """Every trial's score, as a point at the time its (last) step ended; NaN scores left out.

    Returns
    -------
    dict
        ``elapsed`` (s), ``score``, ``trial``, ``status``, ``category``.
    """
    goal, t0 = goal_of(records), t0_of(records)
    trials = fold_trials(records)
    at = {r["trial"]: r["t"] for r in records if r.get("event") in ("trial_end", "trial_pause")}
    out: Columns = {"elapsed": [], "score": [], "trial": [], "status": [], "category": []}
    for t in trials.values():
        score = t.score(goal)
        if t.id not in at or score is None or not math.isfinite(score):
            continue
        for name, value in (("elapsed", at[t.id] - t0), ("score", float(score)), ("trial", t.id),
                            ("status", t.status.value), ("category", category(t))):
            out[name].append(value)
    return out


def robust_range(values: Iterable[float], log: bool = False, pad: float = 0.05) -> tuple[float, float] | None:
    """A y range that shows the bulk of ``values`` and leaves far outliers (a diverged trial) outside.

    Values beyond 3 interquartile ranges from the quartiles are outliers; the range spans
    the rest, padded by ``pad`` of its width. ``log=True`` works on log10 of the positive
    values (for a log axis). ``None`` when there is nothing finite to show.
    """
    xs = sorted(math.log10(v) if log else float(v) for v in values
                if v is not None and math.isfinite(v) and (v > 0 or not log))
    if not xs:
        return None
    q1, q3 = _quantile(xs, 0.25), _quantile(xs, 0.75)
    fence = 3.0 * (q3 - q1)
    inliers = [x for x in xs if q1 - fence <= x <= q3 + fence] or xs
    lo, hi = inliers[0], inliers[-1]
    if hi <= lo:  # one value: a window around it, never an empty range
        half = max(abs(hi) * 0.1, 0.5 if not log else 0.1) / 2
        lo, hi = lo - half, hi + half
    width = hi - lo
    lo, hi = lo - pad * width, hi + pad * width
    return (10 ** lo, 10 ** hi) if log else (lo, hi)


def _quantile(sorted_xs: list[float], q: float) -> float:
    pos = q * (len(sorted_xs) - 1)
    i = int(pos)
    frac = pos - i
    return sorted_xs[i] if i + 1 >= len(sorted_xs) else sorted_xs[i] * (1 - frac) + sorted_xs[i + 1] * frac


def stagger(xs: Sequence[float], span: float, levels: int = 4, gap: float = 0.12) -> list[int]:
    """A label level (0 = top) for each x, so labels closer than ``gap * span`` sit on different levels.

    Levels cycle once all ``levels`` are taken; the result is in the order of ``xs``.
    """
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    last: list[float] = [-math.inf] * levels
    out = [0] * len(xs)
    min_gap = gap * span if span > 0 else 0.0
    for k, i in enumerate(order):
        level = next((lv for lv in range(levels) if xs[i] - last[lv] >= min_gap), k % levels)
        last[level] = xs[i]
        out[i] = level
    return out


def rungs(records: Records) -> tuple[Columns, Columns]:
    """ASHA's picture: epochs each trial reached, and how many trials reached each rung.

    The rung levels are the epoch budgets that the policy asked for (``trial_create`` and
    ``trial_resume`` budgets): for ASHA and SHA these are r_min * eta^k.

    Returns
    -------
    (per_trial, per_rung)
        ``per_trial``: ``trial``, ``epochs``, ``budget``, ``status``, ``category``;
        ``per_rung``: ``rung`` (epochs, ascending), ``reached`` (trials with at least
        that many epochs), ``running`` (trials now working toward it).
    """
    trials = fold_trials(records)
    levels = sorted({r["budget"] for r in records if r.get("event") in ("trial_create", "trial_resume")
                     and r.get("budget") is not None})
    per_trial: Columns = {"trial": [], "epochs": [], "budget": [], "status": [], "category": []}
    for t in trials.values():
        for name, value in (("trial", t.id), ("epochs", t.epochs), ("budget", t.budget),
                            ("status", t.status.value), ("category", category(t))):
            per_trial[name].append(value)
    live = (TrialStatus.RUNNING, TrialStatus.PENDING)
    per_rung: Columns = {"rung": levels,
                         "reached": [sum(t.epochs >= r for t in trials.values()) for r in levels],
                         "running": [sum(t.budget == r and t.status in live for t in trials.values())
                                     for r in levels]}
    return per_trial, per_rung


def policy_params(records: Records) -> dict[str, Any]:
    """The journalled parameters of the study's scheduler and its searcher, in one dict (scheduler's win)."""
    opt = dict(study_start(records).get("optimizer", {}) or {})
    return {**(opt.pop("searcher", None) or {}), **opt}


def bo_cost(records: Records, state: dict[str, Any] | None = None) -> tuple[Columns, Columns]:
    """Time-aware BO's view: each result's loss L, time T and cost Z = L + b*T, and the b/switch changes.

    Each point is the cost as it stood when the trial's result was told: ``b`` from the
    start record's optimizer parameters, then from each ``tune`` control; ``Z = L`` once
    the policy had switched (``state["switched"]["elapsed"]``, seconds since the start, as
    :class:`~hpo_kit.optimizers.TimeAwareBO` reports it). T follows the policy's
    ``time_unit``: busy seconds, or (``"median"``, its default) busy seconds over the
    median of the results told so far.

    Returns
    -------
    (points, markers)
        ``points``: ``trial``, ``elapsed``, ``loss``, ``time`` (T, in the policy's unit),
        ``seconds``, ``cost``, ``b``; ``markers``: ``elapsed``, ``param``, ``value``,
        ``label`` (one per tuned parameter, and ``switched`` once the policy switched).
    """
    state = state or {}
    records = list(records)
    t0 = t0_of(records)
    params = policy_params(records)
    b = float(params.get("b", 0.0) or 0.0)
    median_unit = state.get("time_unit", params.get("time_unit", "median")) == "median"
    switch = next((r for r in records if r.get("event") == "control" and r.get("action") == "switch"), None)
    switched = (switch.get("value") if switch else None) or state.get("switched") or None
    if switch is not None:  # the policy's own journalled switch: works from a journal alone
        switched_at = float(switch["t"])
    else:
        switched_at = t0 + float(switched["elapsed"]) if switched and "elapsed" in switched else None
    points: Columns = {"trial": [], "elapsed": [], "loss": [], "time": [], "seconds": [], "cost": [], "b": []}
    markers: Columns = {"elapsed": [], "param": [], "value": [], "label": []}
    for rec in records:
        ev = rec.get("event")
        if ev == "control" and rec.get("action") == "tune":
            for name, value in (rec.get("value") or {}).items():
                if name == "b":
                    b = float(value)
                for col, v in (("elapsed", rec["t"] - t0), ("param", name), ("value", value),
                               ("label", f"{name}={value}")):
                    markers[col].append(v)
        elif ev == "trial_end" and rec.get("told") is not None and not rec.get("discard"):
            seconds = float(rec.get("busy") or 0.0)
            scale = statistics.median(points["seconds"] + [seconds]) if median_unit else 1.0
            time_ = seconds / scale if scale > 0 else 1.0
            cost_b = 0.0 if switched_at is not None and rec["t"] >= switched_at else b
            loss = float(rec["told"])
            for col, v in (("trial", rec["trial"]), ("elapsed", rec["t"] - t0), ("loss", loss), ("time", time_),
                           ("seconds", seconds), ("cost", loss + cost_b * time_), ("b", cost_b)):
                points[col].append(v)
    if switched_at is not None:
        for col, v in (("elapsed", switched_at - t0), ("param", "switched"), ("value", switched.get("reason")),
                       ("label", "switched: Z = L")):
            markers[col].append(v)
    return points, markers


def __getattr__(name: str) -> Any:
    """``worker_timeline`` and ``utilisation`` moved to :mod:`hpo_kit.ui.timeline`; old imports keep working."""
    if name in ("worker_timeline", "utilisation"):
        from . import timeline

        return getattr(timeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
