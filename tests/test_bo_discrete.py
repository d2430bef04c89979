"""On a space with no real axis the GP's acquisition is maximised over sampled configurations, not by
L-BFGS in the continuous relaxation then rounded (issue 24; measured in surrogate.acq_optimizer's docstring)."""
from __future__ import annotations

from hpo_kit import Categorical, Goal, Integer, Observation, Real, Space, TrialStatus
from hpo_kit.searchers.bo import TimeAwareBO

GOAL = Goal("loss", "min")
GRID = Space({"width": Integer(0, 5), "depth": Integer(0, 3), "act": Categorical(["relu", "tanh"])})
MIXED = Space({"width": Integer(0, 5), "lr": Real(1e-4, 1e-1, log=True)})


def fitted(space: Space) -> TimeAwareBO:
    opt = TimeAwareBO(n_initial_points=2, background=False, seed=3)
    opt.setup(space, GOAL, 1)
    for i in range(6):
        config = space.sample(opt.rng(i))
        loss = sum(float(v) if not isinstance(v, str) else float(v == "tanh") for v in config.values())
        opt.tell(Observation(i, config, loss, TrialStatus.COMPLETED, 1, 1.0, True))
    start = opt.ask(6)
    assert start.info["source"] == "surrogate"
    return opt


def test_a_discrete_space_samples_the_acquisition_and_a_space_with_a_real_axis_polishes_it():
    grid, mixed = fitted(GRID), fitted(MIXED)
    assert grid.surrogate.acq_optimizer == "sampling"
    assert mixed.surrogate.acq_optimizer == "lbfgs"
