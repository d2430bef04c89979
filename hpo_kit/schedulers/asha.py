"""ASHA: asynchronous successive halving (Li et al., seed ``asha.md``), with optional Hyperband brackets.

Rungs hold the configurations that reached ``r_k = r_min * eta**k`` epochs (``k = 0..K``,
the top rung being ``r_max``). Whenever a worker frees up, :meth:`ASHA.suggest` scans the
rungs from the top down for a configuration in the top ``1/eta`` of its rung that has not
been promoted yet; it is promoted (:class:`~hpo_kit.decisions.Resume` to the next rung's
budget), otherwise a new configuration starts in the bottom rung (budget ``r_min``). So no
worker waits for a rung to fill, which is what synchronous SHA (:mod:`.sha`) does.

ASHA is a :class:`~hpo_kit.schedulers.Scheduler`: it decides budgets and promotions; new
configurations come from its searcher (default ``RandomSearch(seed)``), which is told every
observation ASHA gets, pauses at rungs included (``obs.final`` False). Which trials run,
wait or ended it reads from the study's ledger; it keeps only rung records and brackets.

Choices where the seed is silent (each documented, most a parameter):

* The top rung is ``r_max`` itself (default: the study's ``max_epochs``); when ``r_max`` is
  not ``r_min * eta**K`` the rungs are ``r_min * eta**k < r_max`` plus ``r_max`` (as in Ray).
  ``top_epochs`` is ``r_max``, so a trial reaching it completes even below ``max_epochs``.
* A configuration is ranked in a rung by the study's score rule applied to its per-epoch
  losses up to the rung's epoch (``score="best"``: its best loss so far; ``"last"``: the
  loss *at* that epoch, so a metric reported every k epochs is read where it was reported).
  Ties go to the older trial, so decisions are reproducible.
* A trial counts in every rung it reached, also if it later stopped or failed (it used
  the rung's resource), but only a trial PAUSED at that rung, with a finite loss, can be
  promoted: stopped, killed and failed trials never are, and their place is not refilled.
  A trial killed with ``discard=True`` counts nowhere (it is never told, and a record it left
  at a lower rung is dropped), so a live run and a restored one rank the same trials.
* A promoted stateful trial (:class:`~hpo_kit.Trainable`) resumes from its checkpoint; a
  function-form trial trains again from scratch up to the new budget (the engine's rule).
* ``brackets > 1`` runs asynchronous Hyperband (:class:`Hyperband`: all of them): bracket
  ``b`` has its own rungs starting at ``r_min * eta**b``; new configurations go to brackets
  by a deterministic weighted round robin with Hyperband's bracket sizes
  ``n_s = ceil((K+1)/(s+1) * eta**s)`` as weights (replayed over the trials on restore).
* ``n_configs`` caps the configurations started; then ASHA only promotes (drains) and is
  finished when nothing is running and nothing can be promoted. At the end every
  configuration in the top ``1/eta`` of its rung has been promoted; early promotions with
  few rung members (the price of asynchrony) can make upper rungs larger than SHA's.

The decisions are small pure functions over rung records (after Optuna's
``SuccessiveHalvingPruner`` and Ray's ``_Bracket``): :func:`rung_budgets`,
:func:`promotable`, :func:`next_promotion`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..engine.cutoff import Key
from ..decisions import Resume, Start, check_int
from ..goal import Goal
from ..searchers.base import Searcher
from ..space import Space
from ..trial import Observation, Trial, TrialStatus, epoch_losses
from .base import Scheduler
from .rungs import (PausedEpochs, Rung, forget_discarded, hyperband_weights, next_promotion,  # noqa: F401
                    promotable, ranked, record, rung_budgets, rung_loss, study_rungs, told_epochs)

#: Kept for callers of the first releases: a trial's per-epoch losses (see :func:`~hpo_kit.trial.epoch_losses`).
history = epoch_losses


class ASHA(Scheduler):
    """Asynchronous successive halving (see the module docstring for every rule).

    Parameters
    ----------
    r_min
        Epochs of the bottom rung.
    eta
        Reduction factor: the top ``1/eta`` of a rung is promoted, and rungs are ``eta`` apart.
    r_max
        Epochs of the top rung (default: the study's ``max_epochs``).
    n_configs
        Configurations to start at most (default: until the study's trial or time budget).
    brackets
        Hyperband brackets (1: plain ASHA; ``None``: one per rung, as :class:`Hyperband`).
    seed
        Seed of the default searcher; ``None``: the study's (``Study(seed=...)``).
    searcher
        Where new configurations come from (default: ``RandomSearch(seed)``).
    """

    name = "asha"

    def __init__(self, r_min: int = 1, eta: int = 3, r_max: int | None = None, n_configs: int | None = None,
                 brackets: int | None = 1, seed: int | None = None, searcher: Searcher | None = None) -> None:
        super().__init__(searcher, seed)
        for label, value, low in (("r_min", r_min, 1), ("eta", eta, 2), ("brackets", brackets, 1),
                                  ("r_max", r_max, 1), ("n_configs", n_configs, 1)):
            check_int(type(self).__name__, label, value, low, optional=label not in ("r_min", "eta"))
        self.r_min, self.eta, self.r_max, self.n_configs, self.brackets = r_min, eta, r_max, n_configs, brackets
        self.rungs: list[list[Rung]] = []  # per bracket, bottom up
        self._budgets: list[int] = []  # rung epochs, resolved at setup
        self._weights: list[int] = []  # bracket weights of the round robin
        self._reset()

    def _reset(self) -> None:
        self._bracket_of: dict[int, int] = {}  # every trial ASHA started -> its bracket
        self._wrr: list[float] = [0.0] * len(self._weights)  # weighted round robin state

    def setup(self, space: Space, goal: Goal, max_epochs: int | None = None, concurrency: int = 1,
              trials: Mapping[int, Trial] | None = None) -> None:
        super().setup(space, goal, max_epochs, concurrency, trials)
        budgets = study_rungs(owner := type(self).__name__, self.r_min, self.eta, self.r_max, max_epochs)
        n_brackets = len(budgets) if self.brackets is None else self.brackets
        if n_brackets > len(budgets):
            raise ValueError(f"{owner}: brackets={n_brackets} but there are only {len(budgets)} rungs {budgets}")
        self._budgets = budgets
        self._weights = hyperband_weights(len(budgets), self.eta, n_brackets)
        self.rungs = [[Rung(e, n) for e, n in zip(budgets[b:], budgets[b + 1:] + [None])]
                      for b in range(n_brackets)]
        self._reset()

    @property
    def top_epochs(self) -> int | None:
        """The top rung (resolved ``r_max``): a trial reaching it completes, also without a study ``max_epochs``."""
        return self._budgets[-1] if self._budgets else None

    n_brackets = property(lambda self: len(self.rungs), doc="Brackets in use (resolved at :meth:`setup`).")

    def _all_rungs(self) -> list[Rung]:
        return [r for bracket in self.rungs for r in bracket]

    # -- decisions -----------------------------------------------------------------------------
    def suggest(self, trial_id: int) -> Start | Resume | None:
        rungs = self._all_rungs()
        found = next_promotion(rungs, self.eta, PausedEpochs(self.trials))
        if found is not None:
            rung, tid = found
            rung.promote(tid)  # the engine resumes it next: PAUSED -> PENDING in the ledger
            return Resume(tid, rung.next_epochs, info={"from_rung": rung.epochs})
        if self.may_start and (self.n_configs is None or len(self._bracket_of) < self.n_configs):
            saved = list(self._wrr)
            bracket = self._next_bracket()
            start = self.new_trial(trial_id, budget=self.rungs[bracket][0].epochs, info={"bracket": bracket})
            if start is None:
                self._wrr = saved  # no trial started: the round robin must not move (restore replays starts)
            else:
                self._bracket_of[trial_id] = bracket
            return start
        if self.n_configs is not None and len(self._bracket_of) >= self.n_configs and not self._may_resume():
            self.finished = True
        return None

    def promote_now(self, trial_id: int) -> Resume | None:
        """Promote a trial that just paused at a rung within the same step, if it is in the top ``1/eta``
        of its rung now (the pruner's way: its worker waits for the answer and goes on, no round trip)."""
        t = self.trials.get(trial_id)
        if t is None or trial_id not in self._bracket_of:
            return None
        for rung in self.rungs[self._bracket_of[trial_id]]:
            if rung.epochs == t.epochs and rung.next_epochs is not None \
                    and trial_id in promotable(rung, self.eta, {trial_id: t.epochs}):
                rung.promote(trial_id)
                return Resume(trial_id, rung.next_epochs, info={"from_rung": rung.epochs, "in_step": True})
        return None

    def rung_cutoffs(self, trial_id: int) -> dict[int, tuple[Key | None, int]] | None:
        """Per rung of the trial's bracket below the top: the key to beat now, and the next budget
        (a step decides alone with it: :mod:`hpo_kit.engine.cutoff`)."""
        bracket = self._bracket_of.get(trial_id)
        if bracket is None:
            return None
        return {r.epochs: (r.cutoff(self.eta), r.next_epochs) for r in self.rungs[bracket]
                if r.next_epochs is not None}

    def forget(self, trial_id: int) -> None:
        forget_discarded(self._all_rungs(), self.trials)

    def _next_bracket(self) -> int:
        # Smooth weighted round robin (nginx): deterministic, interleaved, restore-friendly.
        for b, w in enumerate(self._weights):
            self._wrr[b] += w
        pick = max(range(len(self._wrr)), key=lambda b: (self._wrr[b], -b))  # ties to the lower bracket
        self._wrr[pick] -= sum(self._weights)
        return pick

    def _may_resume(self) -> bool:
        """Whether a Resume may still come: a trial runs or waits, a promotion is under way, or one is due."""
        rungs = self._all_rungs()
        # A Resume handed out but not yet applied by the engine leaves its trial PAUSED at the rung.
        return (bool(self.active()) or any(self.paused_at(tid) == r.epochs for r in rungs for tid in r.promoted)
                or next_promotion(rungs, self.eta, PausedEpochs(self.trials)) is not None)

    def on_result(self, obs: Observation) -> None:
        t = self.trials.get(obs.trial_id)
        if t is not None and t.discard:
            return  # the engine tells no discarded trial; should one arrive anyway, it counts nowhere
        bracket = self._bracket_of.setdefault(obs.trial_id, 0)
        record(self.rungs[bracket], obs.trial_id, obs.losses, obs.epochs, self.goal.score, obs.loss)
        super().on_result(obs)  # the searcher learns from every result, pauses at rungs included

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild rungs from the trials' per-epoch losses and budgets, and the bracket choices.

        Configurations are the journal's (the searcher restores itself); nothing is redrawn.
        Brackets replay the deterministic round robin over the trials in id order; a
        discarded trial keeps its bracket turn (it was started) but no place in a rung.
        """
        for rung in self._all_rungs():
            rung.clear()
        self._reset()
        for t in trials:
            bracket = self._next_bracket()
            self._bracket_of[t.id] = bracket
            if t.discard:
                continue
            rungs = self.rungs[bracket]
            told = told_epochs(t, [r.epochs for r in rungs])
            record(rungs, t.id, epoch_losses(t, self.goal), told, self.goal.score)
            reached = max(t.epochs, t.budget or 0)  # a trial resumed to a higher budget was promoted
            for rung in rungs:
                if rung.next_epochs is not None and reached > rung.epochs:
                    rung.promote(t.id)
        self.searcher.restore(trials, observations)

    # -- introspection ---------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "r_min": self.r_min, "eta": self.eta, "r_max": self.r_max,
                "n_configs": self.n_configs, "brackets": self.brackets}

    def _own_state(self) -> dict[str, Any]:
        paused = sum(t.status is TrialStatus.PAUSED for t in self.trials.values())
        return {"started": len(self._bracket_of), "running": len(self.active()), "paused": paused,
                "rungs": [{"bracket": b, "epochs": r.epochs, "size": len(r.losses), "promoted": len(r.promoted)}
                          for b, bracket in enumerate(self.rungs) for r in bracket]}


class Hyperband(ASHA):
    """Asynchronous Hyperband: :class:`ASHA` whose ``brackets`` default (``None``) is all, one per rung.

    Parameters are those of :class:`ASHA`; ``brackets=None`` is resolved at :meth:`setup`.
    """

    name = "hyperband"

    def __init__(self, r_min: int = 1, eta: int = 3, r_max: int | None = None, n_configs: int | None = None,
                 brackets: int | None = None, seed: int | None = None, searcher: Searcher | None = None) -> None:
        super().__init__(r_min, eta, r_max, n_configs, brackets, seed, searcher)
