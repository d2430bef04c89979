"""Rebuild a study's trials from its journal (for ``Study.resume`` and offline analysis)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..trial import Trial, TrialStatus
from .journal import read_journal


@dataclass
class Replay:
    """What a journal says: the study's start record, its trials, and its interventions."""

    start: dict[str, Any]
    trials: dict[int, Trial] = field(default_factory=dict)
    controls: list[dict[str, Any]] = field(default_factory=list)
    end_order: list[int] = field(default_factory=list)  # trial ids in the order their steps ended
    ended: bool = False


def replay(path: str | os.PathLike) -> Replay:
    """Read a journal file into trial records.

    Raises
    ------
    ValueError
        If the journal has no ``study_start`` record.
    """
    return replay_records(read_journal(path), source=f"journal {path}")


def replay_records(records: Iterable[dict[str, Any]], source: str = "journal",
                   require_start: bool = True) -> Replay:
    """Fold journal records (from a file, a live study's listeners or the scheduler) into trials.

    With ``require_start=False`` a stream that begins mid-study is accepted (live views).
    """
    out: Replay | None = None if require_start else Replay(start={})
    for rec in records:
        ev = rec["event"]
        if ev == "study_start":
            if out is None or not out.start:
                out = Replay(start=rec, trials=out.trials if out else {})
            continue
        if out is None:
            raise ValueError(f"{source}: first record is {ev!r}, expected 'study_start'")
        tid = rec.get("trial")
        t = out.trials.get(tid) if tid is not None else None
        if ev == "trial_create":
            out.trials[tid] = Trial(id=tid, config=rec["config"], budget=rec.get("budget"),
                                    parent=rec.get("parent"), created=rec["t"])
        elif ev == "trial_start" and t is not None:
            t.status, t.worker, t.attempt = TrialStatus.RUNNING, rec.get("worker"), rec.get("attempt", 0)
            t.started = t.started or rec["t"]
        elif ev == "report" and t is not None:
            if rec["epoch"] > t.epochs:
                t.reports.append({"epoch": rec["epoch"], "t": rec["t"], "metrics": rec["metrics"],
                                  **({"diag": rec["diag"]} if "diag" in rec else {})})
        elif ev == "trial_resume" and t is not None:
            t.status, t.budget = TrialStatus.PENDING, rec.get("budget")
        elif ev in ("trial_pause", "trial_end") and t is not None:
            t.status = TrialStatus(rec["status"])
            t.busy, t.ended = rec.get("busy", t.busy), rec["t"]
            t.error, t.traceback, t.reason = rec.get("error"), rec.get("traceback"), rec.get("reason")
            t.discard = rec.get("discard", False)
            out.end_order.append(tid)
        elif ev == "flag" and t is not None:
            t.flags.append(rec["finding"])
        elif ev == "control":
            out.controls.append(rec)
        elif ev == "study_end":
            out.ended = True
    if out is None:
        raise ValueError(f"{source}: no 'study_start' record")
    return out
