"""Multi-objective Bayesian optimisation: ParEGO (Knowles 2006) on the scikit-optimize surrogate.

Each proposal draws fresh weights ``w`` on the simplex and fits the surrogate
(:func:`hpo_kit.searchers.surrogate.refit`, a GP with expected improvement by default) to one
scalar per finished trial, the augmented Chebyshev scalarisation of its objectives normalised
to [0, 1] over the trials seen so far::

    s(f) = max_i w_i f_i + rho * sum_i w_i f_i        (rho = 0.05)

Every point of the Pareto front minimises ``s`` for some ``w`` (a weighted sum reaches only its
convex part), so random weights spread the search along the whole front. Why ParEGO and not
expected hypervolume improvement: it needs one ordinary single-objective model per proposal,
which scikit-optimize (our dependency) already fits; EHVI needs one model per objective and an
acquisition skopt does not have. With objectives ``(loss, "time")`` it is the time-aware cost
``Z = L + b*T`` generalised: a Chebyshev ``b`` drawn anew for every proposal.

What it learns: a trial's final objectives (read from the ledger, :attr:`Searcher.trials`); a trial
with no finite value on some objective (failed, NaN) is told a cost worse than every finite one
(:data:`PENALTY`), so its region is avoided. Intermediate results at a rung are not learnt.
Running trials are told the worst cost seen (a pessimistic liar), so concurrent proposals spread.
The refit runs in :meth:`ask`, on the engine's loop: 0.1-0.7 s at 50-200 trials (the single-objective
:class:`~hpo_kit.searchers.bo.TimeAwareBO` refits on a thread instead); this searcher is meant for
the tens-to-hundreds of trials of a multi-objective study.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..decisions import Start
from ..goal import Goal
from ..pareto import Vector, objective_vector
from ..space import Space
from ..trial import Observation
from .base import Searcher
from .cost import check_initial
from .conditional import refit, to_point  # conditional spaces: their encoding; flat: surrogate.py
from .surrogate import Snapshot, check_estimator

RHO = 0.05
#: The scalarised cost of a trial without a finite vector: above every finite one (which are <= 1 + RHO).
PENALTY = 1.0 + 2 * RHO


def chebyshev(vectors: Sequence[Vector], weights: np.ndarray) -> list[float]:
    """Augmented Chebyshev costs of ``vectors`` under ``weights``, each objective scaled to [0, 1] over them."""
    f = np.asarray(vectors, dtype=float)
    low, high = f.min(axis=0), f.max(axis=0)
    unit = (f - low) / np.where(high > low, high - low, 1.0)
    weighted = unit * weights
    return list(weighted.max(axis=1) + RHO * weighted.sum(axis=1))


class ParEGO(Searcher):
    """Multi-objective BO: a random Chebyshev scalarisation per proposal (see the module docstring).

    Parameters
    ----------
    n_initial_points
        Random configurations before the first model (at least the study's concurrency).
    base_estimator, acq_func
        The skopt surrogate and acquisition (``"GP"``, ``"EI"`` by default).
    seed
        Seed of the random points, the weights and the refits (``None``: the study's).
    """

    name = "parego"
    multi_objective = True  # the panel shows the loss-training-time front for it

    def __init__(self, n_initial_points: int = 10, *, base_estimator: str = "GP", acq_func: str = "EI",
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.n_initial_points = check_initial(n_initial_points)
        self.base_estimator = check_estimator(base_estimator)
        if acq_func not in ("EI", "LCB", "PI"):
            raise ValueError(f"ParEGO: acq_func={acq_func!r} must be 'EI', 'LCB' or 'PI'")
        self.acq_func = acq_func
        self._vectors: dict[int, tuple[list[Any], Vector | None]] = {}  # trial -> (point, vector or None)

    def setup(self, space: Space, goal: Goal, concurrency: int = 1) -> None:
        super().setup(space, goal, concurrency)
        self._vectors = {}

    def ask(self, trial_id: int) -> Start:
        assert self.space is not None and self.goal is not None, "call setup() first"
        finite = [(p, v) for p, v in self._vectors.values() if v is not None]
        if len(finite) < max(2, self.n_initial_points, self.concurrency):
            return Start(self.space.sample(self.rng(trial_id)), info={"source": "random"})
        rng = self.rng(trial_id, stream=1)
        weights = rng.dirichlet(np.ones(len(finite[0][1])))
        costs = chebyshev([v for _, v in finite], weights)
        points = [p for p, _ in finite] + [p for p, v in self._vectors.values() if v is None]
        costs += [PENALTY] * (len(points) - len(finite))
        pending = [to_point(self.space, t.config) for t in self.live_trials()
                   if t.id != trial_id and t.id not in self._vectors and t.config]
        seed = None if self.seed is None else int(rng.integers(2**31))
        snap = Snapshot(points, costs, pending, max(costs), len(points), 0, seed)
        proposal = refit(self.space, snap, self.base_estimator, self.acq_func)
        return Start(proposal.config, info={"source": "model", "weights": [round(float(w), 4) for w in weights]})

    def tell(self, obs: Observation) -> None:
        if not obs.final or self.space is None or self.goal is None:
            return
        trial = self.record(obs.trial_id)
        if trial is None or trial.discard:  # a discard: tell nothing
            self._vectors.pop(obs.trial_id, None)
            return
        vector = objective_vector(trial, self.goal)
        self._vectors[obs.trial_id] = (to_point(self.space, obs.config), vector)

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "n_initial_points": self.n_initial_points,
                "base_estimator": self.base_estimator, "acq_func": self.acq_func}

    def state(self) -> dict[str, Any]:
        return {"n_told": len(self._vectors),
                "n_finite": sum(v is not None for _, v in self._vectors.values())}
