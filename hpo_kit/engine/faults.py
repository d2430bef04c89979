"""Fault injection for the engine's own tests: drop the next N messages of a kind, in this process.

Kinds: ``"control"`` (a driver write of the run's control record, :mod:`.control`), and on a
worker ``"start"``, ``"report"``, ``"done"`` (a step's events to the driver, :mod:`.worker`).
Tests arm a drop with :func:`drop` (on a worker through ``Client.run``, a set-up call); the
engine asks :func:`take` at each send. Nothing is armed unless a test arms it.

Full disks: ``"journal-full"`` (a journal write in the driver) and ``"checkpoint-full"`` (a
checkpoint write, on the worker that writes it) armed with :func:`drop` make that write raise
``OSError(ENOSPC)`` as a full disk does (:func:`disk_write`), so the disk-full paths are tested
everywhere, not only where a test may mount a small file system.
"""
from __future__ import annotations

import errno
import os
import threading

_ARMED: dict[str, int] = {}
_LOCK = threading.Lock()


def drop(kind: str, n: int = 1) -> None:
    """Drop the next ``n`` messages of ``kind`` sent from this process."""
    with _LOCK:
        _ARMED[kind] = _ARMED.get(kind, 0) + n


def take(kind: str) -> bool:
    """True if this message of ``kind`` is to be dropped (uses up one armed drop)."""
    if not _ARMED:
        return False
    with _LOCK:
        left = _ARMED.get(kind, 0)
        if left <= 0:
            return False
        _ARMED[kind] = left - 1
        return True


def clear() -> None:
    with _LOCK:
        _ARMED.clear()


def disk_write(kind: str, path: str) -> None:
    """Raise ``OSError(ENOSPC)`` for this write to ``path`` if a test armed ``kind`` (uses up one)."""
    if take(kind):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
