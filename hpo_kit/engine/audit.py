"""The journal audit: a journal read for a resume obeys the same trial state machine as the ledger.

:class:`~hpo_kit.ledger.Ledger` refuses an illegal status change as it happens, so a journal
it wrote tells a legal story. A journal edited by hand, forged or damaged need not, and
replaying it blindly re-runs finished trials: a second ``trial_create`` of an id replaced
that trial (with a new config); a ``trial_start`` after the trial's ``trial_end`` made a
finished trial "interrupted", and so run again. :func:`audited` sits between the line
reader (:func:`~hpo_kit.engine.journal.iter_journal`) and the fold
(:func:`~hpo_kit.engine.replay.replay_numbered`) and lets through only records that the
ledger could have written, checked against :data:`hpo_kit.trial.TRANSITIONS`:

* ``trial_create``: a new id (never seen, also not among refused ones), an ``int`` with
  ``0 <= id <= largest id + 1 +`` :data:`MAX_ID_GAP` (ids are handed out in order, so a
  larger jump is no lost line but a forgery, and would make every later id huge); a config
  that the study's space accepts (:meth:`hpo_kit.space.Space.validate`); a known parent;
  a budget that is ``None`` or a non-negative ``int``.
* ``trial_start``: the trial is PENDING, or RUNNING/PAUSED with a higher ``attempt`` (a
  requeue writes no line of its own unless it is a retry, but always starts a new attempt).
* ``report``: the trial is RUNNING (the ledger refuses a report otherwise).
* ``trial_resume``: the trial is PAUSED. ``trial_pause``: RUNNING, with status PAUSED.
* ``trial_end``: a terminal status, and the trial not ended already. (PAUSED -> COMPLETED
  passes, as a requeue -- PAUSED -> PENDING, no line -- may come between.)
* ``study_resume``: the trials it names as interrupted are PENDING again.
* ``warm_start`` and a ``control`` with ``action="enqueue"``: every configuration they hold is
  inside the study's space (:mod:`hpo_kit.warm_start`, :mod:`hpo_kit.known`).

Skip or refuse. Every breach above concerns one trial, so the rest of the journal stays
true without it: the record is **skipped**, with a :class:`~hpo_kit.engine.journal.JournalWarning`
naming its line, and its number joins the replay's ``damaged`` list (journalled in
``study_resume``). A trial whose ``trial_create`` was skipped (or is missing) loses all its
lines; they are named in one warning per trial, not one per line, and only the line that
lost the trial counts as damaged. Nothing skipped is run
again: a finished trial stays finished with its first config and reports. The whole journal
is **refused** (:class:`JournalRefused`) only when its ``study_start`` has no usable space,
since then no configuration can be checked and a resume would run unchecked ones.
"""
from __future__ import annotations

import os

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..space import Space
from ..trial import TRANSITIONS, TrialStatus
from .journal import iter_journal, warn_damaged
from .replay import Replay, replay_numbered

#: How far past the largest id so far a new id may jump (lost lines; beyond: a forged id).
MAX_ID_GAP = 1000
_STATUSES = {s.value for s in TrialStatus}
_TRIAL_EVENTS = ("trial_start", "report", "trial_resume", "trial_retry", "trial_pause", "trial_end", "flag")


class JournalRefused(ValueError):
    """A journal that cannot be resumed at all (its ``study_start`` cannot be checked against)."""


@dataclass
class _Seen:
    """The audit's view of one trial: what the ledger's record of it would be now."""

    status: TrialStatus
    attempt: int
    line: int  # of its trial_create
    started: bool = False


