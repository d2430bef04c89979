"""Hypersearch (seed ``hypersearch.md``): sessions of S networks; the best one's weights seed the next session.

1. Session 1: ``S`` configurations from the scheduler's searcher (random search by
   default) each train ``k = floor(M/m)`` epochs (a :class:`~hpo_kit.decisions.Start` with
   budget ``k``; they end PAUSED).
2. When all ``S`` trials of the session ended, ``h`` = the best of them.
3. Next session: ``h`` continues for ``k`` more epochs (a :class:`~hpo_kit.decisions.Resume`)
   and ``S - 1`` *new* trials start from ``h``'s weights (``Start(..., parent=h)``) with
   configurations drawn in the neighbourhood of ``h``'s (:func:`neighbour`).
4. After ``m`` sessions the policy is finished; the last session is the final population
   (:meth:`Hypersearch.final_population`, and :mod:`hpo_kit.ensemble` for its averaged
   predictions). Every lineage trains at most ``m * k <= M`` epochs; ``top_epochs`` is
   ``M``, so a step that ends at a session's budget pauses (even when the study sets no
   ``max_epochs`` and ``M`` is Hypersearch's own).

The paper ran the S trainings in turn; here they are independent trials, so they run in
parallel on the cluster. Like every scheduler it keeps no mirror of engine state: which
members run, paused or ended, their epochs and configurations it reads from the ledger
(``self.trials``); it keeps only the sessions and the rank facts of told results.
Choices where the seed is silent:

* ``S`` defaults to the study's concurrency (one network per worker).
* "Best" ranks by the study's metric at the trial's *last* epoch (``rank_by="last"``),
  since those are the weights that get copied; ``rank_by="score"`` uses the study's
  score rule (e.g. best-ever) instead. Only a PAUSED trial with a finite loss can be ``h``;
  if none is, the next session starts afresh with configurations from the searcher. A
  member killed with ``discard=True`` is never told: it is never ``h``, and the session
  does not wait for it (its terminal status is in the ledger).
* ``h``'s Resume is handed out only after each new trial of the session has reported
  its first epoch (or ended): a new trial loads its parent's *latest* checkpoint when its
  step starts, so resuming ``h`` earlier could let a queued child copy weights from the
  middle of ``h``'s next session. The cost is at most one epoch of one idle worker per session.
* When the study's trial budget is spent mid-session (``may_start`` False), the session
  keeps the trials it has and ``h`` still continues, so the winner's lineage gets its epochs.
* Neighbours are drawn by Hypersearch itself, from trial ``n``'s own generator
  ``self.rng(n, stream=1)`` (counter-based, so a restored policy draws the same neighbour
  for the same trial id without replaying anything). Neighbourhood, per dimension type,
  in the space's unit cube (``Space.to_unit``, where
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
* Weights flow only between :class:`~hpo_kit.Trainable` trials: Hypersearch declares
  ``copies_weights = True`` and :func:`hpo_kit.inherit.check_objective` refuses a function-form
  objective with it (a ``TypeError`` at ``Study(...)``: every copy would train from scratch).
  A copy whose configuration does not fit ``h``'s state (a changed width, or ``optimizer``
  adam -> sgd: torch's bare ``KeyError: 'momentum'``) fails with an
  :class:`~hpo_kit.inherit.InheritError` naming the dimensions to put in ``inherit``
  (:func:`hpo_kit.inherit.explain_load_error`, called where the worker loads the state).
* :meth:`Hypersearch.restore` rebuilds the sessions from the trials' parents (in id order)
  and takes every configuration from the journal (``t.config``), never from a replayed
  generator; rank facts come from the ledger's trials, skipping discarded ones.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from .. import conditions
from ..decisions import Resume, Start, epoch_budget
from ..goal import Goal
from ..searchers.base import Searcher
from ..space import Categorical, Space
from ..trial import Observation, Trial, TrialStatus, epoch_losses
from .base import Scheduler


def reflect(u: float) -> float:
    """Fold a real number into ``[0, 1]`` by reflection at 0 and 1 (keeps a Gaussian's spread near a face)."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def neighbour(space: Space, config: Mapping[str, Any], rng: np.random.Generator,
              sigma: float | Mapping[str, float] = 0.1, p_categorical: float = 0.25,
              categorical: str = "shift", keep: Collection[str] = ()) -> dict[str, Any]:
    """A configuration near ``config`` (see the module docstring); always inside ``space``.

    Conditional spaces: parents move first (:attr:`Space.order`); a child the moved parents
    deactivate is dropped, one they activate is drawn afresh from its dimension.

    Parameters
    ----------
    sigma
        Standard deviation of the unit-cube step of real and integer dimensions, or a
        mapping from dimension name to it (missing names: 0.1).
    p_categorical
        Probability that a categorical value changes.
    categorical
        ``"shift"`` (one step in the declared order) or ``"resample"`` (another choice).
    keep
        Names whose value is copied from ``config`` while active (still drawn, so the other
        dimensions' draws do not depend on ``keep``).
    """
    out: dict[str, Any] = {}
    for name in space.order:
        dim = space[name]
        if not conditions.active(space, name, out):
            continue
        if name not in config:  # activated by a moved parent
            out[name] = dim.sample(rng)
            continue
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
        out[name] = config[name] if name in keep else value
    return space.validate({n: out[n] for n in space if n in out})


