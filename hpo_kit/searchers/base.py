"""The searcher seam: *what to try next*. A searcher proposes configurations and learns from results.

After scikit-optimize's ask/tell: :meth:`Searcher.ask` returns a :class:`~hpo_kit.decisions.Start`
(a configuration and ``info`` journalled with it, e.g. ``source``) or ``None``;
:meth:`Searcher.tell` receives every :class:`~hpo_kit.trial.Observation` the scheduler
sees - final ones (``obs.final``) and intermediate ones from a trial that paused at a
rung (``obs.final`` False, ``obs.epochs`` the budget it reached). A searcher decides
what to learn from intermediate results and documents it (TimeAwareBO: see its module).
A searcher never chooses budgets, never resumes a trial and never touches Dask; the
scheduler that owns it does the rest (:mod:`hpo_kit.schedulers`).
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from ..decisions import Start
from ..goal import Goal
from ..policy import Policy
from ..space import Space
from ..trial import Observation, Trial


class Searcher(Policy):
    """Base class of searchers; subclasses set ``self.finished = True`` once they will never propose again."""

    name = "searcher"

    def __init__(self, seed: int | None = 0) -> None:
        super().__init__(seed)
        self.finished = False
        self.space: Space | None = None
        self.goal: Goal | None = None
        self.concurrency = 1

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
        for obs in observations:
            self.tell(obs)
