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
* A trial killed with ``discard=True`` stays a member (it was started: the bracket does not
  refill) but takes no place in a rung: it is not ranked and not counted in ``n``.
* Rungs, ranking and the treatment of failures are those of :mod:`.asha` (same pure
  functions), so the two differ only in *when* they promote.

Like ASHA, SHA is a :class:`~hpo_kit.schedulers.Scheduler`: configurations come from its
searcher, which is told every observation; the barrier reads the study's ledger.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..decisions import Resume, Start, check_int
from ..goal import Goal
from ..searchers.base import Searcher
from ..space import Space
from ..trial import Observation, Trial, TrialStatus, epoch_losses
from .asha import PausedEpochs, Rung, forget_discarded, ranked, record, study_rungs, told_epochs
from .base import Scheduler


def sync_promotions(rung: Rung, n_members: int, eta: int, promotable: Collection[int]) -> list[int]:
    """The configurations a finished rung sends up: the best ``max(1, n_members // eta)`` promotable ones."""
    quota = max(1, n_members // eta)
    return [tid for tid in ranked(rung.losses) if tid in promotable][:quota]


class SuccessiveHalving(Scheduler):
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
        Seed of the default searcher; ``None``: the study's (``Study(seed=...)``).
    searcher
        Where new configurations come from (default: ``RandomSearch(seed)``).
    """

    name = "sha"

    def __init__(self, n_configs: int, r_min: int = 1, eta: int = 3, r_max: int | None = None,
                 seed: int | None = None, searcher: Searcher | None = None) -> None:
        super().__init__(searcher, seed)
        for label, value, low, optional in (("n_configs", n_configs, 1, False), ("r_min", r_min, 1, False),
                                            ("eta", eta, 2, False), ("r_max", r_max, 1, True)):
            check_int("SuccessiveHalving", label, value, low, optional)
        self.n_configs, self.r_min, self.eta, self.r_max = n_configs, r_min, eta, r_max
        self.rungs: list[Rung] = []
        self._reset()

    def _reset(self) -> None:
        self._members: list[list[int]] = [[]]  # trial ids that entered each rung so far
        self._queue: list[int] = []  # promotions decided, not yet handed out

    def setup(self, space: Space, goal: Goal, max_epochs: int | None = None, concurrency: int = 1,
              trials: Mapping[int, Trial] | None = None) -> None:
        super().setup(space, goal, max_epochs, concurrency, trials)
        budgets = study_rungs("SuccessiveHalving", self.r_min, self.eta, self.r_max, max_epochs)
        self.rungs = [Rung(e, n) for e, n in zip(budgets, budgets[1:] + [None])]
        self._reset()

    @property
    def top_epochs(self) -> int | None:
        """The top rung (resolved ``r_max``): a trial reaching it completes."""
        return self.rungs[-1].epochs if self.rungs else None

    @property
    def level(self) -> int:
        """Index of the rung being trained now."""
        return len(self._members) - 1

    def _may_resume(self) -> bool:
        # A finished searcher ends the bottom rung early; the bracket still trains its survivors.
        return not self._done

    def _settled(self, trial_id: int, epochs: int) -> bool:
        """A member is done with the current rung: it paused there (and was told) or ended."""
        t = self.trials.get(trial_id)
        return t is not None and (t.status.is_terminal or (t.status is TrialStatus.PAUSED and t.epochs >= epochs))

    def _counted(self, members: Sequence[int]) -> int:
        """Members that count in ``n``: all but discarded ones."""
        return sum(1 for tid in members if (t := self.trials.get(tid)) is None or not t.discard)

    def suggest(self, trial_id: int) -> Start | Resume | None:
        if self.finished:
            return None
        forget_discarded(self.rungs, self.trials)
        if self._queue:
            return self._resume(self._queue.pop(0))
        bottom = self._members[0]
        if self.level == 0 and len(bottom) < self.n_configs and self.may_start:
            start = self.new_trial(trial_id, budget=self.rungs[0].epochs)
            if start is not None:
                bottom.append(trial_id)
                return start
            if not self.searcher.finished:
                return None  # nothing to try just now; the rung is not full yet
        rung = self.rungs[self.level]
        # The barrier, read from the ledger: O(rung members), and a Resume handed out but not yet
        # applied by the engine (the trial still PAUSED below) keeps it closed.
        if not all(self._settled(tid, rung.epochs) for tid in self._members[-1]):
            return None
        n = self._counted(self._members[-1])
        up = sync_promotions(rung, n, self.eta, PausedEpochs(self.trials)) if rung.next_epochs else []
        if not up:
            self.finished = True
            return None
        self._members.append(up)
        self._queue = up[1:]
        return self._resume(up[0])

    def _resume(self, tid: int) -> Resume:
        below = self.rungs[self.level - 1]
        below.promote(tid)
        return Resume(tid, self.rungs[self.level].epochs, info={"from_rung": below.epochs})

    def on_result(self, obs: Observation) -> None:
        t = self.trials.get(obs.trial_id)
        if t is not None and t.discard:
            return  # the engine tells no discarded trial; should one arrive anyway, it counts nowhere
        record(self.rungs, obs.trial_id, obs.losses, obs.epochs, self.goal.score, obs.loss)
        super().on_result(obs)  # the searcher learns from every result, pauses at rungs included

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild rung membership from the trials' budgets and per-epoch losses, and the pending promotions.

        Configurations are the journal's (the searcher restores itself); nothing is redrawn.
        """
        for rung in self.rungs:
            rung.clear()
        self._reset()
        budgets = [r.epochs for r in self.rungs]
        for t in trials:
            if not t.discard:  # a member, but no place in a rung
                record(self.rungs, t.id, epoch_losses(t, self.goal), told_epochs(t, budgets), self.goal.score)
            reached = max(t.epochs, t.budget or 0)
            level = max(k for k, r in enumerate(self.rungs) if r.epochs <= reached or k == 0)
            while len(self._members) <= level:
                self._members.append([])
            for k in range(level + 1):
                self._members[k].append(t.id)
                if k < level and not t.discard:
                    self.rungs[k].promote(t.id)
        if self.level > 0:  # promotions decided before the restart but not all handed out yet
            below = self.rungs[self.level - 1]
            ready = {tid for tid in below.losses if self.paused_at(tid) is not None} | set(self._members[-1])
            up = sync_promotions(below, self._counted(self._members[-2]), self.eta, ready)
            self._queue = [tid for tid in up if tid not in self._members[-1]]
            self._members[-1] += self._queue
        self.searcher.restore(trials, observations)

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "n_configs": self.n_configs, "r_min": self.r_min, "eta": self.eta,
                "r_max": self.r_max}

    def _own_state(self) -> dict[str, Any]:
        return {"level": self.level, "running": len(self.active()), "queued": len(self._queue),
                "rungs": [{"epochs": r.epochs, "size": len(m)} for r, m in zip(self.rungs, self._members)]}