class Hypersearch(Scheduler):
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
        ``"last"`` (loss at the trial's last epoch) or ``"score"`` (the study's score rule).
    inherit
        Dimensions that neighbours copy from ``h`` unchanged (those that shape the network).
    seed
        Seed of the neighbour draws and of the default searcher; ``None``: the study's.
    searcher
        Where session 1's (and a fresh session's) configurations come from (default:
        ``RandomSearch(seed)``).
    """

    name = "hypersearch"
    #: New trials start from another trial's weights: the objective must be a Trainable
    #: (:func:`hpo_kit.inherit.check_objective`).
    copies_weights = True

    def __init__(self, S: int | None = None, m: int = 3, max_epochs: int | None = None,  # noqa: N803 - the paper's names
                 sigma: float | Mapping[str, float] = 0.1, p_categorical: float = 0.25, categorical: str = "shift",
                 rank_by: str = "last", inherit: Sequence[str] = (), seed: int | None = None,
                 searcher: Searcher | None = None) -> None:
        super().__init__(searcher, seed)
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
        self._top: int | None = None  # M resolved at setup
        self._reset()

    def _reset(self) -> None:
        self.session = 0
        self.sessions: list[dict[str, Any]] = []  # {"members": [...], "parent": h or None, "best": ...}
        self._to_start = 0
        self._resumed = True  # whether this session's h was handed out
        self._rank: dict[int, float] = {}  # learned from told results; the ledger holds the rest
        self.best: int | None = None
        self.finished = False

    def setup(self, space: Space, goal: Goal, max_epochs: int | None = None, concurrency: int = 1,
              trials: Mapping[int, Trial] | None = None) -> None:
        """Bind to a study, resolve ``M``, ``k`` and ``S``, and open session 1.

        Raises
        ------
        ValueError
            If ``inherit`` names no dimension, neither ``M`` nor the study's ``max_epochs``
            is set, ``M`` exceeds the study's, or ``m > M``.
        """
        super().setup(space, goal, max_epochs, concurrency, trials)
        unknown = [name for name in self.inherit if name not in space]
        if unknown:
            raise ValueError(f"Hypersearch: inherit={unknown!r} names no dimension of the space")
        M = epoch_budget("Hypersearch", "max_epochs M", self.M, max_epochs)  # noqa: N806
        if self.m > M:
            raise ValueError(f"Hypersearch: m={self.m} sessions need m <= M={M}")
        self.k, self._top = M // self.m, M
        self.population = self.population or concurrency
        self._reset()
        self._open_session(None)

    @property
    def top_epochs(self) -> int | None:
        """``M``: a step ending at a session's budget below it pauses instead of completing."""
        return self._top

    def _may_resume(self) -> bool:
        # A finished searcher only ends the fresh starts: h still continues in every later session.
        return not self._done

    def _open_session(self, parent: int | None) -> None:
        self.session += 1
        self.sessions.append({"members": [] if parent is None else [parent], "parent": parent})
        self._to_start = self.population - (parent is not None)
        self._resumed = parent is None

    # -- ledger reads ----------------------------------------------------------------------------
    def _waiting(self, tid: int) -> bool:
        """Whether member ``tid`` runs or waits for a worker (a Start not yet in the ledger counts)."""
        t = self.trials.get(tid)
        return t is None or t.status in (TrialStatus.PENDING, TrialStatus.RUNNING)

    def _loaded(self, tid: int) -> bool:
        """Whether child ``tid`` has loaded its parent's weights: it reported an epoch, or ended."""
        t = self.trials.get(tid)
        return t is not None and (t.epochs > 0 or t.status.is_terminal)

    # -- decisions -------------------------------------------------------------------------------
    def suggest(self, trial_id: int) -> Start | Resume | None:
        while not self.finished:
            current = self.sessions[-1]
            h = current["parent"]
            if self._to_start > 0 and self.may_start:
                start = self._start(trial_id, h)
                if start is not None:
                    self._to_start -= 1
                    current["members"].append(trial_id)
                    return start
                if not self.searcher.finished:
                    return None  # the searcher has nothing right now; ask again later
                self._to_start = 0  # it never will: the session keeps the trials it has
            if not self._resumed:
                children = [t for t in current["members"] if t != h]
                if not all(self._loaded(t) for t in children):
                    return None  # a child has not loaded h's weights yet
                self._resumed = True
                if self.trials[h].status is TrialStatus.PAUSED:
                    return Resume(h, self.trials[h].epochs + self.k, info={"session": self.session})
            if any(self._waiting(t) for t in current["members"]) or (self._to_start > 0 and self.may_start):
                return None
            self._close_session()
        return None

    def _start(self, trial_id: int, h: int | None) -> Start | None:
        """Trial ``trial_id``'s Start: the searcher's configuration, or a neighbour of ``h``'s."""
        if h is None:
            return self.new_trial(trial_id, budget=self.k, info={"session": self.session})
        config = self._neighbour(self.trials[h].config, self.rng(trial_id, stream=1))
        return Start(config, budget=self.k, parent=h, info={"session": self.session, "source": "neighbour"})

    def _neighbour(self, config: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        # the copied weights must fit: inherited dimensions keep h's values
        return neighbour(self.space, config, rng, self.sigma, self.p_categorical, self.categorical, self.inherit)

    def _close_session(self) -> None:
        members = self.sessions[-1]["members"]
        last = self.session >= self.m
        ok = (TrialStatus.PAUSED, TrialStatus.COMPLETED) if last else (TrialStatus.PAUSED,)
        # A discarded member was never told (no rank); the explicit check keeps it out regardless.
        candidates = [t for t in members if t in self.trials and self.trials[t].status in ok
                      and not self.trials[t].discard and math.isfinite(self._rank.get(t, math.inf))]
        best = min(candidates, key=lambda t: (self._rank[t], t)) if candidates else None
        self.sessions[-1]["best"] = best
        if last:
            self.best, self.finished = best, True
        else:
            self._open_session(best)

    def on_result(self, obs: Observation) -> None:
        """Keep the rank fact of a told step and tell the searcher."""
        self._note(obs.trial_id, obs.losses, obs.loss)
        super().on_result(obs)

    def _note(self, tid: int, losses: Sequence[float], told: float | None) -> None:
        if self.rank_by == "last" and losses:
            value = losses[-1]  # the loss at the trial's last epoch: the weights a copy would get
        else:
            value = told if told is not None else math.inf
        self._rank[tid] = float(value) if math.isfinite(value) else math.inf

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild the sessions from the trials' parents (in id order) and the rank facts from the ledger.

        Configurations are the journal's (``t.config``, read through ``self.trials`` when a
        neighbour is drawn): nothing is re-sampled. Discarded trials take no rank.
        """
        self._reset()
        self._open_session(None)
        by_id = {t.id: t for t in trials}
        for t in trials:
            current = self.sessions[-1]
            if self._to_start == 0 or t.parent != current["parent"]:
                current["best"] = t.parent
                self._open_session(t.parent)  # the first trial of the next session
            self._to_start -= 1
            self.sessions[-1]["members"].append(t.id)
            if not t.discard and (t.status is TrialStatus.PAUSED or t.status.is_terminal):
                told = t.score(self.goal)
                self._note(t.id, epoch_losses(t, self.goal), None if told is None else self.goal.loss(told))
        h = self.sessions[-1]["parent"]
        if h is not None:  # h was handed out iff its budget was raised past its epochs at the session's start
            self._resumed = (by_id[h].budget or 0) > self.k * self._sessions_of(h)
        self.searcher.restore(trials, observations)

    def _sessions_of(self, tid: int) -> int:
        """Sessions before the current one that ``tid`` trained in."""
        return sum(tid in s["members"] for s in self.sessions[:-1])

    # -- results -----------------------------------------------------------------------------------
    def final_population(self) -> list[int]:
        """Trial ids of the last session (the continuing best and its copies)."""
        return list(self.sessions[-1]["members"]) if self.sessions else []

    def params(self) -> dict[str, Any]:
        """Constructor arguments but the searcher (journalled with it by :meth:`describe`)."""
        sigma = dict(self.sigma) if isinstance(self.sigma, Mapping) else self.sigma
        return {"seed": self.seed, "S": self.S, "m": self.m, "max_epochs": self.M, "sigma": sigma,
                "p_categorical": self.p_categorical, "categorical": self.categorical, "rank_by": self.rank_by,
                "inherit": list(self.inherit)}

    def _own_state(self) -> dict[str, Any]:
        return {"session": self.session, "m": self.m, "S": self.population, "epochs_per_session": self.k,
                "parent": self.sessions[-1]["parent"] if self.sessions else None, "best": self.best,
                "members": self.final_population()}
