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
            return trials_frame(list(self.ledger), self.goal, self.space)

    @property
    def best_trial(self) -> Trial | None:
        """The trial with the best score (``None`` before any finite score), feasible first: a trial that
        reported constraints and broke them ranks after every feasible one, by its violation."""
        with self._lock:
            best, best_key = None, None
            for t in self.ledger:
                score = t.score(self.goal)
                if score is None:
                    continue
                key = (t.violation or 0.0, self.goal.loss(score))
                if best_key is None or key < best_key:
                    best, best_key = t, key
            return best

    def pareto_front(self, objectives: list[tuple[str, str]] | None = None) -> list[Trial]:
        """The trials no other trial beats on every objective at once (snapshots), best first objective first.

        ``objectives`` defaults to the study's own for a multi-objective study, and to
        ``[(metric, mode), ("time", "min")]`` otherwise: the loss-training-time front, on which
        the time-aware cost ``Z = L + b*T`` picks one point for each ``b``.

        Raises
        ------
        ValueError
            For ``objectives`` that are not two or more distinct ``(metric, "min"|"max")`` pairs.
        """
        from .goal import TIME
        from .pareto import check_objectives, front
        from .study import _snapshot

        if objectives is None:
            objectives = list(self.goal.objectives) if self.goal.multi else [(self.goal.metric, self.goal.mode),
                                                                               (TIME, "min")]
        pairs = check_objectives(objectives, "pareto_front: objectives")
        with self._lock:
            return [_snapshot(t) for t, _ in front(list(self.ledger), self.goal, pairs)]

    @property
    def best_trials(self) -> list[Trial]:
        """Optuna's name: the Pareto front of a multi-objective study; ``[best_trial]`` (or ``[]``) otherwise."""
        if self.goal.multi:
            return self.pareto_front()
        best = self.best_trial
        return [] if best is None else [best]

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
        if self.goal.multi:  # as Optuna: no single best of several objectives
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

