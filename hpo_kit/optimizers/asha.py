"""ASHA: asynchronous successive halving (Li et al., seed ``asha.md``), with optional Hyperband brackets.

Rungs hold the configurations that reached ``r_k = r_min * eta**k`` epochs (``k = 0..K``,
the top rung being ``r_max``). Whenever a worker frees up, :meth:`ASHA.suggest` scans the
rungs from the top down for a configuration in the top ``1/eta`` of its rung that has not
been promoted yet; it is promoted (:class:`~hpo_kit.optimizers.Resume` to the next rung's
budget), otherwise a new configuration starts in the bottom rung (budget ``r_min``). So no
worker waits for a rung to fill, which is what synchronous SHA (:mod:`.sha`) does.

Choices where the seed is silent (each documented, most a parameter):

* The top rung is ``r_max`` itself (default: the study's ``max_epochs``); when ``r_max`` is
  not ``r_min * eta**K`` the rungs are ``r_min * eta**k < r_max`` plus ``r_max`` (as in Ray).
* A configuration is ranked in a rung by the study's score rule applied to its history
  up to the rung's epoch (``score="best"``: its best loss so far; ``"last"``: the loss at
  that epoch). Ties go to the older trial, so decisions are reproducible.
* A trial counts in every rung it reached, also if it later stopped or failed (it used
  the rung's resource), but only a trial PAUSED at that rung, with a finite loss, can be
  promoted: stopped, killed and failed trials never are, and their place is not refilled.
* A promoted stateful trial (:class:`~hpo_kit.Trainable`) resumes from its checkpoint; a
  function-form trial trains again from scratch up to the new budget (the engine's rule).
* ``brackets > 1`` runs asynchronous Hyperband: bracket ``b`` has its own rungs starting at
  ``r_min * eta**b``; new configurations go to brackets by a deterministic weighted round
  robin with Hyperband's bracket sizes ``n_s = ceil((K+1)/(s+1) * eta**s)`` as weights.
* ``n_configs`` caps the configurations started; then ASHA only promotes (drains) and is
  finished when nothing is running and nothing can be promoted. At the end every
  configuration in the top ``1/eta`` of its rung has been promoted; early promotions with
  few rung members (the price of asynchrony) can make upper rungs larger than SHA's.

The decisions are small pure functions over rung records (after Optuna's
``SuccessiveHalvingPruner`` and Ray's ``_Bracket``): :func:`rung_budgets`,
:func:`promotable`, :func:`next_promotion`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..trial import Observation, Trial, TrialStatus
from .base import Optimizer, Resume, Start, epoch_budget


def rung_budgets(r_min: int, eta: int, r_max: int) -> list[int]:
    """Epochs of the rungs: ``r_min * eta**k`` below ``r_max``, then ``r_max``.

    >>> rung_budgets(1, 3, 27)
    [1, 3, 9, 27]
    """
    budgets, r = [], r_min
    while r < r_max:
        budgets.append(r)
        r *= eta
    return budgets + [r_max]


@dataclass
class Rung:
    """The records of one rung: each trial's loss at ``epochs``, and who was promoted from it."""

    epochs: int
    next_epochs: int | None  # the budget of the rung above; None for the top rung
    losses: dict[int, float] = field(default_factory=dict)
    promoted: set[int] = field(default_factory=set)


def ranked(losses: Mapping[int, float]) -> list[int]:
    """Trial ids best first (lowest loss; ties to the lower id; non-finite last)."""
    return sorted(losses, key=lambda tid: (not math.isfinite(losses[tid]), losses[tid], tid))


