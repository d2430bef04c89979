"""The searcher seam: *what to try next*. A searcher proposes configurations and learns from results.

After scikit-optimize's ask/tell: :meth:`Searcher.ask` returns a :class:`~hpo_kit.decisions.Start`
(a configuration and ``info`` journalled with it, e.g. ``source``) or ``None``;
:meth:`Searcher.tell` receives every :class:`~hpo_kit.trial.Observation` the scheduler
sees - final ones (``obs.final``) and intermediate ones from a trial that paused at a
rung (``obs.final`` False, ``obs.epochs`` the budget it reached). A searcher decides
what to learn from intermediate results and documents it (TimeAwareBO: see its module).
A searcher never chooses budgets, never resumes a trial and never touches Dask; the
scheduler that owns it does the rest (:mod:`hpo_kit.schedulers`).

Which trials run, wait or ended a searcher reads from :attr:`Searcher.trials`, the study's
ledger (a read-only mapping of trial records, bound by its scheduler before
:meth:`Searcher.setup`), as schedulers do; it keeps no mirror of them. A trial it was asked
for appears there (PENDING) once the engine has created it; one killed with
``discard=True`` is never told, and the ledger alone says it ended. Unbound (a searcher
driven by hand), the mapping is empty.
"""
from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..decisions import Start
from ..goal import Goal
from ..policy import Policy
from ..space import Space
from ..trial import Observation, Trial


class Searcher(Policy):
    """Base class of searchers; subclasses set ``self.finished = True`` once they will never propose again."""

    name = "searcher"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self.finished = False
        self.space: Space | None = None
        self.goal: Goal | None = None
        self.concurrency = 1
        #: The study's trials by id (the ledger's read-only mapping; see the module docstring).
        self.trials: Mapping[int, Trial] = MappingProxyType({})

    def bind(self, trials: Mapping[int, Trial]) -> None:
        """Read trial states from ``trials`` (the ledger's mapping; the scheduler calls this at setup)."""
        self.trials = trials

    def record(self, trial_id: int) -> Trial | None:
        """A trial's record: the ledger's, or, while :meth:`restore` re-tells a journal (the ledger not
        bound yet), the journal's (a searcher that reads reports beyond the loss: constraints, objectives)."""
        return getattr(self, "_restoring", {}).get(trial_id) or self.trials.get(trial_id)

    @contextlib.contextmanager
    def restoring(self, trials: Sequence[Trial]) -> Iterator[None]:
        """Make ``trials`` what :meth:`record` reads while a restore re-tells them."""
        self._restoring = {t.id: t for t in trials}
        try:
            yield
        finally:
            self._restoring = {}

    def live_trials(self) -> list[Trial]:
        """Trials not yet ended (PENDING, RUNNING or PAUSED), in id order, read from the ledger.

        The list is copied in one C-level pass over the mapping, so it may be called from a
        background thread while the engine adds trials.
        """
        return [t for t in list(self.trials.values()) if not t.status.is_terminal]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["trials"] = {}  # the ledger is bound again when the study sets the searcher up
        return state

    def setup(self, space: Space, goal: Goal, concurrency: int = 1) -> None:
        """Bind the searcher to a study (called once, before any ask)."""
        self.space, self.goal, self.concurrency = space, goal, concurrency

    @abstractmethod
    def ask(self, trial_id: int) -> Start | None:
        """A configuration for the new trial ``trial_id``; ``None``: nothing now (or, if ``finished``, ever)."""

    def tell(self, obs: Observation) -> None:
        """Learn from a result (final or at a rung); ``obs.loss is None`` means "tell nothing"."""

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild from a journal: ``trials`` in id order (their configurations are the journal's), and the
        observations in the order they were told. The default re-tells each observation."""
        with self.restoring(trials):
            for obs in observations:
                self.tell(obs)
