"""The records every view reads: a study's journal, live.

A :class:`Feed` is the one source of data for the panel, the plots and the dashboard
publisher. It holds the study's journal records in order: the ones already written
(read back from the journal file when the feed attaches, so a panel opened late still
sees the whole study) and every new one, received through ``study.listeners``.

The listener runs on the study's loop thread, so it only appends to a list under a
lock; views copy a snapshot (:meth:`Feed.records`) on their own thread and turn it
into plot data with the pure functions of :mod:`hpo_kit.ui.data`.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..engine.journal import read_journal


def _key(record: dict[str, Any]) -> tuple:
    return record.get("event"), record.get("t"), record.get("trial"), record.get("epoch"), record.get("action")


class Feed:
    """Collects a study's journal records, thread-safely.

    Parameters
    ----------
    study
        A :class:`~hpo_kit.Study` (created, running or ended). ``None`` with
        :meth:`from_records` / :meth:`from_journal` for offline views.
    """

    def __init__(self, study: Any = None) -> None:
        self.study = study
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._subscribers: list[Callable[[list[dict[str, Any]]], None]] = []
        if study is not None:
            self._attach(study)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Feed:
        """A feed over fixed records (tests, replays)."""
        feed = cls()
        feed._records = list(records)
        return feed

    @classmethod
    def from_journal(cls, path: str | os.PathLike) -> Feed:
        """A feed over a journal file, read once."""
        return cls.from_records(list(read_journal(path)))

    def _attach(self, study: Any) -> None:
        buffered: list[dict[str, Any]] = []
        attached = False

        def listener(record: dict[str, Any]) -> None:
            with self._lock:
                if not attached:
                    buffered.append(record)
                    return
                self._records.append(record)
                subscribers = list(self._subscribers)
            for fn in subscribers:
                fn([record])

        # Listen first, then read what is already on disk, then merge the two without
        # duplicates: no record written in between is lost.
        study.listeners.append(listener)
        self._listener = listener
        past = list(read_journal(study.journal_path)) if os.path.exists(study.journal_path) else []
        with self._lock:
            seen = {_key(r) for r in past}
            self._records = past + [r for r in buffered if _key(r) not in seen]
            attached = True

    def records(self) -> list[dict[str, Any]]:
        """A snapshot of the records so far, in journal order."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def subscribe(self, fn: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
        """Call ``fn(new_records)`` for every later record (on the study's loop thread).

        Returns the records so far, so that a subscriber misses nothing and sees nothing twice.
        """
        with self._lock:
            self._subscribers.append(fn)
            return list(self._records)

    def close(self) -> None:
        """Stop listening to the study (the records stay readable)."""
        if self.study is not None and getattr(self, "_listener", None) in self.study.listeners:
            self.study.listeners.remove(self._listener)
        with self._lock:
            self._subscribers.clear()
