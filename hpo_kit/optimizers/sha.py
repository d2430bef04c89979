"""Synchronous successive halving (SHA): the baseline that ASHA is compared with (seed ``asha.md``).

SHA starts ``n_configs`` configurations in the bottom rung (``r_min`` epochs); only when the
whole rung has finished does it promote the best ``floor(n/eta)`` of them to the next rung
(``eta`` times the epochs), and so on up to ``r_max``. While a rung is still running,
:meth:`SuccessiveHalving.suggest` returns ``None``: free workers wait. That barrier, and
upper rungs with fewer configurations than workers, are why its worker utilisation falls
(see ``benchmarks/asha_vs_sha.py``).

Choices where the seed is silent:

* ``n`` counts every configuration that entered the rung, failed or stopped ones too (they
  used the rung's resource), so 27 configurations give 27/9/3/1 whatever fails; the
  promoted are the best *promotable* ones (PAUSED, finite loss), so fewer move up when
  too many failed.
* At least one configuration is promoted while a rung is left, so the survivor is always
  trained to ``r_max`` ("until one configuration remains", then it is trained in full).
* Rungs, ranking and the treatment of failures are those of :mod:`.asha` (same pure
  functions), so the two differ only in *when* they promote.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from ..trial import Observation, Trial, TrialStatus
from .asha import Rung, history, ranked, record, study_rungs
from .base import Optimizer, Resume, Start


def sync_promotions(rung: Rung, n_members: int, eta: int, promotable: Collection[int]) -> list[int]:
    """The configurations a finished rung sends up: the best ``max(1, n_members // eta)`` promotable ones."""
    quota = max(1, n_members // eta)
    return [tid for tid in ranked(rung.losses) if tid in promotable][:quota]


class SuccessiveHalving(Optimizer):
    """Synchronous successive halving over one bracket of ``n_configs`` configurations.

    Parameters
    ----------
    n_configs
        Configurations in the bottom rung.
    r_min
        Epochs of the bottom rung.
    eta
        Reduction factor.
    r_max
        Epochs of the top rung (default: the study's ``max_epochs``).
    seed
        Seed of the configuration sampler.
    """

    name = "sha"

    def __init__(self, n_configs: int, r_min: int = 1, eta: int = 3, r_max: int | None = None,
                 seed: int | None = 0) -> None:
        super().__init__(seed)
        for label, value, low in (("n_configs", n_configs, 1), ("r_min", r_min, 1), ("eta", eta, 2),
                                  ("r_max", r_max, 1)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ValueError(f"SuccessiveHalving: {label}={value!r} must be an integer >= {low}")
        self.n_configs, self.r_min, self.eta, self.r_max = n_configs, r_min, eta, r_max
        self.rungs: list[Rung] = []
        self._reset()

    def _reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._members: list[list[int]] = [[]]  # trial ids that entered each rung so far
        self._queue: list[int] = []  # promotions decided, not yet handed out
        self._waiting: dict[int, int] = {}
        self._running: set[int] = set()
        self.finished = False

    def setup(self, space: Any, goal: Any, max_epochs: int | None = None, concurrency: int = 1) -> None:
        super().setup(space, goal, max_epochs, concurrency)
        budgets = study_rungs("SuccessiveHalving", self.r_min, self.eta, self.r_max, max_epochs)
        self.rungs = [Rung(e, n) for e, n in zip(budgets, budgets[1:] + [None])]
        self._reset()

    @property
    def level(self) -> int:
        """Index of the rung being trained now."""
        return len(self._members) - 1

    def suggest(self, trial_id: int) -> Start | Resume | None:
        if self.finished:
            return None
        if self._queue:
            return self._resume(self._queue.pop(0))
        bottom = self._members[0]
        if self.level == 0 and len(bottom) < self.n_configs and self.may_start:
            bottom.append(trial_id)
            self._running.add(trial_id)
            return Start(self.space.sample(self._rng), budget=self.rungs[0].epochs)
        if self._running:
            return None  # the barrier: the rung is still training
        rung = self.rungs[self.level]
        up = sync_promotions(rung, len(self._members[-1]), self.eta, self._waiting) if rung.next_epochs else []
        if not up:
            self.finished = True
            return None
        self._members.append(up)
        self._queue = up[1:]
        return self._resume(up[0])

    def _resume(self, tid: int) -> Resume:
        below = self.rungs[self.level - 1]
        below.promoted.add(tid)
        self._waiting.pop(tid, None)
        self._running.add(tid)
        return Resume(tid, self.rungs[self.level].epochs, info={"from_rung": below.epochs})

    def on_result(self, obs: Observation) -> None:
        self._running.discard(obs.trial_id)
        record(self.rungs, obs.trial_id, obs.losses, obs.epochs, self.goal.score, obs.loss)
        if obs.status is TrialStatus.PAUSED:
            self._waiting[obs.trial_id] = obs.epochs
        else:
            self._waiting.pop(obs.trial_id, None)

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild rung membership from the trials' budgets and histories, and the pending promotions."""
        for rung in self.rungs:
            rung.losses.clear()
            rung.promoted.clear()
        self._reset()
        for t in trials:
            self.space.sample(self._rng)  # replay the sampler
            record(self.rungs, t.id, history(t, self.goal), t.epochs, self.goal.score)
            reached = max(t.epochs, t.budget or 0)
            level = max(k for k, r in enumerate(self.rungs) if r.epochs <= reached or k == 0)
            while len(self._members) <= level:
                self._members.append([])
            for k in range(level + 1):
                self._members[k].append(t.id)
                if k < level:
                    self.rungs[k].promoted.add(t.id)
            if t.status is TrialStatus.PAUSED:
                self._waiting[t.id] = t.epochs
            elif not t.status.is_terminal:
                self._running.add(t.id)
        if self.level > 0:  # promotions decided before the restart but not all handed out yet
            below = self.rungs[self.level - 1]
            up = sync_promotions(below, len(self._members[-2]), self.eta,
                                 set(self._waiting) | set(self._members[-1]))
            self._queue = [tid for tid in up if tid not in self._members[-1]]
            self._members[-1] += self._queue

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "n_configs": self.n_configs, "r_min": self.r_min, "eta": self.eta,
                "r_max": self.r_max}

    def state(self) -> dict[str, Any]:
        return {"level": self.level, "running": len(self._running), "queued": len(self._queue),
                "rungs": [{"epochs": r.epochs, "size": len(m)} for r, m in zip(self.rungs, self._members)]}
