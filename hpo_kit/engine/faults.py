"""Fault injection for the engine's own tests: drop the next N messages of a kind, in this process.

Kinds: ``"control"`` (a driver write of the run's control record, :mod:`.control`), and on a
worker ``"start"``, ``"report"``, ``"done"`` (a step's events to the driver, :mod:`.worker`).
Tests arm a drop with :func:`drop` (on a worker through ``Client.run``, a set-up call); the
engine asks :func:`take` at each send. Nothing is armed unless a test arms it.
"""
from __future__ import annotations

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
