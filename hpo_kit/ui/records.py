"""What the dashboard accepts from a publisher: each record checked, each study's records bounded.

Any client of a scheduler can publish a study on its dashboard (the first to use a name
owns it, see :mod:`hpo_kit.ui.dashboard`), so the records that arrive are input, not
journal lines we wrote. Two guards, both per study:

* **Checked, one by one** (:func:`problem_of`): a record is a JSON object with a string
  ``event`` and a finite time ``t``, and the fields that the page reads have the types it
  reads them as (the goal builds a :class:`~hpo_kit.goal.Goal`, the space maps names to
  specs, a trial id is a non-negative ``int``, metrics are numbers, a status is a
  :class:`~hpo_kit.trial.TrialStatus` ...); at most :data:`MAX_RECORD_BYTES` bytes. A bad
  record is refused and the good ones of the same message kept: our
  :class:`~hpo_kit.ui.dashboard.Publisher` never sends one, so a refusal names a broken or
  hostile client, which the board logs.
* **Bounded**: at most :data:`MAX_RECORDS` records and :data:`MAX_BYTES` bytes (of their
  JSON). Past either cap the **publisher is refused** (new records are dropped, the oldest
  kept), not the oldest dropped: the page's story starts at ``study_start`` and every
  count on it (trials, ended, best) is a fold from the first record, so a window of the
  newest records would show a wrong study, while a frozen one shows a true, if dated,
  picture and says so (:meth:`StudyRecords.notice`). The one exception: up to
  :data:`END_SLACK` ``study_end`` records pass the cap, so the page still says how the
  study ended. The journal, on the driver, has everything.

Checks are pure functions of a record, tested without a scheduler.
"""
from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..goal import Goal
from ..trial import TrialStatus

MAX_RECORDS = 100_000
MAX_BYTES = 16 * 2 ** 20
MAX_RECORD_BYTES = 256 * 2 ** 10
END_SLACK = 8  # study_end records accepted past the caps (a study ends once per run)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _maybe(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _goal(v: Any) -> bool:
    if not isinstance(v, dict):
        return False
    try:
        Goal(**v)
    except (TypeError, ValueError):
        return False
    return True


def _space(v: Any) -> bool:
    # The page reads each dimension's spec as a mapping (trials.param_specs); it never rebuilds a Space,
    # which a legal journal's space may not allow (two choices whose str() is the same after JSON).
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(d, dict) for k, d in v.items())


def _metrics(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and (x is None or _number(x)) for k, x in v.items())


def _status(v: Any) -> bool:
    return isinstance(v, str) and v in TrialStatus.__members__


def _finding(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("indicator"), str)


_str, _dict = (lambda v: isinstance(v, str)), (lambda v: isinstance(v, dict))
#: event -> {field: (required, check)}: the fields the page reads, as it reads them.
FIELDS: dict[str, dict[str, tuple[bool, Callable[[Any], bool]]]] = {
    "study_start": {"name": (False, _maybe(_str)), "goal": (False, _goal), "settings": (False, _dict),
                    "space": (False, _space)},
    "trial_create": {"trial": (True, _count), "config": (True, _dict), "budget": (False, _maybe(_count)),
                     "parent": (False, _maybe(_count))},
    "trial_start": {"trial": (True, _count), "worker": (False, _maybe(_str)), "attempt": (False, _count)},
    "report": {"trial": (True, _count), "epoch": (True, lambda v: _number(v) and math.isfinite(v) and v >= 0),
               "metrics": (True, _metrics), "diag": (False, _dict)},
    "trial_resume": {"trial": (True, _count), "budget": (False, _maybe(_count))},
    "trial_retry": {"trial": (True, _count), "attempt": (False, _count)},
    "flag": {"trial": (True, _count), "finding": (True, _finding)},
    "control": {"action": (True, _str), "source": (False, _maybe(_str)), "reason": (False, _maybe(_str))},
    "study_end": {"state": (False, _str)},
    "study_resume": {"interrupted": (False, lambda v: isinstance(v, list) and all(map(_count, v)))},
}
_END = {"trial": (True, _count), "status": (True, _status), "score": (False, _maybe(_number)),
        "told": (False, _maybe(_number)), "busy": (False, _number), "epochs": (False, _count),
        "error": (False, _maybe(_str)), "reason": (False, _maybe(_str))}