def promotable(rung: Rung, eta: int, waiting: Mapping[int, int]) -> list[int]:
    """Ids in the top ``floor(n/eta)`` of ``rung``, not yet promoted, PAUSED at this rung, best first.

    ``waiting`` maps a paused trial to the epoch it paused at; stopped or failed trials are
    not in it, so they are never promoted.
    """
    top = ranked(rung.losses)[: len(rung.losses) // eta]
    return [tid for tid in top if tid not in rung.promoted and waiting.get(tid) == rung.epochs
            and math.isfinite(rung.losses[tid])]


def next_promotion(rungs: Iterable[Rung], eta: int, waiting: Mapping[int, int]) -> tuple[Rung, int] | None:
    """The seed's scan: rungs from the top budget down; the first promotable configuration.

    Rungs of equal budget (other brackets) keep their given order.
    """
    for rung in sorted((r for r in rungs if r.next_epochs is not None), key=lambda r: -r.epochs):
        ids = promotable(rung, eta, waiting)
        if ids:
            return rung, ids[0]
    return None


def rung_loss(losses: Sequence[float], epoch: int, score: str, fallback: float | None = None) -> float:
    """A trial's loss at rung ``epoch`` from its per-epoch history, under the study's score rule.

    ``fallback`` (the told loss) is used when the history is shorter than ``epoch``.
    Non-finite results become ``inf`` (ranked last, never promoted).
    """
    if len(losses) >= epoch:
        seen = [v for v in losses[:epoch] if math.isfinite(v)]
        value = (min(seen) if seen else math.inf) if score == "best" else losses[epoch - 1]
    else:
        value = math.inf if fallback is None else fallback
    return float(value) if math.isfinite(value) else math.inf


def record(rungs: Sequence[Rung], trial_id: int, losses: Sequence[float], epochs: int, score: str,
           fallback: float | None = None) -> None:
    """Enter a trial in every rung it reached (``epochs`` trained) and was not yet entered in."""
    for rung in rungs:
        if rung.epochs <= epochs and trial_id not in rung.losses:
            rung.losses[trial_id] = rung_loss(losses, rung.epochs, score, fallback)


def history(trial: Trial, goal: Any) -> tuple[float, ...]:
    """A trial's per-epoch losses (minimisation orientation, NaN where missing), as in an Observation."""
    return tuple(goal.loss(v) if math.isfinite(v) else math.nan for v in trial.values(goal.metric))


def hyperband_weights(n_rungs: int, eta: int, brackets: int) -> list[int]:
    """Hyperband's initial bracket sizes, bracket ``b`` starting at rung ``b`` (``s = K - b`` halvings)."""
    k_max = n_rungs - 1
    return [math.ceil((k_max + 1) / (k_max - b + 1) * eta ** (k_max - b)) for b in range(brackets)]


def study_rungs(policy: str, r_min: int, eta: int, r_max: int | None, max_epochs: int | None) -> list[int]:
    """Rung budgets up to the policy's ``r_max`` (default: the study's ``max_epochs``), checked."""
    top = epoch_budget(policy, "r_max", r_max, max_epochs)
    if r_min > top:
        raise ValueError(f"{policy}: r_min={r_min} exceeds r_max={top}")
    return rung_budgets(r_min, eta, top)


class ASHA(Optimizer):
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
        Hyperband brackets (1: plain ASHA).
    seed
        Seed of the configuration sampler.
    """

    name = "asha"

    def __init__(self, r_min: int = 1, eta: int = 3, r_max: int | None = None, n_configs: int | None = None,
                 brackets: int = 1, seed: int | None = 0) -> None:
        super().__init__(seed)
        for label, value, low in (("r_min", r_min, 1), ("eta", eta, 2), ("brackets", brackets, 1),
                                  ("r_max", r_max, 1), ("n_configs", n_configs, 1)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ValueError(f"ASHA: {label}={value!r} must be an integer >= {low}")
        self.r_min, self.eta, self.r_max, self.n_configs, self.brackets = r_min, eta, r_max, n_configs, brackets
        self.rungs: list[list[Rung]] = []  # per bracket, bottom up
        self._reset()

    def _reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._bracket_of: dict[int, int] = {}
        self._waiting: dict[int, int] = {}  # paused trial -> epochs it paused at
        self._running: set[int] = set()
        self._started = 0
        self._wrr: list[float] = []  # weighted round robin state
        self.finished = False

    def setup(self, space: Any, goal: Any, max_epochs: int | None = None, concurrency: int = 1) -> None:
        super().setup(space, goal, max_epochs, concurrency)
        budgets = study_rungs("ASHA", self.r_min, self.eta, self.r_max, max_epochs)
        if self.brackets > len(budgets):
            raise ValueError(f"ASHA: brackets={self.brackets} but there are only {len(budgets)} rungs {budgets}")
        self._budgets = budgets
        self._weights = hyperband_weights(len(budgets), self.eta, self.brackets)
        self.rungs = [[Rung(e, n) for e, n in zip(budgets[b:], budgets[b + 1:] + [None])]
                      for b in range(self.brackets)]
        self._reset()

    # -- decisions -----------------------------------------------------------------------------
    def suggest(self, trial_id: int) -> Start | Resume | None:
        found = next_promotion((r for bracket in self.rungs for r in bracket), self.eta, self._waiting)
        if found is not None:
            rung, tid = found
            rung.promoted.add(tid)
            del self._waiting[tid]
            self._running.add(tid)
            return Resume(tid, rung.next_epochs, info={"from_rung": rung.epochs})
        if self.may_start and (self.n_configs is None or self._started < self.n_configs):
            bracket = self._next_bracket()
            config = self.space.sample(self._rng)
            self._started += 1
            self._bracket_of[trial_id] = bracket
            self._running.add(trial_id)
            return Start(config, budget=self.rungs[bracket][0].epochs, info={"bracket": bracket})
        if not self._running and self.n_configs is not None and self._started >= self.n_configs:
            self.finished = True
        return None

    def _next_bracket(self) -> int:
        # Smooth weighted round robin (nginx): deterministic, interleaved, restore-friendly.
        if not self._wrr:
            self._wrr = [0.0] * self.brackets
        for b, w in enumerate(self._weights):
            self._wrr[b] += w
        pick = int(np.argmax(self._wrr))
        self._wrr[pick] -= sum(self._weights)
        return pick

    def on_result(self, obs: Observation) -> None:
        tid = obs.trial_id
        self._running.discard(tid)
        bracket = self._bracket_of.setdefault(tid, 0)
        record(self.rungs[bracket], tid, obs.losses, obs.epochs, self.goal.score, obs.loss)
        if obs.status is TrialStatus.PAUSED:
            self._waiting[tid] = obs.epochs
        else:
            self._waiting.pop(tid, None)

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild rungs from the trials' loss histories; replay the sampler and the bracket choices."""
        for bracket in self.rungs:
            for rung in bracket:
                rung.losses.clear()
                rung.promoted.clear()
        self._reset()
        for t in trials:
            self.space.sample(self._rng)
            bracket = self._next_bracket()
            self._started += 1
            self._bracket_of[t.id] = bracket
            rungs = self.rungs[bracket]
            record(rungs, t.id, history(t, self.goal), t.epochs, self.goal.score)
            reached = max(t.epochs, t.budget or 0)  # a trial resumed to a higher budget was promoted
            for rung in rungs:
                if rung.next_epochs is not None and reached > rung.epochs:
                    rung.promoted.add(t.id)
            if t.status is TrialStatus.PAUSED:
                self._waiting[t.id] = t.epochs
            elif not t.status.is_terminal:
                self._running.add(t.id)  # the engine requeues (or fails and tells) interrupted trials

    # -- introspection ---------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "r_min": self.r_min, "eta": self.eta, "r_max": self.r_max,
                "n_configs": self.n_configs, "brackets": self.brackets}

    def state(self) -> dict[str, Any]:
        return {"started": self._started, "running": len(self._running), "paused": len(self._waiting),
                "rungs": [{"bracket": b, "epochs": r.epochs, "size": len(r.losses), "promoted": len(r.promoted)}
                          for b, bracket in enumerate(self.rungs) for r in bracket]}
