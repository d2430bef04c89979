"""Constrained BO: a second surrogate for the constraints, and the acquisition weighted by P(feasible).

After Gardner et al. (2014), "Bayesian optimization with inequality constraints": a GP models
the trial's worst constraint value ``c(x) = max_i c_i(x)`` (feasible: ``c <= 0``, reported with
``reporter.report(..., constraints={...})``), and a candidate's expected improvement is multiplied
by the probability that it is feasible, ``P(c(x) <= 0) = Phi(-mu(x) / sigma(x))``. The loss model
keeps every trial's real loss (an infeasible trial still says where losses are low); only the
choice among candidates changes. The GP is scikit-optimize's own (``cook_estimator("GP")``, the
same kernel and bounds as the loss model) so no new dependency is needed.

The model is fitted only when some told trial broke a constraint: with none broken (or none
reported) the proposals are those of plain BO.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import norm


def worst_constraint(values: dict[str, float] | None) -> float | None:
    """The largest constraint value (``<= 0``: every constraint holds), or ``None`` without constraints."""
    return None if not values else float(max(values.values()))


def feasibility_model(opt: Any, points: Sequence[Sequence[Any]], constraints: Sequence[float | None],
                      seed: int | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """``P(feasible)`` of transformed points under a GP fitted to the told constraint values, or ``None``.

    ``None`` when fewer than two trials reported constraints or none broke one (nothing to model).
    """
    from skopt.utils import cook_estimator

    known = [(list(p), float(c)) for p, c in zip(points, constraints) if c is not None]
    if len(known) < 2 or all(c <= 0 for _, c in known):
        return None
    gp = cook_estimator("GP", space=opt.space, random_state=seed, noise="gaussian")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.fit(np.asarray(opt.space.transform([p for p, _ in known])), np.array([c for _, c in known]))

    def pof(xt: np.ndarray) -> np.ndarray:
        mu, sd = gp.predict(xt, return_std=True)
        return norm.cdf(-np.asarray(mu) / np.maximum(np.asarray(sd), 1e-9))

    return pof


def weighted(values: np.ndarray, pof: np.ndarray, acq: str) -> np.ndarray:
    """skopt's acquisition values (lower is better) with the probability of feasibility folded in.

    EI and PI arrive negated, so the product ``-EI * P`` keeps their order; LCB can take either
    sign, so a likely infeasible point is pushed behind every likely feasible one instead.
    """
    if acq in ("EI", "PI"):
        return values * pof
    spread = float(np.ptp(values)) if len(values) else 0.0
    return values + (1.0 - pof) * (spread + 1.0)
