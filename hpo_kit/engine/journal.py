"""The study journal: one JSON object per line, appended as events happen.

Every event is flushed to the OS as it is written, so a crash of the driver process loses
nothing written. Events that end a trial (and study start/end) are also fsynced, by
group commit: :meth:`Journal.sync` runs once per batch of events, before the loop
submits anything else, so only a machine crash can lose the last batch (milliseconds).
The reader tolerates a half-written last line (a crash mid-write). An exclusive
``flock`` on ``<journal>.lock`` stops two processes from appending to one journal.

Schema (``"v": 1``): every line has ``v``, ``t`` (unix time) and ``event``; the other
fields depend on the event (see :mod:`hpo_kit.study` for the writers).
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from typing import Any

SCHEMA_VERSION = 1
_DURABLE = {"study_start", "study_end", "trial_end", "trial_pause", "control", "study_resume"}


class JournalLocked(RuntimeError):
    """Another process holds the journal."""


class Journal:
    """Append-only JSON-lines writer.

    Parameters
    ----------
    path
        File to append to (created with its parent directory).

    Raises
    ------
    JournalLocked
        If another process is appending to the same journal.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock = open(self.path + ".lock", "a+")
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise JournalLocked(f"journal {self.path!r} is in use by another process") from None
        self._f = open(self.path, "a", encoding="utf-8")
        self._unsynced = False
        self._f.seek(0, os.SEEK_END)
        if self._f.tell() > 0 and not _ends_with_newline(self.path):
            self._f.write("\n")  # seal a torn last line so the next event starts clean

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns the record written."""
        record = {"v": SCHEMA_VERSION, "t": fields.pop("t", time.time()), "event": event, **fields}
        self._f.write(json.dumps(record, default=_jsonable) + "\n")
        self._f.flush()
        if event in _DURABLE:
            self._unsynced = True
        return record

    def sync(self) -> None:
        """fsync the durable events written since the last sync (one fsync per batch)."""
        if self._unsynced:
            os.fsync(self._f.fileno())
            self._unsynced = False

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        if not self._lock.closed:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the journal's records, skipping a torn (unparseable) line.

    Raises
    ------
    ValueError
        If a record has a newer schema version than this reader knows.
    """
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a half-written line from a crash
            if record.get("v", 0) > SCHEMA_VERSION:
                raise ValueError(f"journal {path}: line {n} has schema v={record['v']}, this reader knows v<="
                                 f"{SCHEMA_VERSION}")
            yield record


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)
