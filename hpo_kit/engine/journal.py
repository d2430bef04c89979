"""The study journal: one JSON object per line, appended as events happen.

Every event is flushed to the OS as it is written, so a crash of the driver process loses
nothing written. Events that end a trial (and study start/end) are also fsynced, by
group commit: :meth:`Journal.sync` runs once per batch of events and hands the fsync to a
background thread, so the loop never waits on the disk (an fsync took 2 ms of each 10 ms
trial in ``benchmarks/loop_peers.py`` W1), and only a machine crash can lose the last batch
(the milliseconds an fsync takes). An fsync error is raised by the next :meth:`sync`.

Only one :class:`Journal` may append to a file at a time, in this process or any other:
it holds an exclusive :class:`filelock.FileLock` on ``<journal>.lock`` (an OS lock on
every platform: ``fcntl`` where there is one, ``msvcrt`` on Windows) from construction
until :meth:`Journal.close`, which releases it on every path, also when closing the file
fails.

Damage. A crash mid-write leaves a torn last line. Readers skip it silently, and a new
:class:`Journal` on the file cuts it off (or, if it is complete JSON that only lacks its
newline, seals it) before appending, so it never becomes a middle line. Any other
line that cannot be read -- invalid UTF-8, invalid JSON, not an object with a string
``event`` -- is damage: :func:`iter_journal` skips it, warns with :class:`JournalWarning`
naming the line, and appends its number to the caller's ``damaged`` list.

A full disk. A write that fails (``ENOSPC``: :class:`~hpo_kit.errors.DiskFull`, naming the path)
breaks the journal: every later write raises the same error, so no record ever follows a lost
one and the file stays a prefix of the study's records (a torn last line is cut off by the next
:class:`Journal` on the file, as after a crash). The study then ends "failed", and
``Study.resume(path)`` continues it once there is space again.

Schema (``"v": 1``): every line has ``v``, ``t`` (unix time) and ``event``; the other
fields depend on the event (see :mod:`hpo_kit.study` for the writers). Long strings (a
10-MB error, a huge metric name) are cut, kept whole in ``<journal>.full/`` (``longtext``).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import filelock

from . import faults
from ..errors import disk_full
from .longtext import Shortener
from .syncer import Syncer
from .journal_read import SCHEMA_VERSION, JournalWarning, iter_journal, read_journal, warn_damaged

__all__ = ["Journal", "JournalLocked", "JournalLost", "JournalWarning", "SCHEMA_VERSION", "iter_journal",
           "read_journal", "warn_damaged"]
_DURABLE = {"study_start", "study_end", "trial_end", "trial_pause", "control", "study_resume", "warm_start"}
_CHUNK = 1 << 16


class JournalLocked(RuntimeError):
    """Another journal writer (in this or another process) holds the journal."""


class JournalLost(OSError):
    """The journal file disappeared (or was replaced) under a running study."""


class Journal:
    """Append-only JSON-lines writer holding the journal's lock while open.

    Parameters
    ----------
    path
        File to append to (created with its parent directory).

    Raises
    ------
    JournalLocked
        If another writer, in this process or another, has the journal open.
    IsADirectoryError
        If ``path`` is a directory (a journal is a file: give a file path in it).

    Notes
    -----
    The lock is taken first; if anything after it fails the lock is released again
    before the error propagates. :meth:`close` is idempotent.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._f: Any = None
        self._failed: OSError | None = None  # the write that broke the journal (see write)
        self._unsynced = False
        self._syncer: Syncer | None = None
        self._shortener = Shortener(self.path)
        if os.path.isdir(self.path):  # before the lock, whose file would land beside the directory
            raise IsADirectoryError(f"journal {self.path!r} is a directory; a journal is a file: give a file path, "
                                    f"e.g. {os.path.join(self.path, 'study.jsonl')!r}")
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock = filelock.FileLock(self.path + ".lock", thread_local=False, is_singleton=False)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise JournalLocked(f"journal {self.path!r} is in use by another writer") from None
        try:
            _repair_tail(self.path)
            self._f = open(self.path, "a", encoding="utf-8")
        except BaseException:
            self._lock.release()
            raise

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run (the lock is free)."""
        return not self._lock.is_locked

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event and flush it to the OS.

        Parameters
        ----------
        event
            The event name.
        **fields
            The event's fields; ``t`` defaults to now.

        Returns
        -------
        dict
            The record written (long strings cut, see :mod:`~hpo_kit.engine.longtext`).

        Raises
        ------
        DiskFull
            If the disk is full (:class:`~hpo_kit.errors.DiskFull`, naming the path). After any
            failed write the journal takes no more records (each raises the same error), so it
            never holds a record written after a lost one; the file is a prefix of the study's.
        """
        if self._failed is not None:  # after a failed write nothing more: no record may follow a lost one
            raise self._failed
        record = {"v": SCHEMA_VERSION, "t": fields.pop("t", time.time()), "event": event, **fields}
        line = json.dumps(record, default=_jsonable)
        try:
            if self._shortener.line_may_hold_long(line):
                record = self._shortener.shorten(record)
                line = json.dumps(record, default=_jsonable)
            faults.disk_write("journal-full", self.path)
            self._f.write(line + "\n")
            self._f.flush()
        except OSError as exc:
            if self._fail(exc) is exc:
                raise
            raise self._failed from exc
        if event in _DURABLE:
            self._unsynced = True
        return record

    def _fail(self, exc: OSError) -> OSError:
        """The journal is broken from here on: every later write raises this error (a full disk: DiskFull)."""
        self._failed = disk_full(exc, "the journal", self.path) or exc
        return self._failed

    def sync(self) -> None:
        """fsync the durable events written since the last sync (one fsync per batch).

        Raises
        ------
        JournalLost
            If the file was deleted or replaced since it was opened: appends would land in an
            unlinked file, so the study must end "failed" rather than "finished" with nothing on disk.
        """
        if self._failed is not None:
            raise self._failed
        if self._syncer is not None and self._syncer.error is not None:
            raise self._fail(self._syncer.error)
        if self._unsynced:
            if self._syncer is None:
                self._syncer = Syncer(self._f.fileno())
            self._syncer.request()
            self._unsynced = False
        try:
            same = os.stat(self.path).st_ino == os.fstat(self._f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise JournalLost(f"journal {self.path!r} was deleted or replaced while the study ran; the results "
                              f"are still in memory: save them with study.save(path)")

    def close(self) -> None:
        """Flush, fsync and close the file, then release the lock (always, even on error).

        Calling it again is a no-op.
        """
        f = self._f
        try:
            if self._syncer is not None:
                self._syncer.close()  # before the file closes: its descriptor must stay valid
            if f is not None and not f.closed:
                try:
                    f.flush()  # after a failed write only its own tail is left: the file stays a prefix
                    os.fsync(f.fileno())
                except OSError as exc:
                    if self._failed is None:  # a failure already raised is not raised again
                        if self._fail(exc) is exc:
                            raise
                        raise self._failed from exc
                finally:
                    try:
                        f.close()  # closes the descriptor even when its last flush fails
                    except OSError:
                        pass
        finally:
            if self._lock.is_locked:
                self._lock.release(force=True)

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _repair_tail(path: str) -> None:
    """Seal or cut off a torn last line so the next event starts on a fresh line."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        start = _last_line_start(f, end)
        f.seek(start)
        tail = f.read()
        try:
            json.loads(tail.decode("utf-8"))
            complete = True
        except ValueError:  # includes UnicodeDecodeError
            complete = False
        if complete:
            f.seek(end)
            f.write(b"\n")  # complete JSON that lost only its newline: keep it
        else:
            f.truncate(start)  # a crash mid-write: drop the fragment
        f.flush()
        os.fsync(f.fileno())


def _last_line_start(f: Any, end: int) -> int:
    pos = end
    while pos > 0:
        step = min(_CHUNK, pos)
        f.seek(pos - step)
        chunk = f.read(step)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)