FIELDS["trial_pause"] = FIELDS["trial_end"] = _END


def problem_of(record: Any) -> str | None:
    """What is wrong with one published record (``None``: the page can read it).

    Events this module does not know pass with the common checks (a newer driver may send
    them); a ``trial`` field, where there is one, is a trial id.
    """
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    event = record.get("event")
    if not isinstance(event, str) or not 0 < len(event) <= 64:
        return "no 'event' name"
    t = record.get("t")
    if not (_number(t) and math.isfinite(t)):
        return f"{event}: 't' is not a finite time"
    fields = FIELDS.get(event, {"trial": (False, _count)})
    for name, (required, check) in fields.items():
        if name not in record:
            if required:
                return f"{event}: no {name!r}"
            continue
        if not check(record[name]):
            return f"{event}: {name!r} is {_short(record[name])}, not what the page reads"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class StudyRecords:
    """One study's records on the board: checked and bounded as they arrive.

    Parameters
    ----------
    max_records, max_bytes
        The caps (records; bytes of their JSON).
    max_record_bytes
        The largest record accepted.
    """

    max_records: int = MAX_RECORDS
    max_bytes: int = MAX_BYTES
    max_record_bytes: int = MAX_RECORD_BYTES
    records: list[dict[str, Any]] = field(default_factory=list)
    n_bytes: int = 0
    refused: int = 0  # records (or unreadable messages) refused so far
    full: bool = False  # a cap was reached: new records are refused
    ends_past_cap: int = 0
    logged: set[tuple[str, bool]] = field(default_factory=set)  # (client, over a cap) whose refusal was logged

    def take(self, message: Any) -> tuple[int, int, str]:
        """Accept what is good in one message (a JSON list of records, as text).

        Returns
        -------
        tuple of (int, int, str)
            How many of its records were accepted and refused, and the first reason for a refusal.
        """
        if isinstance(message, str) and len(message) > self.max_bytes:  # never parsed: it cannot fit
            return self._refuse(f"a message of {len(message):,} bytes, over the study's cap")
        try:
            batch = json.loads(message)
        except (TypeError, ValueError) as exc:
            return self._refuse(f"not a JSON list of records ({exc})")
        if not isinstance(batch, list):
            return self._refuse(f"a JSON {type(batch).__name__}, not a list of records")
        refused, first = 0, ""
        for record in batch:
            problem = self._admit(record)
            if problem is not None:
                refused, first = refused + 1, first or problem
        self.refused += refused
        return len(batch) - refused, refused, first

    def first_refusal(self, client: str) -> bool:
        """Whether this is the first refusal of this kind (bad records / over a cap) for ``client``: log it."""
        key = (client, self.full)
        if key in self.logged:
            return False
        self.logged.add(key)
        return True

    def _admit(self, record: Any) -> str | None:
        end = isinstance(record, dict) and record.get("event") == "study_end" and self.ends_past_cap < END_SLACK
        if self.full and not end:
            return self._over()  # not even checked: nothing more is taken
        problem = problem_of(record)
        if problem is not None:
            return problem
        size = len(json.dumps(record))
        if size > self.max_record_bytes:
            return f"{record['event']}: {size:,} bytes, over the cap of {self.max_record_bytes:,} per record"
        if len(self.records) >= self.max_records or self.n_bytes + size > self.max_bytes:
            self.full = True
            if not end:
                return self._over()
            self.ends_past_cap += 1
        self.records.append(record)
        self.n_bytes += size
        return None

    def _over(self) -> str:
        return f"the study is over the dashboard's cap ({self.max_records:,} records, {self.max_bytes:,} bytes)"

    def _refuse(self, why: str) -> tuple[int, int, str]:
        self.refused += 1  # a message that is no list of records counts as one
        return 0, 1, why

    def notice_html(self) -> str:
        """:meth:`notice` as a part of the page's header line (``""`` when nothing was refused)."""
        notice = self.notice()
        return f" · <span class='hpo-refused'>{html.escape(notice)}</span>" if notice else ""

    def notice(self) -> str:
        """One line for the page when records were refused (``""`` when none was)."""
        if not self.refused:
            return ""
        cap = (f"; the page stopped taking records at the dashboard's cap ({len(self.records):,} records, "
               f"{self.n_bytes:,} bytes): the journal has them all") if self.full else ""
        return f"{self.refused:,} record(s) refused{cap}"
