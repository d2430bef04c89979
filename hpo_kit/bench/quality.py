"""Diagnosis quality from ground truth, and paired-seed comparisons of replayed searches.

Ground truth (:func:`truth`)
----------------------------
Every row of a table was trained to its full epochs, so how each configuration *ends* is known.
With ``final`` the goal metric at the last epoch (``max_epochs``) and ``best`` the best finite
``final`` in the table:

* **ends good**: ``final`` at least ``good`` (default ``0.9 * best``) - within 10% of the best;
* **ends bad**: ``final`` below ``bad`` (default ``0.5 * best``), or not finite - it failed to
  learn (under half the best accuracy; chance on 10 classes is 0.1);
* otherwise **middling** (learns, but slowly or poorly): counted, neither right nor wrong.

The defaults assume a metric to maximise that is positive, such as accuracy; for a loss (``mode
"min"``) pass both thresholds in the metric's units (``good``: at most, ``bad``: above).

Flags (:func:`first_flags`)
---------------------------
Each row's history is fed, epoch by epoch, to a fresh monitor, as the study does (the monitor
sees the row's reports up to that epoch, ``diag`` included). The cross-trial protection rule
needs peers: they are the rows recorded before it (lower id: for a table recorded by a random
search, the trials that had run by then, as in the live study). The first finding is when a
``on_flag="stop"`` study would have stopped the trial. Per indicator, a monitor with only that
indicator is used, so each indicator's own first epoch is known.

A second, rank-based ground truth, :func:`top_half`: the rows whose final value is in the
better half of the table (issue 27's "good"); a replayed arm counts the trials of those rows it
started and stopped (``top_half`` / ``flag_stopped_top_half`` in :func:`arm_stats`), so a
monitor's "good trials stopped" is printed as both counts.

Quality (:func:`flag_quality`): precision (flagged trials that end bad, over flagged),
recall (flagged over ending bad), the share of good configurations flagged (the false alarms
that cost a study its good trials), the median first-flag epoch, and the share of the bad
configurations' training seconds a stop at the flag saves.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..trial import Trial, TrialStatus
from .table import Table

GOOD, BAD, MID = "good", "bad", "middling"


def truth(table: Table, good: float | None = None, bad: float | None = None) -> dict[int, str]:
    """Each complete row's ending: ``"good"``, ``"bad"`` or ``"middling"`` (see the module docstring).

    Raises
    ------
    ValueError
        For ``mode="min"`` without both thresholds, or a table without a finite final value.
    """
    full = table.complete()
    final = {r.id: r.values(table.metric)[table.max_epochs - 1] for r in full.rows}
    finite = [v for v in final.values() if math.isfinite(v)]
    if not finite:
        raise ValueError("truth: no row ends with a finite value")
    if table.mode == "max":
        best = max(finite)
        good = 0.9 * best if good is None else good
        bad = 0.5 * best if bad is None else bad
        is_good, is_bad = (lambda v: v >= good), (lambda v: v < bad)
    else:
        if good is None or bad is None:
            raise ValueError("truth: a table to minimise needs good= and bad= in the metric's units")
        is_good, is_bad = (lambda v: v <= good), (lambda v: v > bad)
    return {rid: (BAD if not math.isfinite(v) or is_bad(v) else GOOD if is_good(v) else MID)
            for rid, v in final.items()}


def top_half(table: Table) -> set[int]:
    """Ids of the complete rows whose final ``metric`` (at ``max_epochs``) is in the better half.

    Rows are ranked best first (non-finite last, ties by id); the first ``ceil(n / 2)`` are the top half.
    """
    full = table.complete()
    final = {r.id: r.values(table.metric)[table.max_epochs - 1] for r in full.rows}
    sign = -1.0 if table.mode == "max" else 1.0
    ranked = sorted(final, key=lambda rid: (0, sign * final[rid], rid) if math.isfinite(final[rid]) else (1, 0.0, rid))
    return set(ranked[:(len(ranked) + 1) // 2])


def _trial(row: Any, tid: int, epochs: int | None = None) -> Trial:
    n = len(row.epochs) if epochs is None else epochs
    reports = [{"epoch": e + 1, "t": float(e), **row.report(e + 1)} for e in range(n)]
    return Trial(id=tid, config=dict(row.config), status=TrialStatus.RUNNING, reports=reports)


def first_flags(table: Table, make_monitor: Callable[[], Any]) -> dict[int, dict[str, Any] | None]:
    """The first finding of ``make_monitor()`` on each complete row (``None``: never flagged).

    Peers for the protection rule are the rows with a lower id (see the module docstring).
    """
    full = table.complete()
    rows = sorted(full.rows, key=lambda r: r.id)
    done: dict[int, Trial] = {}
    out: dict[int, dict[str, Any] | None] = {}
    for row in rows:
        monitor = make_monitor()
        me = Trial(id=-1, config=dict(row.config), status=TrialStatus.RUNNING, budget=full.max_epochs)
        peers: Mapping[int, Trial] = _With(done, me)
        out[row.id] = None
        for e in range(1, full.max_epochs + 1):
            me.reports.append({"epoch": e, "t": float(e), **row.report(e)})
            finding = monitor.check(me, peers, full.max_epochs)
            if finding is not None:
                out[row.id] = finding.to_dict()
                break
        done[row.id] = _trial(row, row.id, full.max_epochs)
    return out


class _With(Mapping):
    """``done`` plus the trial under test (by its own id), without copying ``done``."""

    def __init__(self, done: dict[int, Trial], me: Trial) -> None:
        self.done, self.me = done, me

    def __getitem__(self, k: int) -> Trial:
        return self.me if k == self.me.id else self.done[k]

    def __iter__(self):
        yield from self.done
        yield self.me.id

    def __len__(self) -> int:
        return len(self.done) + 1

    def values(self):  # type: ignore[override]
        return [*self.done.values(), self.me]


@dataclass
class FlagQuality:
    """Ground-truth quality of one set of flags (see the module docstring)."""

    name: str
    flagged: int
    flagged_bad: int
    flagged_good: int
    flagged_mid: int
    n_bad: int
    n_good: int
    n_mid: int
    median_epoch: float
    saved: float  # share of the bad rows' seconds after their flag

    @property
    def precision(self) -> float:
        return self.flagged_bad / self.flagged if self.flagged else math.nan

    @property
    def recall(self) -> float:
        return self.flagged_bad / self.n_bad if self.n_bad else math.nan

    @property
    def good_flagged(self) -> float:
        return self.flagged_good / self.n_good if self.n_good else math.nan


def flag_quality(table: Table, flags: Mapping[int, dict[str, Any] | None], labels: Mapping[int, str],
                 name: str = "") -> FlagQuality:
    """Precision/recall of ``flags`` (row id -> first finding or None) against ``labels`` (:func:`truth`)."""
    rows = {r.id: r for r in table.complete().rows}
    hit = {rid for rid, f in flags.items() if f is not None and rid in labels}
    count = lambda ids, kind: sum(1 for rid in ids if labels[rid] == kind)  # noqa: E731
    epochs = [flags[rid]["epoch"] for rid in hit]
    total = after = 0.0
    for rid, kind in labels.items():
        if kind != BAD:
            continue
        sec = rows[rid].seconds()[:table.max_epochs]
        total += sum(sec)
        if rid in hit:
            after += sum(sec[flags[rid]["epoch"]:])
    return FlagQuality(name, len(hit), count(hit, BAD), count(hit, GOOD), count(hit, MID), count(labels, BAD),
                       count(labels, GOOD), count(labels, MID), statistics.median(epochs) if epochs else math.nan,
                       after / total if total else math.nan)


# -- paired seeds --------------------------------------------------------------------------------
def interval(values: Sequence[float], level: float = 0.95, n_boot: int = 2000,
             seed: int = 0) -> tuple[float, float, float]:
    """Median of ``values`` and a percentile-bootstrap ``level`` interval of the median.

    Infinite values (e.g. a TSBA of ``-inf``: never reached) take part as the extremes they are.
    """
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(x, size=(n_boot, len(x)), replace=True), axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(np.median(x)), float(lo), float(hi)


def arm_stats(table: Table, res: Any, labels: Mapping[int, str], top: set[int] | None = None) -> dict[str, Any]:
    """Counts of one replayed search: trials started, completed, stopped, best score, stopped-good.

    ``flag_stopped_good``: flag-stopped trials whose row ends good by ``labels`` (``good``: the trials
    started whose row ends good); with ``top``
    (:func:`top_half`), ``top_half`` is the trials started whose row is in it and
    ``flag_stopped_top_half`` the flag-stopped ones among them.
    """
    from .replay import row_of

    trials = list(res.trials.values())
    goal = table.goal
    scores = [s for s in (t.score(goal) for t in trials) if s is not None]
    stopped = [t for t in trials if t.status is TrialStatus.STOPPED and t.flags]
    out = {"trials": len(trials), "completed": sum(t.status is TrialStatus.COMPLETED for t in trials),
           "stopped": sum(t.status is TrialStatus.STOPPED for t in trials),
           "flag_stopped": len(stopped),
           "flag_stopped_good": sum(labels.get(row_of(table, t).id) == GOOD for t in stopped),
           "good": sum(labels.get(row_of(table, t).id) == GOOD for t in trials),
           "best": (max(scores) if goal.mode == "max" else min(scores)) if scores else math.nan}
    if top is not None:
        out["top_half"] = sum(row_of(table, t).id in top for t in trials)
        out["flag_stopped_top_half"] = sum(row_of(table, t).id in top for t in stopped)
    return out


def paired(table: Table, make_policy: Callable[[int], Any], make_monitor: Callable[[], Any], seeds: Iterable[int],
           labels: Mapping[int, str], cache: dict[int, Any] | None = None, control: bool = False,
           **replay_kw: Any) -> list[dict[str, Any]]:
    """Per seed: the same policy without and with the monitor (``on_flag="stop"``) on ``table``.

    ``cache`` (seed -> baseline result) reuses baseline arms across calls with the same policy and
    ``replay_kw`` (e.g. when several monitors are compared). ``control=True`` adds a third arm, the
    random-flag control (:class:`~hpo_kit.bench.control.RandomFlags` ``.like`` the monitored arm:
    as many stops at the same epochs, on trial ids drawn with the seed).

    Returns one dict per seed: ``base`` and ``diag`` (:func:`arm_stats`, with the :func:`top_half`
    counts), ``hit`` (top-10 hit ratio of the monitored arm's trials pooled with the baseline's),
    ``gain`` (top-10 gain) and ``tsba``; with ``control``, ``control`` (its arm stats) and
    ``control_hit``, ``control_gain``, ``control_tsba`` (each against the same baseline).
    """
    from ..metrics import top_k_gain, top_k_hit_ratio, tsba
    from .control import RandomFlags
    from .replay import replay

    top = top_half(table)
    kw = {"metric": table.metric, "mode": table.mode}

    def against(arm: Any, base: Any, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}hit": top_k_hit_ratio(arm.trials, base.trials, k=10, **kw),
                f"{prefix}gain": top_k_gain(arm.trials, base.trials, k=10, **kw),
                f"{prefix}tsba": tsba(arm.trials, base.trials, method_start=0.0, baseline_start=0.0, **kw)}

    out = []
    for seed in seeds:
        base = cache.get(seed) if cache is not None else None
        if base is None:
            base = replay(table, make_policy(seed), **replay_kw)
            if cache is not None:
                cache[seed] = base
        diag = replay(table, make_policy(seed), monitor=make_monitor(), on_flag="stop", **replay_kw)
        one = {"seed": seed, "base": arm_stats(table, base, labels, top), "diag": arm_stats(table, diag, labels, top),
               **against(diag, base), "decision_seconds": (base.decision_seconds, diag.decision_seconds)}
        if control:
            ctrl = replay(table, make_policy(seed), monitor=RandomFlags.like(diag.trials, seed), on_flag="stop",
                          **replay_kw)
            one.update(control=arm_stats(table, ctrl, labels, top), **against(ctrl, base, "control_"))
        out.append(one)
    return out
