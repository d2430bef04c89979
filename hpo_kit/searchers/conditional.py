"""BO on a conditional space (issue 25): how inactive dimensions enter the surrogate.

The functions here are the ones :class:`~hpo_kit.searchers.bo.TimeAwareBO` and
:class:`~hpo_kit.searchers.adapter.AskTellSearcher` call (``to_point``, ``to_config``,
``skopt_dimensions``, ``unit_coordinates``, ``refit``); on a flat space each is exactly
:mod:`.surrogate`'s, so nothing changes there.

Encoding: out-of-range imputation plus an indicator. A conditional numeric dimension is one
skopt column over its unit coordinate (:meth:`Real.to_unit`, log axes included) extended
to ``[INACTIVE, 1]``: active values lie in ``[0, 1]``, an inactive dimension sits at
``INACTIVE = -0.5``, half a range away from any value it can take; a second column, 0/1,
says whether it is active. A conditional categorical gets one extra choice, "inactive",
which skopt one-hot encodes, so that extra column is its indicator. Why both, not one:

* imputing an in-range value (the default, the midpoint) makes an inactive trial look
  like an active one with that value, so a model mixes, e.g., every adam result into
  "sgd with momentum 0.5";
* out of range alone: a forest separates inactive rows with one split, but a GP still
  sees "inactive" as a very small value and interpolates smoothly into the low end of the
  active range; the indicator gives the GP's anisotropic Matern kernel its own length
  scale for "active or not", so it need not shorten the value's length scale to tell them
  apart, and for range conditions (``n_layers >= 3``) it marks the jump that the parent's
  own axis only implies.

Candidates: skopt's own ``ask()`` optimises the acquisition over the whole encoded box,
where most points are impossible (momentum active under adam). Here the acquisition is
evaluated on valid configurations only: :data:`~.surrogate.POOL` draws of
:meth:`Space.sample` (parents first, children only when active) plus neighbours
(:func:`hpo_kit.schedulers.hypersearch.neighbour`, which respects the conditions) of the
best few evaluated configurations, ranked as :func:`.surrogate.ranked_pool` ranks (so
skopt's L-BFGS polish of rank 0 is lost; the neighbours stand in for it). Skopt's own
acquisition search is turned down to a small sample (``acq_optimizer="sampling"``), since
its point is never used except to name the acquisition ``gp_hedge`` chose.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .. import conditions
from ..space import Categorical, Integer, Space
from . import surrogate
from .feasibility import feasibility_model, weighted
from .pending import told_with_pending
from .surrogate import POOL, Pool, Proposal, Snapshot, pick

#: Unit coordinate of an inactive numeric dimension (outside the active range [0, 1]).
INACTIVE = -0.5
#: Best evaluated configurations whose neighbourhoods join the random pool, and neighbours of each.
N_BEST, N_NEAR, SIGMA_NEAR = 5, 100, 0.05


def skopt_dimensions(space: Space) -> list[Any]:
    """New skopt dimensions for ``space``; a conditional one also its indicator (module docstring)."""
    if not space.conditional:
        return surrogate.skopt_dimensions(space)
    from skopt import space as sk

    dims: list[Any] = []
    for name, dim in space.items():
        if isinstance(dim, Categorical):
            dims.append(sk.Categorical(list(range(len(dim.choices) + bool(dim.when))), name=name))
            continue
        dims.append(sk.Real(INACTIVE if dim.when else 0.0, 1.0, name=name))
        if dim.when:
            dims.append(sk.Integer(0, 1, name=f"{name}:active"))
    return dims


def to_point(space: Space, config: dict[str, Any]) -> list[Any]:
    """A configuration as a point of :func:`skopt_dimensions` (inactive: ``INACTIVE`` / the extra choice)."""
    if not space.conditional:
        return surrogate.to_point(space, config)
    point: list[Any] = []
    for name, dim in space.items():
        on = name in config
        if isinstance(dim, Categorical):
            point.append(dim.choices.index(config[name]) if on else len(dim.choices))
            continue
        point.append(min(max(float(dim.to_unit(config[name])), 0.0), 1.0) if on else INACTIVE)
        if dim.when:
            point.append(int(on))
    return point


def to_config(space: Space, point: Sequence[Any]) -> dict[str, Any]:
    """A point of :func:`skopt_dimensions` as a valid configuration: values decoded, then inactive ones dropped.

    The parents decide what is active (indicators are ignored); an active dimension whose
    column says "inactive" (a point skopt made up) takes its lowest value.
    """
    if not space.conditional:
        return surrogate.to_config(space, point)
    values: dict[str, Any] = {}
    i = 0
    for name, dim in space.items():
        x = point[i]
        i += 1 + (bool(dim.when) and not isinstance(dim, Categorical))
        if isinstance(dim, Categorical):
            values[name] = dim.choices[min(int(x), len(dim.choices) - 1)]
        else:
            value = dim.from_unit(max(float(x), 0.0))
            values[name] = int(value) if isinstance(dim, Integer) else float(value)
    return conditions.prune(space, values)


def unit_coordinates(space: Space, configs: Sequence[dict[str, Any]]) -> np.ndarray:
    """:func:`.surrogate.unit_coordinates`, with inactive dimensions at ``INACTIVE`` or their own one-hot slot."""
    if not space.conditional:
        return surrogate.unit_coordinates(space, configs)
    cols: list[np.ndarray] = []
    for name, dim in space.items():
        if isinstance(dim, Categorical):
            n = len(dim.choices)
            idx = np.array([dim.choices.index(c[name]) if name in c else n for c in configs], dtype=int)
            cols.append(np.eye(n + 1)[idx][:, :n + bool(dim.when)] / math.sqrt(2.0))
        else:
            cols.append(np.array([[dim.to_unit(c[name]) if name in c else INACTIVE] for c in configs], dtype=float))
    return np.hstack(cols)


def refit(space: Space, snap: Snapshot, base_estimator: str, acq_func: str) -> Proposal:
    """:func:`.surrogate.refit` for a conditional space: fit on the encoding, rank valid candidates only.

    The pool is always ranked (rank 0 comes from it), so the proposal carries it and
    :meth:`Proposal.extend` never calls the flat :func:`.surrogate.ranked_pool`.
    """
    if not space.conditional:
        return surrogate.refit(space, snap, base_estimator, acq_func)
    from skopt import Optimizer as SkOptimizer

    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = SkOptimizer(skopt_dimensions(space), base_estimator=base_estimator, n_initial_points=0,
                          acq_func=acq_func, acq_optimizer="sampling", acq_optimizer_kwargs={"n_points": 200},
                          random_state=snap.seed)
        if acq_func == "gp_hedge" and snap.previous is not None:
            opt.gains_ = np.array(snap.previous.gains_, dtype=float)
        points, costs = told_with_pending(opt, snap)
        opt.tell(points, costs)
        pof = feasibility_model(opt, snap.points, snap.constraints, snap.seed) if snap.constraints else None
        ranked = ranked_pool(space, opt, snap.seed, pof)
    if not ranked.candidates:  # every candidate was evaluated already (a tiny space): a random one
        rng = np.random.default_rng(snap.seed)
        return Proposal([space.sample(rng)], snap.n_observations, snap.epoch, time.perf_counter() - started, opt,
                        snap.budget, snap.seed, 1, None)
    first = ranked.candidates[0]
    pool = Pool(ranked.candidates[1:], ranked.units[1:], ranked.units[0], ranked.n_axes)
    configs = pick(pool, first, snap.batch if not snap.lazy else 1)
    return Proposal(configs, snap.n_observations, snap.epoch, time.perf_counter() - started, opt, snap.budget,
                    snap.seed, snap.batch if snap.lazy else len(configs), pool)


def ranked_pool(space: Space, opt: Any, seed: int | None,
                pof: Callable[[np.ndarray], np.ndarray] | None = None) -> Pool:
    """Valid candidates (random draws and neighbours of the best told points) in acquisition order,
    distinct, none already told; ``first_unit`` is the best one's coordinates. With ``pof`` (constraints:
    :mod:`.feasibility`) the acquisition is weighted by the probability of feasibility."""
    from skopt.acquisition import _gaussian_acquisition

    from ..schedulers.hypersearch import neighbour

    # Its own stream, as the flat pool's: not the sample skopt drew from the refit's seed.
    rng = np.random.default_rng(None if seed is None else (seed + 104729) % (2**31 - 1))
    told = [to_config(space, x) for x in opt.Xi]
    best = [told[i] for i in np.argsort(opt.yi, kind="stable")[:N_BEST]]
    configs = [space.sample(rng) for _ in range(POOL)]
    configs += [neighbour(space, c, rng, SIGMA_NEAR, 0.1, "resample") for c in best for _ in range(N_NEAR)]
    points = [to_point(space, c) for c in configs]
    xt = np.asarray(opt.space.transform(points))
    values = _gaussian_acquisition(xt, opt.models[-1], y_opt=np.min(opt.yi),
                                   acq_func=surrogate._chosen_acq(opt), acq_func_kwargs=opt.acq_func_kwargs)
    if pof is not None:
        values = weighted(values, pof(xt), surrogate._chosen_acq(opt))
    seen = {_key(c) for c in told}
    candidates = []
    for i in np.argsort(values, kind="stable"):  # skopt minimises its acquisition values
        if _key(configs[i]) not in seen:
            seen.add(_key(configs[i]))
            candidates.append(configs[i])
    units = unit_coordinates(space, candidates) if candidates else np.zeros((0, 0))
    return Pool(candidates, units, units[0] if len(units) else None, len(space))


def _key(config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    # names too: two configurations with different active sets can share their values
    return tuple((k, repr(v)) for k, v in config.items())