def audited(records: Iterable[tuple[int, dict[str, Any]]], source: str = "journal",
            damaged: list[int] | None = None, unit: str = "line") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield the ``(number, record)`` pairs that keep the trial state machine; warn about the others.

    Parameters
    ----------
    records
        ``(number, record)`` pairs in journal order, e.g. from
        :func:`~hpo_kit.engine.journal.iter_journal`.
    source
        What they came from, for messages (``"journal <path>"``).
    damaged
        If given, the numbers of skipped records are appended to it.
    unit
        What the numbers count (``"line"`` or ``"record"``).

    Yields
    ------
    tuple of (int, dict)
        The records a resume may obey.

    Warns
    -----
    JournalWarning
        For each skipped record (one warning per trial for the lines of a skipped trial).

    Raises
    ------
    JournalRefused
        If the journal's ``study_start`` has no space that configurations can be checked against.
    """
    audit = _Audit(source, damaged, unit)
    for n, rec in records:
        if audit.admit(n, rec):
            yield n, rec
    audit.report_orphans()


def replay_audited(path: str | os.PathLike) -> Replay:
    """:func:`~hpo_kit.engine.replay.replay` of a journal file, through :func:`audited` (for a resume).

    Raises
    ------
    JournalRefused
        See :func:`audited`.
    ValueError
        If the journal has no ``study_start`` record, or a newer schema.
    """
    damaged: list[int] = []
    source = f"journal {os.fspath(path)}"
    return replay_numbered(audited(iter_journal(path, damaged), source, damaged), source=source, damaged=damaged)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _present(value: Any) -> bool:
    return True


def _mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _status(value: Any) -> bool:
    return value in _STATUSES


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The fields that :func:`~hpo_kit.engine.replay.replay_numbered` needs to apply a record.
_NEEDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "trial_create": {"t": _number, "config": _mapping},
    "report": {"t": _present, "epoch": _number, "metrics": _mapping},
    "trial_pause": {"t": _present, "status": _status},
    "trial_end": {"t": _present, "status": _status},
    "flag": {"finding": _present},
}


def _malformed(ev: str, rec: dict[str, Any], seen: _Seen | None) -> str | None:
    """What the fold would refuse in this record, checked first so that the audit's view only moves
    on records that the fold applies too (the two never disagree about a trial)."""
    need = dict(_NEEDS.get(ev, {}))
    if ev == "trial_start":
        need = {"attempt": _integer} if "attempt" in rec else {}
        if seen is not None and not seen.started:
            need["t"] = _number  # the first start gives the trial its start time
    for name, ok in need.items():
        if name not in rec:
            return f"without its {name!r} field"
        if not ok(rec[name]):
            return f"with {name}={rec[name]!r:.80}, not a valid value"
    return None


class _Audit:
    """The state machine's view of every trial so far, fed one record at a time."""

    def __init__(self, source: str, damaged: list[int] | None, unit: str) -> None:
        self.source, self.damaged, self.unit = source, damaged, unit
        self.space: Space | None = None
        self.trials: dict[int, _Seen] = {}
        self.top = -1  # the largest id admitted
        self.refused: dict[int, int] = {}  # id -> line of its skipped trial_create
        self.orphans: dict[Any, list[int]] = {}  # id -> lines skipped because the trial is not admitted

    def admit(self, n: int, rec: dict[str, Any]) -> bool:
        """Whether record ``n`` keeps the state machine (it then changes the audit's view)."""
        ev = rec.get("event") if isinstance(rec, dict) else None
        if ev == "study_start":
            if self.space is None:
                self._space(n, rec)
            return True
        if ev == "study_resume":
            interrupted = rec.get("interrupted")
            for tid in interrupted if isinstance(interrupted, list) else ():
                seen = self.trials.get(tid) if isinstance(tid, int) else None
                if seen is not None and not seen.status.is_terminal:
                    seen.status = TrialStatus.PENDING  # requeued by the resume (a new attempt), no line of its own
            return True
        if ev in ("warm_start", "control"):
            problem = self._configs(ev, rec)  # enqueued and warm-start configurations obey the space too
        elif ev == "trial_create":
            problem = _malformed(ev, rec, None) or self._create(n, rec)
        elif ev in _TRIAL_EVENTS:
            tid = rec.get("trial")
            seen = self.trials.get(tid) if isinstance(tid, int) and not isinstance(tid, bool) else None
            if seen is None:
                # Not "damaged" themselves: the line that lost the trial is (its create, skipped or unreadable).
                self.orphans.setdefault(tid if isinstance(tid, (int, str)) else repr(tid), []).append(n)
                return False
            problem = _malformed(ev, rec, seen) or self._step(ev, rec, seen)
        else:
            return True  # controls, study_end and events this audit does not know change no trial
        if problem is None:
            return True
        if ev == "trial_create":
            tid = rec.get("trial")
            if isinstance(tid, int) and not isinstance(tid, bool) and tid not in self.trials:
                self.refused.setdefault(tid, n)
        warn_damaged(self.source, n, f"{ev} {problem}", self.damaged, self.unit)
        return False

    def _space(self, n: int, rec: dict[str, Any]) -> None:
        try:
            self.space = Space.from_dict(rec["space"])
        except Exception as exc:  # noqa: BLE001 - whatever is wrong, no config can be checked
            raise JournalRefused(f"{self.source}: {self.unit} {n} (study_start) has no usable space "
                                 f"({type(exc).__name__}: {exc}): no trial's configuration can be checked, so the "
                                 f"journal cannot be resumed") from None

    def _configs(self, ev: str, rec: dict[str, Any]) -> str | None:
        """A warm start's or an enqueue's configurations, checked against the space (skipped whole if one is out)."""
        if ev == "control":
            if rec.get("action") != "enqueue":
                return None
            value = rec.get("value")
            configs = [value.get("config")] if isinstance(value, dict) else [None]
        else:
            obs = rec.get("observations")
            configs = [o.get("config") if isinstance(o, dict) else None for o in obs] if isinstance(obs, list) \
                else [None]
        for config in configs:
            if self.space is None or not isinstance(config, dict):
                return "without a configuration the study's space can check"
            try:
                self.space.validate(config)
            except (ValueError, TypeError) as exc:
                return f"with a configuration outside the study's space ({exc})"
        return None

    def _create(self, n: int, rec: dict[str, Any]) -> str | None:
        tid = rec.get("trial")
        if not isinstance(tid, int) or isinstance(tid, bool):
            return f"with trial={tid!r}, not an integer id"
        if tid < 0:
            return f"of trial {tid}: an id is never negative"
        if tid > self.top + 1 + MAX_ID_GAP:
            return (f"of trial {tid}: ids are handed out in order and the largest so far is {self.top}, so this one "
                    f"is implausible (more than {MAX_ID_GAP} past it)")
        if tid in self.trials or tid in self.refused:
            first = self.trials[tid].line if tid in self.trials else self.refused[tid]
            return f"of trial {tid}, which {self.unit} {first} created already (an id is never reused)"
        if self.space is None:
            return f"of trial {tid} before the study_start"
        try:
            self.space.validate(rec["config"])
        except (ValueError, TypeError) as exc:  # SpaceError, or values that cannot be compared
            return f"of trial {tid} with a configuration outside the study's space ({exc})"
        parent, budget = rec.get("parent"), rec.get("budget")
        if parent is not None and (not isinstance(parent, int) or parent not in self.trials):
            return f"of trial {tid} with parent={parent!r}, which is no trial of this study"
        if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 0):
            return f"of trial {tid} with budget={budget!r}, not a non-negative integer"
        self.trials[tid] = _Seen(TrialStatus.PENDING, 0, n)
        self.top = max(self.top, tid)
        return None

    def _step(self, ev: str, rec: dict[str, Any], seen: _Seen) -> str | None:
        tid, was = rec["trial"], seen.status
        if ev == "flag":
            return None  # a finding changes no status (a monitor may flag a trial as it ends)
        if ev == "trial_retry":
            attempt = rec.get("attempt", seen.attempt)
            if was.is_terminal:
                return f"of trial {tid}, which is {was.value}: a finished trial is never retried"
            if isinstance(attempt, int) and attempt > seen.attempt:
                seen.attempt, seen.status = attempt, TrialStatus.PENDING  # the ledger's requeue, journalled
            return None
        if ev == "trial_start":
            attempt = rec.get("attempt", 0)
            requeued = was in (TrialStatus.RUNNING, TrialStatus.PAUSED) and attempt > seen.attempt
            if not (was is TrialStatus.PENDING and attempt >= seen.attempt) and not requeued:
                return (f"of trial {tid} (attempt {attempt}), which is {was.value} (attempt {seen.attempt}): "
                        + ("a finished trial never runs again" if was.is_terminal else
                           "only a pending trial, or a new attempt, starts"))
            seen.status, seen.attempt, seen.started = TrialStatus.RUNNING, attempt, True
            return None
        if ev == "report":
            if was is not TrialStatus.RUNNING:
                return f"of trial {tid} (epoch {rec.get('epoch')!r}), which is {was.value}, not RUNNING"
            return None
        if ev == "trial_resume":
            if was is not TrialStatus.PAUSED:
                return f"of trial {tid}, which is {was.value}: only a PAUSED trial is resumed"
            seen.status = TrialStatus.PENDING
            return None
        return self._end(ev, tid, seen, TrialStatus(rec["status"]))

    def _end(self, ev: str, tid: int, seen: _Seen, status: TrialStatus) -> str | None:
        was = seen.status
        if ev == "trial_pause" and status is not TrialStatus.PAUSED:
            return f"of trial {tid} with status {status.value}, not PAUSED"
        if ev == "trial_end" and not status.is_terminal:
            return f"of trial {tid} with status {status.value}, which ends nothing"
        legal = TRANSITIONS[was] | (TRANSITIONS[TrialStatus.PENDING] if not was.is_terminal else frozenset())
        if (ev == "trial_pause" and was is not TrialStatus.RUNNING) or status not in legal:
            why = "it ended already" if was.is_terminal else "only a running trial pauses"
            return f"of trial {tid} ({was.value} -> {status.value}): {why}"
        seen.status = status
        return None

    def report_orphans(self) -> None:
        """One warning per trial whose lines were skipped with it (its creation skipped or missing)."""
        for tid, lines in self.orphans.items():
            shown = ", ".join(map(str, lines[:10])) + (f" (and {len(lines) - 10} more)" if len(lines) > 10 else "")
            why = (f"its trial_create was skipped ({self.unit} {self.refused[tid]})" if tid in self.refused
                   else "no trial_create of it was read (a damaged or missing line)")
            warn_damaged(self.source, lines[0], f"it and {len(lines) - 1} more {self.unit}(s) of trial {tid} were "
                         f"skipped ({self.unit}s {shown}): {why}", None, self.unit)
