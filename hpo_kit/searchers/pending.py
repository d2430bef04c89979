"""What a refit of :class:`~hpo_kit.searchers.bo.TimeAwareBO` tells its surrogate about running trials.

``strategy`` of the searcher:

* ``"none"`` (the seed's asynchronous BO *without prediction*): nothing; a running trial's
  point is only kept from being proposed again;
* ``"constant_liar"``: each running point is told the lowest cost so far (skopt's
  ``cl_min``, ``Snapshot.lie``);
* ``"kriging_believer"``: each running point is told the surrogate's own posterior mean
  there (Ginsbourger et al. 2010), from a model fitted on the results alone. The mean is
  unchanged where the model believes its own prediction, while the predictive variance
  around a running point collapses, so the acquisition looks elsewhere: the next workers do
  not pile onto the region one trial already explores, and nothing is claimed about its loss.
  It costs one extra model fit per refit (no acquisition optimisation); the fit with the
  believed points keeps the first fit's kernel hyperparameters (:func:`frozen_gp`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

#: The strategies ``Snapshot.believe`` stands for (the others tell ``Snapshot.lie`` or nothing).
BELIEVER = "kriging_believer"


def told_with_pending(opt: Any, snap: Any) -> tuple[list[list[Any]], list[float]]:
    """The points and costs a refit tells ``opt`` (a fresh skopt ``Optimizer``): the results, then the
    running points with their lie (constant liar) or the posterior mean of a model fitted on the results
    (Kriging believer), or nothing (no prediction).

    With the believer and a GP, ``opt``'s model is then fitted with the kernel hyperparameters of the
    results' own fit, frozen: a believed point must not sharpen the length scales as if it were
    measured, and the second fit costs one Cholesky instead of a hyperparameter search.
    """
    points, costs = list(snap.points), list(snap.costs)
    if not snap.pending:
        return points, costs
    if snap.believe:
        model = fitted(opt, points, costs)
        frozen = frozen_gp(opt.base_estimator_, model)
        if frozen is not None:
            opt.base_estimator_ = frozen
        means = [float(m) for m in model.predict(np.asarray(opt.space.transform(snap.pending)))]
        return points + list(snap.pending), costs + means
    if snap.lie is not None:
        return points + list(snap.pending), costs + [float(snap.lie)] * len(snap.pending)
    return points, costs


def fitted(opt: Any, points: list[list[Any]], costs: list[float]) -> Any:
    """A copy of ``opt``'s surrogate fitted on ``points`` / ``costs`` (nothing is told to ``opt``)."""
    model = clone(opt.base_estimator_)
    model.fit(np.asarray(opt.space.transform(points)), np.asarray(costs, dtype=float))
    return model


def frozen_gp(template: Any, model: Any) -> Any:
    """``template`` (an unfitted skopt GP) with ``model``'s fitted kernel, its noise included, and no
    hyperparameter search; ``None`` for another model (RF, ET: nothing to freeze)."""
    from skopt.learning.gaussian_process.kernels import WhiteKernel
    from skopt.learning import GaussianProcessRegressor
    from skopt.learning.gaussian_process.gpr import _param_for_white_kernel_in_Sum

    if not isinstance(model, GaussianProcessRegressor):
        return None
    kernel = clone(model.kernel_)
    present, name = _param_for_white_kernel_in_Sum(kernel)
    if present:  # skopt zeroes the fitted noise in kernel_ (for predictions): put the fitted level back, fixed
        kernel.set_params(**{name: WhiteKernel(noise_level=float(model.noise_ or 0.0), noise_level_bounds="fixed")})
    return clone(template).set_params(kernel=kernel, optimizer=None)
