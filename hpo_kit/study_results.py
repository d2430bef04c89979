"""A study's results: reads taken under the study lock, while it runs or after.

Mixed into :class:`~hpo_kit.study.Study`.
"""
from __future__ import annotations

import os
import time
from typing import Any

from .trainable import Trainable
from .trial import Trial


class StudyResults:
    """What a :class:`~hpo_kit.study.Study` found (any thread)."""

    @property
    def results(self) -> Any:
        """A DataFrame of trials (see :func:`hpo_kit.results.trials_frame`)."""
        from .results import trials_frame

        with self._lock:
            return trials_frame(list(self.ledger), self.goal)

    @property
    def best_trial(self) -> Trial | None:
        """The trial with the best score (``None`` before any finite score)."""
        with self._lock:
            best, best_score = None, None
            for t in self.ledger:
                score = t.score(self.goal)
                if self.goal.better(score, best_score):
                    best, best_score = t, score
            return best

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's configuration (a copy), as Optuna's ``study.best_params``.

        Raises
        ------
        ValueError
            Before any trial has a finite score.
        RuntimeError
            For a study of several objectives (``study.best_trials`` then).
        """
        return dict(self._best_or_raise("best_params").config)

    @property
    def best_value(self) -> float:
        """The best score (the goal's metric, per its ``score`` rule), as Optuna's ``study.best_value``.

        Raises
        ------
        ValueError
            Before any trial has a finite score.
        RuntimeError
            For a study of several objectives (``study.best_trials`` then).
        """
        with self._lock:
            return float(self._best_or_raise("best_value").score(self.goal))

    def _best_or_raise(self, what: str) -> Trial:
        if getattr(self.goal, "others", None):  # as Optuna: no single best of several objectives
            raise RuntimeError(f"{what}: study {self.name!r} has several objectives, so no single best; "
                               f"use study.best_trials")
        best = self.best_trial
        if best is None:
            raise ValueError(f"{what}: no trial of study {self.name!r} has a finite {self.goal.metric!r} yet")
        return best

    def best_model(self) -> Trainable:
        """The best trial's Trainable, set up and loaded with its latest checkpoint.

        Raises
        ------
        ValueError
            If the objective is not a Trainable or the best trial has no checkpoint.
        """
        best = self.best_trial
        if best is None:
            raise ValueError("best_model: no trial has a finite score yet")
        if not (isinstance(self.objective, type) and issubclass(self.objective, Trainable)):
            raise ValueError("best_model: needs a Trainable objective (function trials keep no weights)")
        from .engine.worker.step import load_data

        model = self.objective()
        model.setup(best.config, load_data(self.data))
        _, state = self.store.load(best.id)
        model.load_state_dict(state)
        return model

    @property
    def elapsed(self) -> float:
        return 0.0 if self._t0 is None else time.time() - self._t0

    def time_spent(self) -> bool:
        """True once the study's ``time_budget`` is used up."""
        return self.time_budget is not None and self.elapsed >= self.time_budget

    def save(self, path: str | os.PathLike) -> None:
        """Write the study's trials as a new journal at ``path`` (e.g. after its journal was lost)."""
        with self._lock:
            self.ledger.dump(os.fspath(path), name=self.name, goal=vars(self.goal), space=self.space.to_dict(),
                             optimizer=self.optimizer.describe(), settings={"seed": self.seed})

