"""What searchers and schedulers share: live parameters, journalled policy events, seeding.

A policy never touches Dask or the journal: a live change arrives through :meth:`Policy.update`
(validated first by :meth:`Policy.check_update`, in the caller's thread, so a bad value
raises there and changes nothing), and a policy's own events (an automatic switch) are
values drained by the engine, which journals them.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class Policy:
    """Base of :class:`~hpo_kit.searchers.Searcher` and :class:`~hpo_kit.schedulers.Scheduler`."""

    name: str = "policy"
    #: Names of parameters that :meth:`update` may change while a study runs.
    live_params: tuple[str, ...] = ()

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed={seed!r} must be None or an integer >= 0")
        self.seed = seed
        #: Whether the constructor was given a seed: it then wins over the study's (:meth:`reseed`).
        self.seed_given = seed is not None
        self._events: list[dict[str, Any]] = []

    def reseed(self, seed: int) -> None:
        """Take the study's ``seed`` unless this policy was constructed with its own.

        The study calls this once, at construction, so that ``Study(seed=...)`` reproduces the
        configurations of any policy built without a seed; a searcher given ``seed=`` keeps it.
        A policy object reused by a second study takes that study's seed, not the first one's.
        """
        if not getattr(self, "seed_given", True):  # a policy pickled before seeds were the study's keeps its seed
            self.seed = seed

    def rng(self, trial_id: int, stream: int = 0) -> np.random.Generator:
        """The generator of trial ``trial_id``'s draws: a pure function of (seed, trial, stream).

        Counter-based seeding (as Optuna seeds per trial): a restored policy draws the
        same point for the same trial id without replaying earlier draws, and a journal's
        configurations are never regenerated from a replayed generator.
        """
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, stream, int(trial_id)])

    def check_update(self, **params: Any) -> None:
        """Raise ``ValueError`` naming a parameter that cannot change live, or a bad value."""
        for name in params:
            if name not in self.live_params:
                raise ValueError(f"{type(self).__name__}: {name!r} cannot be changed while running "
                                 f"(live parameters: {list(self.live_params)})")

    def update(self, **params: Any) -> None:
        """Change live parameters (validated first; the study journals each change)."""
        self.check_update(**params)
        for name, value in params.items():
            setattr(self, name, value)

    def emit(self, action: str, **fields: Any) -> None:
        """Record a policy event (e.g. an automatic switch); the study journals it as a control."""
        self._events.append({"action": action, **fields})

    def drain_events(self) -> list[dict[str, Any]]:
        """Events emitted since the last call (the engine calls this after each decision)."""
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """Release background resources (threads); called when the study ends."""

    def params(self) -> dict[str, Any]:
        """JSON-able constructor arguments, journalled at study start (a resume rebuilds from them)."""
        return {"seed": self.seed}

    def state(self) -> dict[str, Any]:
        """JSON-able live facts for panels (e.g. current ``b``); empty by default."""
        return {}
