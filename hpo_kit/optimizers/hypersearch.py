"""Hypersearch (seed ``hypersearch.md``): sessions of S networks; the best one's weights seed the next session.

1. Session 1: ``S`` random configurations each train ``k = floor(M/m)`` epochs (a
   :class:`~hpo_kit.optimizers.Start` with budget ``k``; they end PAUSED).
2. When all ``S`` trials of the session ended, ``h`` = the best of them.
3. Next session: ``h`` continues for ``k`` more epochs (a :class:`~hpo_kit.optimizers.Resume`)
   and ``S - 1`` *new* trials start from ``h``'s weights (``Start(..., parent=h)``) with
   configurations drawn in the neighbourhood of ``h``'s (:func:`neighbour`).
4. After ``m`` sessions the policy is finished; the last session is the final population
   (:meth:`Hypersearch.final_population`, and :mod:`hpo_kit.ensemble` for its averaged
   predictions). Every lineage trains at most ``m * k <= M`` epochs.

The paper ran the S trainings in turn; here they are independent trials, so they run in
parallel on the cluster. Choices where the seed is silent:

* ``S`` defaults to the study's concurrency (one network per worker).
* "Best" ranks by the study's metric at the session's *last* epoch (``rank_by="last"``),
  since those are the weights that get copied; ``rank_by="score"`` uses the study's
  score rule (e.g. best-ever) instead. Only a PAUSED trial with a finite loss can be ``h``;
  if none is, the next session starts afresh from random configurations.
* ``h``'s Resume is handed out only after each new trial of the session has reported
  its first epoch (or ended): a new trial loads its parent's *latest* checkpoint when its
  step starts, so resuming ``h`` earlier could let a queued child copy weights from the
  middle of ``h``'s next session. The cost is at most one epoch of one idle worker per session.
* When the study's trial budget is spent mid-session (``may_start`` False), the session
  keeps the trials it has and ``h`` still continues, so the winner's lineage gets its epochs.
* Neighbourhood, per dimension type, in the space's unit cube (``Space.to_unit``, where
  log dimensions are on a log axis, so perturbations are multiplicative there):
  real and integer: ``u + N(0, sigma)`` reflected at the cube's faces, then mapped back
  (integers round to their cell); categorical: kept with probability ``1 - p_categorical``,
  otherwise moved one step in the declared order (``categorical="shift"``, Ray PBT's
  default, which suits ordered choices such as batch sizes) or redrawn among the other
  choices (``"resample"``). Ray PBT's defaults for reference: resample probability 0.25,
  factors 0.8/1.2 (about ``sigma = 0.1`` on a two-decade log axis).
* New networks take the best one's *weights*, so dimensions that shape the network
  (width, depth, activation) must not move: list them in ``inherit`` and they are copied
  from ``h`` unchanged (``Hypersearch(inherit=("width", "depth"))``); the space may then
  still sample them freely in the first session.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..space import Categorical, Space
from ..trial import Observation, Trial, TrialStatus
from .asha import history
from .base import Decision, Optimizer, Resume, Start, epoch_budget


def reflect(u: float) -> float:
    """Fold a real number into ``[0, 1]`` by reflection at 0 and 1 (keeps a Gaussian's spread near a face)."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def neighbour(space: Space, config: Mapping[str, Any], rng: np.random.Generator,
              sigma: float | Mapping[str, float] = 0.1, p_categorical: float = 0.25,
              categorical: str = "shift") -> dict[str, Any]:
    """A configuration near ``config`` (see the module docstring); always inside ``space``.

    Parameters
    ----------
    sigma
        Standard deviation of the unit-cube step of real and integer dimensions, or a
        mapping from dimension name to it (missing names: 0.1).
    p_categorical
        Probability that a categorical value changes.
    categorical
        ``"shift"`` (one step in the declared order) or ``"resample"`` (another choice).
    """
    out: dict[str, Any] = {}
    for name, dim in space.items():
        value = config[name]
        if isinstance(dim, Categorical):
            n = len(dim.choices)
            if n > 1 and rng.random() < p_categorical:
                i = dim.choices.index(value)
                if categorical == "shift":
                    j = i + (1 if i == 0 else -1 if i == n - 1 else int(rng.choice((-1, 1))))
                else:
                    j = int(rng.choice([c for c in range(n) if c != i]))
                value = dim.choices[j]
        else:
            s = sigma.get(name, 0.1) if isinstance(sigma, Mapping) else sigma
            moved = dim.from_unit(reflect(dim.to_unit(value) + rng.normal(0.0, s)))
            value = min(max(moved, dim.low), dim.high)  # from_unit's float rounding must not leave the box
        out[name] = value
    return space.validate(out)


