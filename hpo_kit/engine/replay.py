"""Rebuild a study's trials from its journal (for ``Study.resume`` and offline analysis).

Damaged records are skipped, never fatal. A line the reader cannot parse is handled by
:func:`~hpo_kit.engine.journal.iter_journal`; a record that parses but whose fields are
wrong for its event (a ``trial_end`` whose ``status`` is not a :class:`TrialStatus`, a
``report`` without ``epoch``, ...) is skipped here, as a whole (no trial is half updated),
with a :class:`~hpo_kit.engine.journal.JournalWarning` naming its line. Either way the
line's number is listed in :attr:`Replay.damaged`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..trial import Trial, TrialStatus
from .journal import iter_journal, warn_damaged


@dataclass
class Replay:
    """What a journal says: the study's start record, its trials, and its interventions.

    Attributes
    ----------
    start
        The ``study_start`` record (``{}`` for a stream read with ``require_start=False``).
    trials
        The trials by id.
    controls
        The ``control`` records, in order.
    end_order
        Trial ids in the order their steps ended.
    ended
        Whether the study ended.
    damaged
        Numbers of the lines (records, for a stream) that were damaged and skipped, ascending.
    warm
        The ``warm_start`` record (earlier results told to the searcher), or ``None``.
    """

    start: dict[str, Any]
    trials: dict[int, Trial] = field(default_factory=dict)
    controls: list[dict[str, Any]] = field(default_factory=list)
    end_order: list[int] = field(default_factory=list)
    ends: list[tuple[int, TrialStatus, int, float]] = field(default_factory=list)  # (trial, status, epochs, busy)
    ended: bool = False
    damaged: list[int] = field(default_factory=list)
    warm: dict[str, Any] | None = None


def replay(path: str | os.PathLike) -> Replay:
    """Read a journal file into trial records, skipping (and listing) damaged lines.

    Parameters
    ----------
    path
        The journal file.

    Returns
    -------
    Replay
        The study as the journal tells it; ``damaged`` lists the skipped lines.

    Warns
    -----
    JournalWarning
        For each damaged line.

    Raises
    ------
    ValueError
        If the journal has no ``study_start`` record, or a newer schema.
    """
    damaged: list[int] = []
    return replay_numbered(iter_journal(path, damaged), source=f"journal {path}", damaged=damaged)


def replay_records(records: Iterable[dict[str, Any]], source: str = "journal",
                   require_start: bool = True) -> Replay:
    """Fold journal records (from a file, a live study's listeners or the scheduler) into trials.

    Parameters
    ----------
    records
        The records, in journal order; damaged ones are named by position (1-based).
    source
        What they came from, for messages.
    require_start
        With ``False`` a stream that begins mid-study is accepted (live views).

    Returns
    -------
    Replay
        The trials; ``damaged`` lists the positions of skipped records.

    Raises
    ------
    ValueError
        If ``require_start`` and the first record is not ``study_start``.
    """
    return replay_numbered(enumerate(records, 1), source=source, require_start=require_start, unit="record")


def replay_numbered(records: Iterable[tuple[int, dict[str, Any]]], source: str = "journal",
                    require_start: bool = True, damaged: list[int] | None = None,
                    unit: str = "line") -> Replay:
    """Fold ``(line_number, record)`` pairs into trials (see :func:`replay_records`).

    Parameters
    ----------
    records
        ``(number, record)`` pairs, e.g. from :func:`~hpo_kit.engine.journal.iter_journal`.
    source, require_start
        As for :func:`replay_records`.
    damaged
        A list that the reader appends damaged line numbers to while ``records`` is
        consumed; bad records found here are added, and it becomes ``Replay.damaged``.
    unit
        What the numbers count, for messages (``"line"`` or ``"record"``).

    Returns
    -------
    Replay
        The trials.
    """
    damaged = [] if damaged is None else damaged
    out: Replay | None = None if require_start else Replay(start={})
    for n, rec in records:
        ev = rec.get("event") if isinstance(rec, dict) else None
        if not isinstance(ev, str):
            warn_damaged(source, n, "not a record with a string 'event'", damaged, unit)
            continue
        if ev == "study_start":
            if out is None or not out.start:
                out = Replay(start=rec, trials=out.trials if out else {})
            continue
        if out is None:
            raise ValueError(f"{source}: first record is {ev!r}, expected 'study_start'")
        try:
            apply = _fold(out, ev, rec)
        except (KeyError, ValueError, TypeError) as e:
            problem = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            warn_damaged(source, n, f"bad {ev!r} record: {problem}", damaged, unit)
            continue
        if apply is not None:
            apply()
    if out is None:
        raise ValueError(f"{source}: no 'study_start' record")
    out.damaged = sorted(damaged)
    return out


def _fold(out: Replay, ev: str, rec: dict[str, Any]) -> Callable[[], None] | None:
    """Check one record and return the update it makes (``None``: nothing to do).

    Every field is read and checked before anything changes, so a bad record raises
    ``KeyError``/``ValueError``/``TypeError`` with the replay untouched.
    """
    if ev == "control":
        return lambda: out.controls.append(rec)
    if ev == "study_end":
        return lambda: setattr(out, "ended", True)
    if ev == "warm_start":
        for o in _need(rec["observations"], list, "observations"):
            _need(_need(o, dict, "observations[]").get("config"), dict, "config")
            _need(o.get("loss"), (int, float), "loss")
        return lambda: setattr(out, "warm", rec)
    tid = rec.get("trial")
    if ev == "trial_create":
        _need(tid, int, "trial")
        trial = Trial(id=tid, config=_need(rec["config"], dict, "config"), budget=rec.get("budget"),
                      parent=rec.get("parent"), created=_need(rec["t"], (int, float), "t"),
                      info=dict(rec["info"]) if isinstance(rec.get("info"), dict) else {})
        return lambda: out.trials.__setitem__(tid, trial)
    t = out.trials.get(tid) if isinstance(tid, int) else None
    if t is None:
        return None  # events of unknown trials (and unknown events) are ignored, as always
    if ev == "trial_start":
        worker, attempt = rec.get("worker"), _need(rec.get("attempt", 0), int, "attempt")
        started = t.started or _need(rec["t"], (int, float), "t")

        def start() -> None:
            t.status, t.worker, t.attempt, t.started = TrialStatus.RUNNING, worker, attempt, started
        return start
    if ev == "report":
        epoch = _need(rec["epoch"], (int, float), "epoch")
        entry = {"epoch": epoch, "t": rec["t"], "metrics": _need(rec["metrics"], dict, "metrics"),
                 **{k: rec[k] for k in ("constraints", "diag") if k in rec}}
        if epoch > t.epochs:
            return lambda: t.reports.append(entry)
        if rec.get("backfill") and all(r["epoch"] != epoch for r in t.reports):  # Ledger.backfill: a gap filled
            return lambda: t.reports.insert(sum(1 for r in t.reports if r["epoch"] < epoch), entry)
        return None
    if ev == "trial_resume":
        budget = rec.get("budget")

        def resume() -> None:
            t.status, t.budget = TrialStatus.PENDING, budget
        return resume
    if ev in ("trial_pause", "trial_end"):
        status, ended = TrialStatus(rec["status"]), rec["t"]
        busy = rec.get("busy", t.busy)
        error, tb, reason = rec.get("error"), rec.get("traceback"), rec.get("reason")
        discard = rec.get("discard", False)

        def end() -> None:
            t.status, t.busy, t.ended = status, busy, ended
            t.error, t.traceback, t.reason, t.discard = error, tb, reason, discard
            out.end_order.append(tid)
            out.ends.append((tid, status, t.epochs, busy))
        return end
    if ev == "flag":
        finding = rec["finding"]
        return lambda: t.flags.append(finding)
    if ev == "trial_warmup":
        seconds = float(_need(rec.get("seconds"), (int, float), "seconds"))
        return lambda: setattr(t, "warmup", t.warmup + seconds)
    return None


def _need(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise TypeError(f"field {name!r} is {value!r}, not {names}")
    return value
