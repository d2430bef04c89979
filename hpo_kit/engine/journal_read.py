"""Reading a study journal: its records in order, damaged lines skipped with a warning naming them.

Split from :mod:`hpo_kit.engine.journal` (the writer), which re-exports these names. See there for the
format; a torn last line (a crash mid-write, or a disk that filled mid-line) is skipped silently,
any other unreadable line is damage: skipped, warned with :class:`JournalWarning`, its number kept.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from typing import Any

SCHEMA_VERSION = 1


class JournalWarning(UserWarning):
    """A journal line is damaged and was skipped."""


def iter_journal(path: str | os.PathLike,
                 damaged: list[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each readable line of a journal.

    Parameters
    ----------
    path
        The journal file.
    damaged
        If given, the (1-based) numbers of damaged lines are appended to it. A torn last
        line is not damage and is skipped silently.

    Yields
    ------
    tuple of (int, dict)
        The line number and its record.

    Warns
    -----
    JournalWarning
        For each damaged line, naming it.

    Raises
    ------
    ValueError
        If a record has a newer schema version than this reader knows.
    """
    path = os.fspath(path)
    pending: tuple[int, bytes] | None = None  # held back until we know whether it is the last line
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            if pending is not None:
                got = _parse(path, *pending, last=False, damaged=damaged)
                if got is not None:
                    yield got
            pending = (n, raw)
    if pending is not None:
        got = _parse(path, *pending, last=True, damaged=damaged)
        if got is not None:
            yield got


def read_journal(path: str | os.PathLike, damaged: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """Yield the journal's records (see :func:`iter_journal` for damage handling).

    Parameters
    ----------
    path
        The journal file.
    damaged
        If given, the numbers of damaged (skipped) lines are appended to it.

    Yields
    ------
    dict
        Each readable record, in order.

    Raises
    ------
    ValueError
        If a record has a newer schema version than this reader knows.
    """
    for _, record in iter_journal(path, damaged):
        yield record


def _parse(path: str, n: int, raw: bytes, *, last: bool,
           damaged: list[int] | None) -> tuple[int, dict[str, Any]] | None:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        problem = f"not valid UTF-8 ({e.reason} at byte {e.start})"
    except ValueError as e:
        problem = f"not valid JSON ({e})"
    else:
        problem = _check(record)
        if problem is None:
            if record.get("v", 0) > SCHEMA_VERSION:
                raise ValueError(f"journal {path}: line {n} has schema v={record['v']}, this reader knows "
                                 f"v<={SCHEMA_VERSION}")
            return n, record
        last = False  # complete JSON is not a torn write
    if not last:
        warn_damaged(f"journal {path}", n, problem, damaged)
    return None


def _check(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if not isinstance(record.get("event"), str):
        return "no string 'event' field"
    v = record.get("v", 0)
    if not isinstance(v, int) or isinstance(v, bool):
        return f"schema version v={v!r} is not an integer"
    return None


def warn_damaged(source: str, n: int, problem: str, damaged: list[int] | None, unit: str = "line") -> None:
    """Report a damaged, skipped journal line: warn and record its number.

    Parameters
    ----------
    source
        What was read, e.g. ``"journal <path>"``.
    n
        The line (or record) number.
    problem
        What is wrong with it.
    damaged
        If given, ``n`` is appended to it.
    unit
        What ``n`` counts (``"line"`` or ``"record"``).
    """
    warnings.warn(f"{source}: {unit} {n} is damaged and was skipped: {problem}", JournalWarning, stacklevel=3)
    if damaged is not None:
        damaged.append(n)
