"""Random search: the baseline, and how other policies start."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..trial import Observation, Trial
from .base import Optimizer, Start


class RandomSearch(Optimizer):
    """Sample configurations independently and uniformly (log-uniformly on log axes).

    Parameters
    ----------
    seed
        Seed of the sampler; the same seed gives the same sequence of configurations.
    """

    name = "random"

    def __init__(self, seed: int | None = 0) -> None:
        super().__init__(seed)
        self._rng = np.random.default_rng(seed)

    def suggest(self, trial_id: int) -> Start:
        assert self.space is not None, "call setup() first"
        return Start(self.space.sample(self._rng))

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        # Replay the draws so the resumed study continues the same sequence.
        for _ in trials:
            self.space.sample(self._rng)