class Hypersearch(Optimizer):
    """Sessions of ``S`` trials; the next session continues the best and copies its weights.

    Parameters
    ----------
    S
        Networks per session (default: the study's concurrency).
    m
        Sessions (``m <= M``).
    max_epochs
        ``M``, the epochs of a whole lineage (default: the study's ``max_epochs``).
    sigma, p_categorical, categorical
        The neighbourhood's scale (see :func:`neighbour`).
    rank_by
        ``"last"`` (loss at the session's last epoch) or ``"score"`` (the study's score rule).
    seed
        Seed of the sampler.
    """

    name = "hypersearch"

    def __init__(self, S: int | None = None, m: int = 3, max_epochs: int | None = None,  # noqa: N803 - the paper's names
                 sigma: float | Mapping[str, float] = 0.1, p_categorical: float = 0.25, categorical: str = "shift",
                 rank_by: str = "last", inherit: Sequence[str] = (), seed: int | None = 0) -> None:
        super().__init__(seed)
        self.inherit = tuple(inherit)
        for label, value in (("S", S), ("m", m), ("max_epochs", max_epochs)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"Hypersearch: {label}={value!r} must be a positive integer")
        if categorical not in ("shift", "resample"):
            raise ValueError(f"Hypersearch: categorical={categorical!r} must be 'shift' or 'resample'")
        if rank_by not in ("last", "score"):
            raise ValueError(f"Hypersearch: rank_by={rank_by!r} must be 'last' or 'score'")
        if not 0.0 <= p_categorical <= 1.0:
            raise ValueError(f"Hypersearch: p_categorical={p_categorical!r} must be in [0, 1]")
        self.S, self.m, self.M = S, m, max_epochs
        self.sigma, self.p_categorical, self.categorical, self.rank_by = sigma, p_categorical, categorical, rank_by
        self.population: int | None = S  # S resolved at the first setup, kept across a restart
        self.k = 0
        self._reset()

    def _reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.session = 0
        self.sessions: list[dict[str, Any]] = []  # {"members": [...], "parent": h or None}
        self._to_start = 0
        self._resumed = True  # whether this session's h was handed out
        self._configs: dict[int, dict[str, Any]] = {}
        self._epochs: dict[int, int] = {}
        self._rank: dict[int, float] = {}
        self._status: dict[int, TrialStatus] = {}
        self._reported: set[int] = set()
        self._running: set[int] = set()
        self.best: int | None = None
        self.finished = False

    def setup(self, space: Space, goal: Any, max_epochs: int | None = None, concurrency: int = 1) -> None:
        super().setup(space, goal, max_epochs, concurrency)
        unknown = [name for name in self.inherit if name not in space]
        if unknown:
            raise ValueError(f"Hypersearch: inherit={unknown!r} names no dimension of the space")
        M = epoch_budget("Hypersearch", "max_epochs M", self.M, max_epochs)  # noqa: N806
        if self.m > M:
            raise ValueError(f"Hypersearch: m={self.m} sessions need m <= M={M}")
        self.k = M // self.m
        self.population = self.population or concurrency
        self._reset()
        self._open_session(None)

    def _open_session(self, parent: int | None) -> None:
        self.session += 1
        self.sessions.append({"members": [] if parent is None else [parent], "parent": parent})
        self._to_start = self.population - (parent is not None)
        self._resumed = parent is None

    # -- decisions -------------------------------------------------------------------------------
    def suggest(self, trial_id: int) -> Start | Resume | None:
        while not self.finished:
            current = self.sessions[-1]
            h = current["parent"]
            if self._to_start > 0 and self.may_start:
                self._to_start -= 1
                current["members"].append(trial_id)
                self._running.add(trial_id)
                if h is None:
                    config = self.space.sample(self._rng)
                else:
                    config = self._neighbour(self._configs[h])
                self._configs[trial_id] = config
                return Start(config, budget=self.k, parent=h, info={"session": self.session})
            if not self._resumed:
                children = [t for t in current["members"] if t != h]
                if any(t in self._running and t not in self._reported for t in children):
                    return None  # a child has not loaded h's weights yet
                self._resumed = True
                if self._status.get(h) is TrialStatus.PAUSED:
                    self._running.add(h)
                    return Resume(h, self._epochs[h] + self.k, info={"session": self.session})
            if self._running or (self._to_start > 0 and self.may_start):
                return None
            self._close_session()
        return None

    def _neighbour(self, config: dict[str, Any]) -> dict[str, Any]:
        near = neighbour(self.space, config, self._rng, self.sigma, self.p_categorical, self.categorical)
        return {**near, **{name: config[name] for name in self.inherit}}  # the copied weights must fit

    def _close_session(self) -> None:
        members = self.sessions[-1]["members"]
        last = self.session >= self.m
        ok = (TrialStatus.PAUSED, TrialStatus.COMPLETED) if last else (TrialStatus.PAUSED,)
        candidates = [t for t in members if self._status.get(t) in ok and math.isfinite(self._rank.get(t, math.inf))]
        best = min(candidates, key=lambda t: (self._rank[t], t)) if candidates else None
        self.sessions[-1]["best"] = best
        if last:
            self.best, self.finished = best, True
        else:
            self._open_session(best)

    def on_report(self, trial_id: int, epoch: int, loss: float | None) -> Decision:
        self._reported.add(trial_id)  # it has loaded its parent's weights
        return Decision.CONTINUE

    def on_result(self, obs: Observation) -> None:
        self._note(obs.trial_id, obs.status, obs.epochs, obs.losses, obs.loss)

    def _note(self, tid: int, status: TrialStatus, epochs: int, losses: Sequence[float], told: float | None) -> None:
        self._running.discard(tid)
        self._status[tid], self._epochs[tid] = status, epochs
        if self.rank_by == "last" and losses:
            value = losses[-1]
        else:
            value = told if told is not None else math.inf
        self._rank[tid] = float(value) if math.isfinite(value) else math.inf

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild the sessions from the trials' parents (in id order) and replay the sampler."""
        self._reset()
        self._open_session(None)
        for t in trials:
            current = self.sessions[-1]
            if self._to_start == 0 or t.parent != current["parent"]:
                self.sessions[-1]["best"] = t.parent
                self._open_session(t.parent)  # the first trial of the next session
            current = self.sessions[-1]
            self._to_start -= 1
            current["members"].append(t.id)
            h = current["parent"]
            self._configs[t.id] = self.space.sample(self._rng) if h is None else self._neighbour(self._configs[h])
            if t.status is TrialStatus.PAUSED or t.status.is_terminal:
                told = t.score(self.goal)
                self._note(t.id, t.status, t.epochs, history(t, self.goal),
                           None if told is None else self.goal.loss(told))
            else:
                self._running.add(t.id)
                self._status[t.id], self._epochs[t.id] = t.status, t.epochs
            if t.epochs > 0 or t.status.is_terminal:
                self._reported.add(t.id)
        h = self.sessions[-1]["parent"]
        if h is not None:  # h was handed out iff its budget was raised past its epochs at the session's start
            budget = next(t.budget for t in trials if t.id == h) or 0
            self._resumed = budget > self.k * self._sessions_of(h)

    def _sessions_of(self, tid: int) -> int:
        """Sessions before the current one that ``tid`` trained in."""
        return sum(tid in s["members"] for s in self.sessions[:-1])

    # -- results -----------------------------------------------------------------------------------
    def final_population(self) -> list[int]:
        """Trial ids of the last session (the continuing best and its copies)."""
        return list(self.sessions[-1]["members"]) if self.sessions else []

    def params(self) -> dict[str, Any]:
        sigma = dict(self.sigma) if isinstance(self.sigma, Mapping) else self.sigma
        return {"seed": self.seed, "S": self.S, "m": self.m, "max_epochs": self.M, "sigma": sigma,
                "p_categorical": self.p_categorical, "categorical": self.categorical, "rank_by": self.rank_by,
                "inherit": list(self.inherit)}

    def state(self) -> dict[str, Any]:
        return {"session": self.session, "m": self.m, "S": self.population, "epochs_per_session": self.k,
                "parent": self.sessions[-1]["parent"] if self.sessions else None, "best": self.best,
                "members": self.final_population()}
