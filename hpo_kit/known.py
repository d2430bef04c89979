"""Known configurations (Optuna's ``enqueue_trial``, Ray's ``points_to_evaluate``): run these first.

``study.enqueue(config)`` before or while a study runs, or ``Study(..., enqueue=[...])``.
Each configuration is checked against the space in the caller: it must be *complete* (a
missing dimension raises naming it; filling the rest from the searcher is left out, because
a searcher's ask has side effects on its state that an enqueue should not have). It is
journalled as a ``control`` record ``action="enqueue"`` with ``value={"id": k, "config": ...}``
(``k`` counts the study's enqueues from 0), and started ahead of the searcher's next point:
:meth:`hpo_kit.schedulers.Scheduler.new_trial` takes the first waiting one instead of asking
its searcher, so every scheduler gives it a budget, a bracket, a rung as it would to its
searcher's point. The trial's ``info`` says ``source="enqueued"`` and ``enqueued=k``; its
result is told to the searcher like any other trial's. Enqueued trials count toward
``n_trials``.

Which are still waiting is not kept in a private list that could drift from the ledger: a
configuration waits while no trial's ``info["enqueued"]`` names its ``k``, so a resume
(:func:`waiting_from`) finds exactly those enqueued but never created.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from .space import Space, SpaceError
from .trial import Trial

SOURCE = "enqueued"


def check_config(owner: str, space: Space, config: Any) -> dict[str, Any]:
    """``config`` as a plain dict of the space; raises ``ValueError`` naming the field (from ``owner``)."""
    if not isinstance(config, Mapping):
        raise ValueError(f"{owner}: config={config!r} must be a mapping of dimension names to values")
    try:
        return space.validate(copy.deepcopy(dict(config)))
    except SpaceError as exc:
        raise ValueError(f"{owner}: {exc}") from None


class KnownConfigs:
    """The enqueued configurations of a study and which of them no trial has taken yet.

    Thread-safety: changed on the loop thread while the study runs (and under the study lock),
    in the caller's thread before it runs.
    """

    def __init__(self) -> None:
        self._items: dict[int, dict[str, Any]] = {}  # k -> config, in enqueue order
        self._taken: set[int] = set()
        self._unjournalled: list[int] = []  # enqueued before the journal was open

    def add(self, config: dict[str, Any], journalled: bool) -> int:
        """Record a checked configuration; returns its ``k``."""
        k = max(self._items, default=-1) + 1
        self._items[k] = config
        if not journalled:
            self._unjournalled.append(k)
        return k

    def adopt(self, k: int, config: dict[str, Any]) -> None:
        """An enqueue read back from the journal."""
        self._items[k] = config

    def take(self, k: int) -> None:
        """A trial was created from configuration ``k``."""
        self._taken.add(k)

    def peek(self) -> tuple[int, dict[str, Any]] | None:
        """The first configuration still waiting, or ``None``."""
        for k, config in self._items.items():
            if k not in self._taken:
                return k, config
        return None

    def waiting(self) -> list[dict[str, Any]]:
        """Copies of the configurations still waiting, in enqueue order."""
        return [dict(c) for k, c in self._items.items() if k not in self._taken]

    def __len__(self) -> int:
        return sum(1 for k in self._items if k not in self._taken)

    def drain_unjournalled(self) -> list[tuple[int, dict[str, Any]]]:
        """The enqueues made before the study's journal was open (journalled by the caller now)."""
        out = [(k, self._items[k]) for k in self._unjournalled]
        self._unjournalled = []
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {"_items": {}, "_taken": set(), "_unjournalled": []}  # a resume reads the journal


def waiting_from(controls: Iterable[dict[str, Any]], trials: Iterable[Trial], space: Space) -> KnownConfigs:
    """The enqueues of a replayed journal, those taken by a trial marked so (for a resume).

    An enqueue whose configuration the space refuses is skipped (the audit warned about it).
    """
    known = KnownConfigs()
    for rec in controls:
        value = rec.get("value")
        if rec.get("action") != "enqueue" or rec.get("refused") or not isinstance(value, dict):
            continue
        k, config = value.get("id"), value.get("config")
        if not isinstance(k, int) or isinstance(k, bool) or not isinstance(config, dict):
            continue
        try:
            known.adopt(k, space.validate(config))
        except (SpaceError, TypeError):
            continue
    for t in trials:
        k = t.info.get("enqueued") if isinstance(t.info, dict) else None
        if isinstance(k, int):
            known.take(k)
    return known
