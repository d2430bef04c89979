"""The workers' timeline: which trial ran where and when, with each step's warm-up apart.

A step's segment opens at its ``trial_start`` record and closes at the trial's next
``trial_pause``, ``trial_end`` or ``trial_retry``. The worker's warm-up (its first imports
and data loading, ``StepResult.setup``) is journalled by the driver as ``trial_warmup``
with its seconds, usually when the step ends; it is the *first* part of the step it
belongs to, so that step's segment is split in two: a ``WARMUP`` segment, then the
trial's own. Warm-up is therefore never drawn (or counted in :func:`utilisation`) as
trial time. Pure functions over journal records, like :mod:`hpo_kit.ui.data`.
"""
from __future__ import annotations

from typing import Any

from ..trial import TrialStatus
from .data import Columns, Records, t0_of

#: The ``status`` of a warm-up segment (coloured apart in the timeline).
WARMUP = "WARMUP"
COLUMNS = ("worker", "trial", "start", "end", "status", "running", "label")


def worker_timeline(records: Records, now: float | None = None) -> Columns:
    """One segment per step, and one per step's warm-up before it.

    A segment still open ends at ``now`` (default: the last record's time) and has
    ``running=True``. A warm-up record applies to the trial's open step, or else to its
    last closed one; it never takes more than that step's length.

    Returns
    -------
    dict
        ``worker``, ``trial``, ``start``, ``end`` (s since the study started), ``status``
        (how the step ended, ``RUNNING``, or :data:`WARMUP`), ``running``, ``label`` (the
        trial's id as text on its own segments, empty on warm-ups).
    """
    t0 = t0_of(records)
    now = now if now is not None else (records[-1]["t"] if records else t0)
    steps: list[dict[str, Any]] = []  # in the order they closed (then the open ones)
    open_: dict[int, dict[str, Any]] = {}
    last: dict[int, dict[str, Any]] = {}  # each trial's last closed step

    def close(tid: int, end: float, status: str, running: bool = False) -> None:
        step = open_.pop(tid)
        step.update(end=end, status=status, running=running)
        steps.append(step)
        last[tid] = step

    for rec in records:
        ev, tid = rec.get("event"), rec.get("trial")
        if ev == "trial_start":
            if tid in open_:  # restarted without an end record: close the older segment
                close(tid, rec["t"], "RETRIED")
            open_[tid] = {"worker": str(rec.get("worker")), "trial": tid, "start": rec["t"], "warmup": 0.0}
        elif ev in ("trial_pause", "trial_end", "trial_retry") and tid in open_:
            close(tid, rec["t"], rec.get("status", "RETRIED"))
        elif ev == "trial_warmup":
            step = open_.get(tid) or last.get(tid)
            if step is not None:
                step["warmup"] += max(0.0, float(rec.get("seconds") or 0.0))
    for tid in list(open_):
        close(tid, max(now, open_[tid]["start"]), TrialStatus.RUNNING.value, running=True)
    out: Columns = {name: [] for name in COLUMNS}

    def add(step: dict[str, Any], start: float, end: float, status: str, label: str, running: bool) -> None:
        for name, value in (("worker", step["worker"]), ("trial", step["trial"]), ("start", start - t0),
                            ("end", end - t0), ("status", status), ("running", running), ("label", label)):
            out[name].append(value)

    for step in steps:
        split = min(step["start"] + step["warmup"], step["end"])
        if split > step["start"]:
            add(step, step["start"], split, WARMUP, "", step["running"] and split >= step["end"])
        if step["end"] > split or split == step["start"]:  # a zero-length step still gets its own mark
            add(step, split, step["end"], step["status"], str(step["trial"]), step["running"])
    return out


def utilisation(timeline: Columns, n_workers: int, span: tuple[float, float]) -> float:
    """Share of ``n_workers * (span[1] - span[0])`` worker-seconds that ran a trial step (warm-up left out)."""
    lo, hi = span
    if hi <= lo or n_workers < 1:
        return 0.0
    busy = sum(max(0.0, min(e, hi) - max(s, lo))
               for s, e, st in zip(timeline["start"], timeline["end"], timeline["status"]) if st != WARMUP)
    return busy / (n_workers * (hi - lo))


def warmup_seconds(records: Records) -> dict[int, float]:
    """Each trial's warm-up seconds in all, from its ``trial_warmup`` records (for the table and the detail)."""
    out: dict[int, float] = {}
    for rec in records:
        if rec.get("event") == "trial_warmup" and isinstance(rec.get("trial"), int):
            out[rec["trial"]] = out.get(rec["trial"], 0.0) + max(0.0, float(rec.get("seconds") or 0.0))
    return out
