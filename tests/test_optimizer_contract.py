"""One contract every optimizer passes, on fake trials, without a cluster.

Add a policy to FACTORIES (name -> zero-argument factory) and it runs every check.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_kit import Categorical, Goal, GridSearch, Integer, Observation, RandomSearch, Real, Space, TrialStatus
from hpo_kit.engine.simulator import simulate
from hpo_kit.ledger import Ledger
from hpo_kit.optimizers import Decision, Resume, Start, make_policy

FACTORIES = {
    "random": lambda: RandomSearch(seed=3),
    "grid": lambda: GridSearch(points_per_dimension=3),
    "asha": lambda: __import__("hpo_kit").optimizers.ASHA(r_min=1, eta=3, seed=3),
    "sha": lambda: __import__("hpo_kit").optimizers.SuccessiveHalving(n_configs=9, r_min=1, eta=3, seed=3),
    "hypersearch": lambda: __import__("hpo_kit").optimizers.Hypersearch(m=3, seed=3),
    "bo": lambda: __import__("hpo_kit").optimizers.TimeAwareBO(seed=3, background=False),
    "bo_in_asha": lambda: __import__("hpo_kit").schedulers.ASHA(
        r_min=1, eta=3, searcher=__import__("hpo_kit").optimizers.TimeAwareBO(seed=3, background=False,
                                                                               n_initial_points=4)),
    "hyperband": lambda: __import__("hpo_kit").schedulers.Hyperband(r_min=1, eta=3, seed=3),
}

SPACE = Space({"lr": Real(1e-4, 1e-1, log=True), "units": Integer(4, 64, log=True), "depth": Integer(1, 3),
               "act": Categorical(["relu", "tanh", "gelu"])})
GOAL = Goal("val_loss", "min")
MAX_EPOCHS = 9


def curve(config: dict, epoch: int) -> float:
    """A learning curve with a known best region (lr near 1e-2, more units, relu)."""
    quality = abs(math.log10(config["lr"]) + 2) + 8 / config["units"] + 0.1 * (config["act"] != "relu")
    return quality + 1.0 / epoch


@pytest.fixture(params=sorted(FACTORIES))
def make(request):
    return FACTORIES[request.param]


def run(opt, n_workers=4, n_trials=40, seed_curve=curve):
    return simulate(opt, SPACE, GOAL, seed_curve, epoch_time=lambda c: 0.5 + c["units"] / 64, n_workers=n_workers,
                    n_trials=n_trials, max_epochs=MAX_EPOCHS)


def test_suggestions_belong_to_the_space(make):
    res = run(make())
    assert res.trials, "the policy started no trial"
    for t in res.trials.values():
        assert SPACE.validate(t.config) == t.config


def test_respects_trial_budget_and_ends(make):
    res = run(make(), n_trials=12)
    assert 1 <= len(res.trials) <= 12
    assert all(t.status.is_terminal for t in res.trials.values()), "a trial was left paused or running"


def test_seeded_policies_are_reproducible(make):
    a = [t.config for t in run(make()).trials.values()]
    b = [t.config for t in run(make()).trials.values()]
    assert a == b


def test_survives_failed_and_nonfinite_trials(make):
    def broken(config, epoch):
        return float("nan") if config["depth"] == 2 or config["units"] < 16 else curve(config, epoch)

    res = run(make(), seed_curve=broken)
    assert len(res.trials) > 5
    assert all(t.status.is_terminal for t in res.trials.values())
    broken_trials = [t for t in res.trials.values() if t.config["depth"] == 2 or t.config["units"] < 16]
    assert broken_trials, "no configuration hit the broken region"
    assert all(math.isnan(r["metrics"]["val_loss"]) for t in broken_trials for r in t.reports)


def test_keeps_every_worker_busy_at_start(make):
    res = run(make(), n_workers=8, n_trials=40)
    starts = sorted(start for _, _, start, _ in res.timeline)
    assert starts[:8] == [0.0] * 8, "some worker waited at the start"


def _same(a, b):
    if isinstance(a, Start) and isinstance(b, Start):
        return (a.config, a.budget, a.parent) == (b.config, b.budget, b.parent)
    return a == b


def test_restore_continues_without_repeating(make):
    """A policy rebuilt from the ledger (configurations from the journal, no replayed RNG) makes the
    same next decision as the uninterrupted one, and never proposes a configuration already run."""
    first = make_policy(make())
    res = simulate(first, SPACE, GOAL, curve, epoch_time=lambda c: 0.5 + c["units"] / 64, n_workers=4,
                   n_trials=40, max_epochs=MAX_EPOCHS, max_events=30)  # a crash mid-study: trials still running
    nxt = res.ledger.next_id()
    first.may_start = True
    expected = first.suggest(nxt)
    ledger = Ledger(GOAL)
    observations = ledger.restore(dict(res.trials), list(res.ledger.ends))
    again = make_policy(make())
    again.setup(SPACE, GOAL, MAX_EPOCHS, 4, ledger.trials)
    again.restore(sorted(ledger.trials.values(), key=lambda t: t.id), observations)
    got = again.suggest(nxt)
    assert _same(got, expected), f"restored policy suggested {got}, the uninterrupted one {expected}"
    if isinstance(got, Start) and isinstance(first.searcher, (GridSearch, RandomSearch)):
        assert got.config not in [t.config for t in res.trials.values()]


def test_decisions_are_values(make):
    opt = make_policy(make())
    ledger = Ledger(GOAL)
    opt.setup(SPACE, GOAL, MAX_EPOCHS, 2, ledger.trials)
    s = opt.suggest(0)
    assert isinstance(s, (Start, Resume))
    t = ledger.create(s.config, s.budget or MAX_EPOCHS)
    ledger.start(t.id, "w0")
    ledger.report(t.id, {"epoch": 1, "t": 0.0, "metrics": {"val_loss": 1.0}})
    assert opt.on_report(t.id, 1, 1.0) in (Decision.CONTINUE, Decision.STOP)
    opt.on_result(ledger.end_step(t.id, TrialStatus.COMPLETED))


def test_grid_covers_the_grid_once():
    space = Space({"a": Categorical([1, 2]), "b": Real(0, 1)})
    res = simulate(GridSearch(points_per_dimension=3), space, GOAL, lambda c, e: c["b"], n_workers=2, max_epochs=1)
    configs = [t.config for t in res.trials.values()]
    assert len(configs) == 6 and len({tuple(c.items()) for c in configs}) == 6


def test_random_is_log_uniform_on_log_axes():
    rng = np.random.default_rng(0)
    lrs = np.array([SPACE.sample(rng)["lr"] for _ in range(4000)])
    frac_below_1e3 = np.mean(lrs < 1e-3)  # one decade of three
    assert 0.30 < frac_below_1e3 < 0.37
