"""The scikit-optimize side of :class:`~hpo_kit.searchers.bo.TimeAwareBO`.

The skopt pieces, kept apart from the searcher so each can be read and tested alone:

* (the map between an hpo_kit :class:`~hpo_kit.space.Space` and skopt dimensions is
  :mod:`.skopt_space`, re-exported here);
* :func:`refit`, one pure step: build a fresh skopt ``Optimizer``, tell it a whole
  :class:`Snapshot` in one batch (one model fit) and take a *batch* of candidates from
  that one fitted model (below);
* (the daemon thread that runs the searcher's refit job, so the engine's loop never waits
  on a model fit, is :class:`hpo_kit.searchers.refits.RefitThread`).

Why a fresh skopt ``Optimizer`` per refit: skopt's ``tell`` refits the model on all of
``Xi`` from scratch anyway, so telling the whole history costs the same as telling one
more point; and a fresh optimizer makes "the whole history under one cost" true by
construction (no point is ever told under an older cost).

A batch per refit (issue "BO that stays Bayesian"). One proposal per refit left every
worker but the first with a random point whenever results came faster than refits. A
refit now yields ``Snapshot.batch`` distinct candidates from the one fitted model: rank 0
is skopt's own ``ask()`` (the acquisition's optimum, L-BFGS-polished for a GP on a space
with a real axis, the best of skopt's random sample on a discrete one: :func:`acq_optimizer`) unless that optimum is a configuration already
evaluated: skopt then returns a *uniformly random* point (with a warning), which on discrete
spaces (the FCNet tables: 5 of 40 refits on naval, seed 1) sent random points journalled as
the model's; rank 0 is then the pool's best unevaluated configuration. Ranks 1.. are the
best points, never already evaluated, of a second random pool of :data:`POOL` candidates under the same acquisition, taken greedily so that each is
at least a radius away from every point already in the batch in the unit cube
(:func:`diverse_top`; the radius starts at :data:`RADIUS` times the cube's diagonal and
is halved until the batch is full; the last pass asks only for distinct configurations).
With synchronous refits (``background=False``) nearly every ask follows a tell and so a
refit, and uses only rank 0: there ranks 1.. are taken only when a second ask comes before
the next refit (``Snapshot.lazy``, :meth:`Proposal.complete`: the same candidates, from the
same model and seed), which saved about a quarter of each refit's CPU time on a 9-d space.

More candidates without a refit (issue 24: "a refit never leaves a freed worker with a random
point"). The ranked pool (the acquisition's order over the :data:`POOL` points, with their
unit coordinates) is kept with the proposal (:class:`Pool`), so when every candidate of the
newest batch was given out before the next refit landed, :meth:`Proposal.extend` picks the next
ones by the same greedy rule in about a millisecond (no acquisition evaluation, no refit)
instead of the searcher falling back to a random point. The greedy pass is prefix-stable:
extending a batch of ``k`` to ``k + m`` gives the first ``k`` unchanged.

Why this rule and not skopt's constant-liar batch ``ask(n_points=k, strategy="cl_min")``:
that refits the GP once per extra point. Measured on the project's shared 2-core machine
(GP, EI, a 2-d space, one BLAS thread, medians of 3-5 runs) at 50 / 200 / 400 observations:
one refit took 0.13 / 0.72 / 3.0 s; choosing a batch of 8 from the fitted model added
0.03 / 0.08 / 0.44 s (the pool's acquisition, mostly the GP's predictive variance, which
grows as ``POOL * n**2``); ``ask(n_points=4, strategy="cl_min")`` on the same model took
0.55 / 5.4 / 25 s more. Most of a refit is skopt's own acquisition sample (10000 points):
lowering skopt's ``n_points`` would cut refits further, but would change rank 0.

Measured and not adopted (issue 24, why the GP trails Optuna's GPSampler on FCNet; naval /
parkinsons, 8 workers, 40 trials, paired seeds, ``benchmarks/tabular_compare.py``): with few
points skopt's ML-II fit puts length scales at its 0.01 bound (a spiky model whose EI is flat
away from the data); bounding them below by 0.3 (a stand-in for GPSampler's prior on the
inverse squared length scales) cut the trials to the target to 0.52x at 5 seeds but 0.89x
[0.59, 1.36] / 0.91x at 10, with the best loss at the end 1.25x [0.87, 1.92] / 0.88x
[0.73, 1.03]: mixed, so skopt's bound stays. Optuna GPSampler needed 20 / 16.5 trials where
this GP needed 29.5 / 30 (medians over the same 6 seeds).

scikit-optimize 0.10.2 with scikit-learn >= 1.6: its ``GP``, ``RF`` and ``ET`` models work;
``GBRT`` and ``DUMMY`` fail there, so they are refused with a clear error (not patched).
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..space import Categorical, Real, Space
from .feasibility import feasibility_model, weighted
from .pending import told_with_pending
from .skopt_space import ACQ_FUNCS, ESTIMATORS, check_estimator, skopt_dimensions, to_config, to_point

__all__ = ["ACQ_FUNCS", "ESTIMATORS", "Proposal", "Snapshot", "check_estimator", "refit", "skopt_dimensions",
           "to_config", "to_point"]


@dataclass(frozen=True)
class Snapshot:
    """Everything one refit needs, copied under the searcher's lock.

    ``points``/``costs`` are the observations being fitted (one budget's, see
    :func:`hpo_kit.searchers.cost.fit_set`) under the current cost; ``pending`` are points
    of running trials and ``lie`` the value they are told (constant liar only);
    ``n_observations`` counts every told trial (the refit's seed is derived from it);
    ``batch`` is how many candidates the refit yields.
    """

    points: list[list[Any]]
    costs: list[float]
    pending: list[list[Any]]
    lie: float | None
    n_observations: int
    epoch: int
    seed: int | None
    previous: Any = None  # the last skopt optimizer of the same cost epoch (gp_hedge carries its gains)
    budget: int | None = None  # epochs the fitted observations were measured at (None: mixed)
    batch: int = 1
    lazy: bool = False  # ranks 1.. only when first needed (Proposal.complete); synchronous mode
    constraints: list[float | None] | None = None  # each point's worst constraint value (searchers.feasibility)
    believe: bool = False  # running points told the model's posterior mean (Kriging believer; .pending)


@dataclass(frozen=True)
class Pool:
    """A fitted model's candidates in acquisition order (distinct, rank 0 excluded) and their unit coordinates."""

    candidates: list[dict[str, Any]]
    units: np.ndarray  # one row per candidate (:func:`unit_coordinates`)
    first_unit: np.ndarray  # rank 0's coordinates
    n_axes: int  # dimensions of the space (the starting radius scales with its diagonal)


@dataclass(frozen=True)
class Proposal:
    """A refit's result: its candidates (best first, distinct) and the fitted skopt optimizer."""

    configs: list[dict[str, Any]]
    n_observations: int
    epoch: int
    seconds: float
    model: Any  # skopt.Optimizer; ``model.yi`` are the costs it was told
    budget: int | None = None
    seed: int | None = None
    batch: int = 1  # candidates this proposal will hold; more than len(configs) until complete()
    pool: Pool | None = None  # the ranked pool ranks 1.. come from (None until first needed: lazy mode)

    def complete(self, space: Space) -> Proposal:
        """This proposal with its whole batch: the same candidates an eager refit takes (no-op if complete)."""
        if len(self.configs) >= self.batch or self.model is None:
            return self
        return self.extend(space, self.batch)

    def extend(self, space: Space, k: int) -> Proposal:
        """This proposal with up to ``k`` candidates from the same fitted model (the first ones unchanged).

        Costs one acquisition evaluation over the pool the first time (lazy mode), then only
        the greedy pass; returns ``self`` when the pool holds no further distinct candidate.
        """
        if len(self.configs) >= k or self.model is None:
            return self
        pool = self.pool
        if pool is None:
            with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pool = ranked_pool(space, self.model, self.configs[0], self.seed)
        configs = pick(pool, self.configs[0], k)
        return replace(self, configs=configs, batch=max(self.batch, len(configs)), pool=pool)

    @property
    def config(self) -> dict[str, Any]:
        """Rank 0: skopt's own proposal."""
        return self.configs[0]


#: Size of the random pool that ranks 1.. of a batch are chosen from (see the module docstring).
POOL = 2000
#: Starting separation of a batch's candidates, as a fraction of the unit cube's diagonal.
RADIUS = 0.1


def refit(space: Space, snap: Snapshot, base_estimator: str, acq_func: str) -> Proposal:
    """Fit a fresh surrogate on the snapshot and take ``snap.batch`` candidates from it.

    BLAS is held to one thread: with two OpenBLAS threads skopt's GP refits ran 2-6x
    slower on the project's shared machine, and the driver shares its cores with workers.
    """
    from skopt import Optimizer as SkOptimizer

    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        # skopt warns when its best point was already evaluated and it falls back to random.
        warnings.simplefilter("ignore")
        opt = SkOptimizer(skopt_dimensions(space), base_estimator=base_estimator, n_initial_points=0,
                          acq_func=acq_func, acq_optimizer=acq_optimizer(space), random_state=snap.seed)
        if acq_func == "gp_hedge" and snap.previous is not None:
            opt.gains_ = np.array(snap.previous.gains_, dtype=float)
            if hasattr(snap.previous, "next_xs_"):
                opt.next_xs_ = list(snap.previous.next_xs_)
        points, costs = told_with_pending(opt, snap)  # results, then running points (strategy)
        opt.tell(points, costs)
        told = {_key(to_config(space, p)) for p in points}  # evaluated (or lied-about) configurations
        pof = feasibility_model(opt, snap.points, snap.constraints, snap.seed) if snap.constraints else None
        configs, pool = [to_config(space, opt.ask())], None
        if pof is not None or _key(to_config(space, opt._next_x)) in told:
            # The acquisition's optimum is a configuration already evaluated, for which skopt's ask()
            # returns a uniformly random point: take the best unevaluated one of the ranked pool.
            pool = ranked_pool(space, opt, None, snap.seed, pof)  # with constraints: EI * P(feasible)
            configs = pool.candidates[:1] or configs
            pool = Pool(pool.candidates[1:], pool.units[1:], pool.units[0], pool.n_axes) if pool.candidates else None
        if snap.batch > 1 and not snap.lazy:
            pool = pool or ranked_pool(space, opt, configs[0], snap.seed)
            configs = pick(pool, configs[0], snap.batch)
    return Proposal(configs, snap.n_observations, snap.epoch, time.perf_counter() - started, opt, snap.budget,
                    snap.seed, snap.batch if snap.lazy else len(configs), pool)


def acq_optimizer(space: Space) -> str:
    """skopt's acquisition optimiser for ``space``: ``"sampling"`` (its 10000 random configurations, no
    polish) on a space with no :class:`~hpo_kit.space.Real` axis, else ``"auto"`` (L-BFGS for a GP).

    On integer and categorical axes L-BFGS polishes in the continuous relaxation and the optimum
    is then rounded to a configuration whose acquisition was never evaluated. Measured on the
    FCNet tables (all axes discrete; 8 workers, 50 trials, 6 paired seeds, Kriging believer;
    docs/benchmarks.md 2026-12-07): median trials to the target (protein / naval / parkinsons /
    slice) 30 / 27 / 30 / 20 with L-BFGS, 21 / 26 / 27.5 / 20.5 sampling; median time to it
    1193 / 293 / 157 / 1361 s against 786 / 255 / 148 / 1409 s; decision CPU per run 10.5 -> 8 s.
    """
    return "auto" if any(isinstance(dim, Real) for dim in space.values()) else "sampling"


def _chosen_acq(opt: Any) -> str:
    """The acquisition function skopt's last proposal came from (``gp_hedge`` picks one per refit)."""
    if opt.acq_func != "gp_hedge":
        return opt.acq_func
    chosen = np.asarray(opt.space.transform([opt._next_x])[0], dtype=float)
    gaps = [float(np.abs(np.asarray(x, dtype=float) - chosen).sum()) for x in opt.next_xs_]
    return opt.cand_acq_funcs_[int(np.argmin(gaps))]


def unit_coordinates(space: Space, configs: Sequence[dict[str, Any]]) -> np.ndarray:
    """Configurations in the unit cube of :meth:`Space.to_unit` (one row each), for distances.

    A categorical axis holds ``0`` or ``1 / sqrt(2)`` per one-hot coordinate, so two
    different choices are exactly 1 apart on it whatever their order in the choice list.
    """
    cols: list[np.ndarray] = []
    for name, dim in space.items():
        if isinstance(dim, Categorical):
            idx = np.array([dim.choices.index(c[name]) for c in configs])
            cols.append(np.eye(len(dim.choices))[idx] / math.sqrt(2.0))
        else:
            cols.append(np.array([[dim.to_unit(c[name])] for c in configs], dtype=float))
    return np.hstack(cols) if cols else np.zeros((len(configs), 0))


def diverse_top(space: Space, opt: Any, first: dict[str, Any], k: int, seed: int | None) -> list[dict[str, Any]]:
    """``first`` and up to ``k - 1`` more distinct configurations: the best of a random pool under the
    fitted model's acquisition, each at least a radius from every one already taken
    (:func:`ranked_pool` then :func:`pick`)."""
    return pick(ranked_pool(space, opt, first, seed), first, k)


def ranked_pool(space: Space, opt: Any, first: dict[str, Any] | None, seed: int | None,
                pof: Callable[[np.ndarray], np.ndarray] | None = None) -> Pool:
    """:data:`POOL` random points ranked by the fitted model's acquisition (best first, distinct, neither
    ``first`` nor a configuration the model was told: one already evaluated is never proposed again).

    One acquisition evaluation (the model is not refitted); the expensive half of a batch.
    With ``first=None`` the pool's own best is its first candidate (and its ``first_unit``).
    """
    from skopt.acquisition import _gaussian_acquisition

    # Its own stream: the pool must not repeat the sample skopt drew from the refit's seed.
    rs = np.random.RandomState(None if seed is None else (seed + 104729) % (2**31 - 1))
    pool = opt.space.rvs(n_samples=POOL, random_state=rs)
    xt = np.asarray(opt.space.transform(pool))
    values = _gaussian_acquisition(xt, opt.models[-1], y_opt=np.min(opt.yi),
                                   acq_func=_chosen_acq(opt), acq_func_kwargs=opt.acq_func_kwargs)
    if pof is not None:
        values = weighted(values, pof(xt), _chosen_acq(opt))
    order = np.argsort(values, kind="stable")  # skopt minimises its acquisition values
    seen = {_key(to_config(space, x)) for x in opt.Xi} | ({_key(first)} if first is not None else set())
    candidates = []
    for i in order:  # distinct configurations (integer rounding can merge points), best first
        config = to_config(space, pool[i])
        if _key(config) not in seen:
            seen.add(_key(config))
            candidates.append(config)
    units = unit_coordinates(space, candidates) if candidates else np.zeros((0, 0))
    first_unit = unit_coordinates(space, [first])[0] if first is not None else (units[0] if len(units) else None)
    return Pool(candidates, units, first_unit, len(space))


def pick(pool: Pool, first: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """``first`` and the next ``k - 1`` of ``pool`` by the greedy separation rule (cheap; prefix-stable).

    A greedy pass per radius: :data:`RADIUS` times the cube's diagonal, halved after each
    pass that left the batch short, and finally 0 (distinct configurations only).
    """
    chosen = [first]
    if not pool.candidates:
        return chosen
    units = pool.units
    # Distance of each candidate to the nearest point already taken, updated as the batch grows.
    nearest = np.linalg.norm(units - pool.first_unit, axis=1)
    free = np.ones(len(pool.candidates), dtype=bool)
    radius = RADIUS * math.sqrt(pool.n_axes)  # every axis is at most 1 long (categoricals too)
    while len(chosen) < k and free.any():
        fits = np.flatnonzero(free & (nearest >= radius))
        if fits.size == 0:
            radius = radius / 2 if radius > 1e-3 else 0.0
            continue
        i = int(fits[0])
        chosen.append(pool.candidates[i])
        free[i] = False
        nearest = np.minimum(nearest, np.linalg.norm(units - units[i], axis=1))
    return chosen


def _key(config: dict[str, Any]) -> tuple[str, ...]:
    return tuple(repr(v) for v in config.values())
