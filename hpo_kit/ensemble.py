"""The networks a finished study leaves behind: load them, pick the best, average their predictions.

Hypersearch ends with a population of networks of similar quality (the seed suggests
averaging their predictions); :func:`final_ensemble` loads that population from the
study's checkpoint store. It works for any study with a :class:`~hpo_kit.Trainable`
objective: without a policy that names a final population, the ``n_best`` best trials
form the ensemble.

A member without usable weights - a trial that FAILED (its last checkpoint, if any, is from a
training that broke), was killed before its first checkpoint, or whose checkpoint is gone - is
left out, and :func:`final_ensemble` says so with a :class:`MissingMembers` warning naming each
one and why (the population of a long run should not be lost to one failed copy); it raises
only when no member has weights.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .trainable import Trainable
from .trial import TrialStatus


class MissingMembers(UserWarning):
    """Members of an ensemble were left out because they have no weights."""


def load_trainable(study: Any, trial_id: int) -> Trainable:
    """A trial's Trainable, set up with its config and loaded with its latest checkpoint.

    Raises
    ------
    ValueError
        If the study's objective is not a Trainable.
    FileNotFoundError
        If the trial has no checkpoint.
    """
    if not (isinstance(study.objective, type) and issubclass(study.objective, Trainable)):
        raise ValueError("load_trainable: needs a Trainable objective (function trials keep no weights)")
    from .engine.worker.step import load_data

    model = study.objective()
    model.setup(study.trials[trial_id].config, load_data(study.data))
    _, state = study.store.load(trial_id)
    model.load_state_dict(state)
    return model


def ensemble_predict(models: Sequence[Trainable], inputs: Any) -> Any:
    """The mean of ``model.predict(inputs)`` over ``models`` (torch tensors or numpy arrays).

    Raises
    ------
    ValueError
        If ``models`` is empty.
    """
    if not models:
        raise ValueError("ensemble_predict: no models")
    total = None
    for model in models:
        out = model.predict(inputs)
        total = out if total is None else total + out
    return total / len(models)


@dataclass
class Ensemble:
    """Networks of a finished study, best first.

    Attributes
    ----------
    members
        Trial ids, best first.
    models
        Their loaded Trainables, in the same order.
    scores
        Their scores in the study's metric.
    """

    members: list[int]
    models: list[Trainable]
    scores: list[float | None]
    #: Members left out, trial id -> why (no checkpoint, FAILED, ...).
    skipped: dict[int, str] = field(default_factory=dict)

    @property
    def best(self) -> Trainable:
        """The best network."""
        return self.models[0]

    def predict(self, inputs: Any) -> Any:
        """Averaged predictions of all members."""
        return ensemble_predict(self.models, inputs)


def final_ensemble(study: Any, members: Sequence[int] | None = None, n_best: int = 1) -> Ensemble:
    """Load the final population of ``study`` (or ``members``) as an :class:`Ensemble`.

    Parameters
    ----------
    members
        Trial ids to use; default: the optimizer's ``final_population()`` (Hypersearch) or
        the ``n_best`` best trials.
    n_best
        Ensemble size when the optimizer names no population.

    Members without weights (see the module docstring) are left out with a
    :class:`MissingMembers` warning; :attr:`Ensemble.skipped` says why for each.

    Raises
    ------
    ValueError
        If the objective is not a Trainable, or no member has weights.
    """
    if not (isinstance(study.objective, type) and issubclass(study.objective, Trainable)):
        raise ValueError("final_ensemble: needs a Trainable objective (function trials keep no weights)")
    goal = study.goal
    if members is None:
        population = getattr(study.optimizer, "final_population", None)
        members = population() if callable(population) else []
        if not members:
            scored = [t for t in study.trials.values() if t.score(goal) is not None]
            scored.sort(key=lambda t: goal.loss(t.score(goal)))
            members = [t.id for t in scored[:n_best]]
    ranked = sorted(members, key=lambda tid: _order(study, tid))
    skipped = {tid: why for tid in ranked if (why := _no_weights(study, tid)) is not None}
    kept = [tid for tid in ranked if tid not in skipped]
    if skipped:
        listed = "; ".join(f"trial {tid}: {why}" for tid, why in skipped.items())
        if not kept:
            raise ValueError(f"final_ensemble: no member has weights ({listed})")
        warnings.warn(f"final_ensemble: {len(skipped)} of {len(ranked)} members left out, without weights ({listed})",
                      MissingMembers, stacklevel=2)
    return Ensemble(kept, [load_trainable(study, tid) for tid in kept],
                    [study.trials[tid].score(goal) for tid in kept], skipped)


def _no_weights(study: Any, tid: int) -> str | None:
    """Why trial ``tid`` has no weights to load, or ``None`` when it has a checkpoint."""
    t = study.trials.get(tid)
    if t is None:
        return "not in the study"
    if t.status is TrialStatus.FAILED:  # even with an earlier checkpoint: its training broke
        return "FAILED" + (f" ({t.error.strip().splitlines()[-1][:160]})" if t.error else "")
    if study.store.latest(tid) is None:
        return f"{t.status.value}, no checkpoint"
    return None


def _order(study: Any, tid: int) -> tuple[float, int]:
    score = study.trials[tid].score(study.goal)
    return (float("inf") if score is None else study.goal.loss(score), tid)
