"""Grid search: every point of a grid, once, in a fixed order."""
from __future__ import annotations

from collections.abc import Sequence

from ..decisions import Start, check_int
from ..trial import Observation, Trial
from .base import Searcher


class GridSearch(Searcher):
    """Enumerate the space's grid (every categorical choice, ``points_per_dimension`` per numeric axis).

    Never proposes a configuration twice, also across a restart: :meth:`restore` skips
    the configurations the journal already holds.
    """

    name = "grid"

    def __init__(self, points_per_dimension: int = 3, seed: int | None = None) -> None:
        super().__init__(seed)
        check_int("GridSearch", "points_per_dimension", points_per_dimension, 1, optional=False)
        self.points_per_dimension = points_per_dimension
        self._todo: list[dict] | None = None

    def _grid(self) -> list[dict]:
        if self._todo is None:
            self._todo = list(self.space.grid(self.points_per_dimension))
        return self._todo

    def ask(self, trial_id: int) -> Start | None:
        todo = self._grid()
        if not todo:
            self.finished = True
            return None
        config = todo.pop(0)
        if not todo:
            self.finished = True
        return Start(config, info={"source": "grid"})

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        seen = [t.config for t in trials]
        self._todo = [c for c in self._grid() if c not in seen]
        self.finished = not self._todo

    def params(self) -> dict:
        return {"seed": self.seed, "points_per_dimension": self.points_per_dimension}

    @property
    def size(self) -> int:
        """Number of grid points (all, not only those left)."""
        return len(list(self.space.grid(self.points_per_dimension)))
