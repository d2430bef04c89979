"""The scheduler seam: *does a trial go on?* A scheduler decides budgets, promotions and stops.

The engine drives one scheduler (Syne Tune's shape, decisions as values):

* :meth:`Scheduler.suggest` - a worker is free: ``Start`` a new trial (its configuration asked
  of the scheduler's :class:`~hpo_kit.searchers.Searcher`), ``Resume`` a paused one, or ``None``;
* :meth:`Scheduler.on_report` - a running trial reported: ``CONTINUE`` or ``STOP``;
* :meth:`Scheduler.on_result` - a trial's step ended; the default tells the searcher.

A scheduler keeps no mirror of engine state: which trials run, wait or ended it reads
from ``self.trials``, the study's ledger (a read-only mapping of trial records bound at
:meth:`setup`). What it keeps is what it *learned* from told results (rung records). A
trial killed with ``discard=True`` is never told, so it takes no place in any rung.

``top_epochs`` is a trial's full length under this scheduler: a step that reaches its
budget below it ends PAUSED (the scheduler may resume it), at it COMPLETED.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..decisions import Decision, Resume, Start
from ..goal import Goal
from ..policy import Policy
from ..searchers.base import Searcher
from ..space import Space
from ..trial import Observation, Trial, TrialStatus


class Scheduler(Policy):
    """Base class of schedulers (see the module docstring).

    Parameters
    ----------
    searcher
        Where new configurations come from (default: ``RandomSearch(seed)``).
    seed
        Seed of the scheduler and of its default searcher; ``None``: the study's (:meth:`reseed`).
    """

    name = "scheduler"

    def __init__(self, searcher: Searcher | None = None, seed: int | None = None) -> None:
        super().__init__(seed)
        if searcher is None:
            from ..searchers.random import RandomSearch

            searcher = RandomSearch(seed)
        if not isinstance(searcher, Searcher):
            raise TypeError(f"{type(self).__name__}: searcher={searcher!r} is not a Searcher")
        self.searcher = searcher
        self.space: Space | None = None
        self.goal: Goal | None = None
        self.max_epochs: int | None = None
        self.concurrency = 1
        self.trials: Mapping[int, Trial] = MappingProxyType({})
        #: Set by the engine before each suggest: False once the study's trial budget is spent,
        #: when only a Resume is accepted (a Start is dropped).
        self.may_start = True
        #: The study's enqueued configurations (:class:`hpo_kit.known.KnownConfigs`), bound by the engine.
        self.known: Any = None
        self._done = False

    def setup(self, space: Space, goal: Goal, max_epochs: int | None = None, concurrency: int = 1,
              trials: Mapping[int, Trial] | None = None) -> None:
        """Bind to a study: its space, goal, ``max_epochs``, concurrency and ledger (``trials``)."""
        self.space, self.goal, self.max_epochs, self.concurrency = space, goal, max_epochs, concurrency
        self.trials = MappingProxyType({}) if trials is None else trials
        self._done = False
        self.searcher.bind(self.trials)  # the searcher reads running trials from the ledger too
        self.searcher.setup(space, goal, concurrency)

    @property
    def top_epochs(self) -> int | None:
        """A trial's full length (``None``: the study's ``max_epochs``)."""
        return None

    @property
    def finished(self) -> bool:
        """True once the scheduler will never suggest again."""
        return self._done or (self.searcher.finished and not self._may_resume())

    @finished.setter
    def finished(self, value: bool) -> None:
        self._done = bool(value)

    def _may_resume(self) -> bool:
        return False

    # -- decisions -------------------------------------------------------------------------------
    def suggest(self, trial_id: int) -> Start | Resume | None:
        """Next work for a free worker; ``trial_id`` is the id a :class:`Start` would get."""
        return self.new_trial(trial_id) if self.may_start else None

    def new_trial(self, trial_id: int, **changes: Any) -> Start | None:
        """Ask the searcher for a configuration; ``changes`` set the Start's budget/parent/info.

        A configuration the user enqueued (:mod:`hpo_kit.known`) comes first, without asking the searcher.
        """
        known = getattr(self, "known", None)  # a scheduler pickled before enqueues existed has none
        waiting = known.peek() if known is not None else None
        if waiting is not None:
            start: Start | None = Start(dict(waiting[1]), info={"source": "enqueued", "enqueued": waiting[0]})
        else:
            start = self.searcher.ask(trial_id)
        if start is None:
            return None
        info = {**start.info, **changes.pop("info", {})}
        return Start(start.config, budget=changes.get("budget", start.budget),
                     parent=changes.get("parent", start.parent), info=info)

    def on_report(self, trial_id: int, epoch: int, loss: float | None) -> Decision:
        """A running trial reported ``loss`` (minimisation orientation) at ``epoch``."""
        return Decision.CONTINUE

    def on_result(self, obs: Observation) -> None:
        """A trial's step ended (paused at budget, completed, stopped, killed or failed)."""
        self.searcher.tell(obs)

    def promote_now(self, trial_id: int) -> Resume | None:
        """A running trial just reached its step's budget and paused there (already told): a Resume
        continues it in the same step, on the same worker. ``None``: it waits. Also the check of a step
        that decided alone by its cut-offs: the engine records that promotion only if this returns one."""
        return None

    def rung_cutoffs(self, trial_id: int) -> Mapping[int, tuple[Any, int]] | None:
        """Rung epochs -> (rank key to beat, next budget), for a step that decides alone at its rungs
        (:mod:`hpo_kit.engine.cutoff`); ``None`` (the default): it asks :meth:`promote_now` instead."""
        return None

    def forget(self, trial_id: int) -> None:
        """A trial was discarded after earlier results were told: drop what was learned from it."""

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild from the ledger after a restart (``trials`` in id order, configurations from the
        journal; ``observations`` in told order). The default re-tells the searcher."""
        self.searcher.restore(trials, observations)

    # -- ledger queries --------------------------------------------------------------------------
    def active(self) -> list[int]:
        """Ids of trials that run or wait for a worker (not paused, not ended)."""
        return [tid for tid, t in self.trials.items()
                if t.status in (TrialStatus.PENDING, TrialStatus.RUNNING)]

    def paused_at(self, trial_id: int) -> int | None:
        """Epochs a PAUSED trial trained, else ``None``."""
        t = self.trials.get(trial_id)
        return t.epochs if t is not None and t.status is TrialStatus.PAUSED else None

    # -- the searcher's live parameters and events go through the scheduler ------------------------
    #: The scheduler's own live parameters (its searcher's are added in :attr:`live_params`).
    own_live: tuple[str, ...] = ()

    @property
    def live_params(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.own_live) + tuple(self.searcher.live_params)

    def check_update(self, **params: Any) -> None:
        for name in params:
            if name not in self.live_params:
                raise ValueError(f"{self.name}+{self.searcher.name}: {name!r} cannot be changed while running "
                                 f"(live parameters: {list(self.live_params)})")
        rest = {k: v for k, v in params.items() if k not in self.own_live}
        if rest:
            self.searcher.check_update(**rest)

    def update(self, **params: Any) -> None:
        self.check_update(**params)
        rest = {k: v for k, v in params.items() if k not in self.own_live}
        for name, value in params.items():
            if name in self.own_live:
                setattr(self, name, value)
        if rest:
            self.searcher.update(**rest)

    def drain_events(self) -> list[dict[str, Any]]:
        return super().drain_events() + self.searcher.drain_events()

    def close(self) -> None:
        self.searcher.close()

    def reseed(self, seed: int) -> None:
        """The study's seed for the scheduler and its searcher, each unless given its own."""
        super().reseed(seed)
        self.searcher.reseed(seed)

    def describe(self) -> dict[str, Any]:
        """Name and parameters of the scheduler and its searcher (journalled at study start)."""
        return {"name": self.name, **self.params(),
                "searcher": {"name": self.searcher.name, **self.searcher.params()}}

    def state(self) -> dict[str, Any]:
        return {**self.searcher.state(), **self._own_state()}

    def _own_state(self) -> dict[str, Any]:
        return {}


class FIFO(Scheduler):
    """Every trial runs to its full budget; the searcher alone decides what to try (random, grid, BO)."""

    name = "fifo"

    def params(self) -> dict[str, Any]:
        return {}
