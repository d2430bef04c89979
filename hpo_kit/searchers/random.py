"""Random search: the baseline, and how other searchers start."""
from __future__ import annotations

from ..decisions import Start
from .base import Searcher


class RandomSearch(Searcher):
    """Sample configurations independently and uniformly (log-uniformly on log axes).

    Parameters
    ----------
    seed
        Seed of the sampler: trial ``n``'s configuration is a pure function of ``(seed, n)``,
        so the same seed gives the same configurations, also across a restart. ``None`` (the
        default): the study's seed, which is fresh for each study unless ``Study(seed=...)``.
    """

    name = "random"

    def ask(self, trial_id: int) -> Start:
        assert self.space is not None, "call setup() first"
        return Start(self.space.sample(self.rng(trial_id)), info={"source": "random"})
