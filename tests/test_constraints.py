"""Constraints reported by the objective: validated, journalled, feasible-first ranking, and BO that models them."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from hpo_kit import Goal, Real, Space, Study, TrialStatus, replay
from hpo_kit.engine.simulator import simulate
from hpo_kit.optimizers import FIFO
from hpo_kit.searchers import RandomSearch
from hpo_kit.searchers.bo import TimeAwareBO

XY = Space({"x": Real(0.0, 1.0), "y": Real(0.0, 1.0)})
OPTIMUM = 0.18  # (x - 0.8)^2 + (y - 0.8)^2 subject to x + y <= 1: at x = y = 0.5


def constrained(config, reporter):
    x, y = config["x"], config["y"]
    reporter.report(epoch=1, loss=(x - 0.8) ** 2 + (y - 0.8) ** 2, constraints={"sum": x + y - 1.0})


def bad_constraint(config, reporter):
    reporter.report(epoch=1, loss=config["x"], constraints={"sum": "big"})


def test_feasible_first_ranking_results_and_journal(client, journal):
    study = Study(constrained, XY, n_trials=12, cluster=client, journal=journal, seed=0)
    study.run(progress=False)
    trials = list(study.trials.values())
    feasible = [t for t in trials if t.violation == 0]
    assert feasible and len(feasible) < len(trials)  # random search lands on both sides
    best = study.best_trial
    assert best.violation == 0
    assert best.score(study.goal) == min(t.score(study.goal) for t in feasible)
    assert any(t.score(study.goal) < best.score(study.goal) for t in trials if t.violation)  # infeasible were better
    df = study.results
    assert (df.violation == [t.violation for t in trials]).all() and "constraint.sum" in df
    rep = replay(journal)
    assert [t.constraints for t in rep.trials.values()] == [t.constraints for t in trials]
    with open(journal) as f:
        assert any("constraints" in json.loads(line) for line in f)
    assert all(t.violation == 0 for t in study.pareto_front())  # feasible first on the front too
    again = Study.resume(journal, n_trials=14)
    again.run(progress=False)
    assert [t.constraints for t in list(again.trials.values())[:12]] == [t.constraints for t in trials]
    assert again.best_trial.violation == 0 and len(again.trials) == 14


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_constraint_that_is_not_a_number_fails_the_trial_naming_it(client, journal):
    study = Study(bad_constraint, XY, n_trials=2, cluster=client, journal=journal)
    study.run(progress=False)
    for t in study.trials.values():
        assert t.status is TrialStatus.FAILED and "constraints['sum']" in t.error


def test_bo_that_models_feasibility_beats_bo_that_ignores_it():
    def curve(with_constraints):
        def f(config, epoch):
            body = {"metrics": {"loss": (config["x"] - 0.8) ** 2 + (config["y"] - 0.8) ** 2}}
            if with_constraints:
                body["constraints"] = {"sum": config["x"] + config["y"] - 1.0}
            return body
        return f

    def run(with_constraints, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = simulate(FIFO(TimeAwareBO(seed=seed, background=False, n_initial_points=8)), XY, Goal("loss"),
                           curve(with_constraints), n_workers=2, n_trials=24, max_epochs=1)
        configs = [t.config for t in res.trials.values()]
        ok = [c for c in configs if c["x"] + c["y"] <= 1.0]
        regret = min((c["x"] - 0.8) ** 2 + (c["y"] - 0.8) ** 2 for c in ok) - OPTIMUM if ok else np.inf
        return regret, sum(c["x"] + c["y"] <= 1.0 for c in configs[8:])

    modelled = [run(True, s) for s in range(3)]
    ignored = [run(False, s) for s in range(3)]
    assert np.median([r for r, _ in modelled]) < np.median([r for r, _ in ignored])
    assert sum(n for _, n in modelled) > 2 * sum(n for _, n in ignored)  # it proposes feasible points
    assert all(np.isfinite(r) for r, _ in modelled)


def test_random_search_is_unchanged_by_constraints():
    res = simulate(FIFO(RandomSearch(3)), XY, Goal("loss"),
                   lambda c, e: {"metrics": {"loss": c["x"]}, "constraints": {"c": c["y"] - 0.5}},
                   n_workers=2, n_trials=6, max_epochs=1)
    plain = simulate(FIFO(RandomSearch(3)), XY, Goal("loss"), lambda c, e: c["x"], n_workers=2, n_trials=6,
                     max_epochs=1)
    assert [t.config for t in res.trials.values()] == [t.config for t in plain.trials.values()]
    assert [t.violation for t in res.trials.values()] == [max(0.0, t.config["y"] - 0.5)
                                                          for t in res.trials.values()]


def test_bo_on_a_conditional_space_models_feasibility_too():
    from hpo_kit import Categorical

    space = Space({"branch": Categorical(["a", "b"]), "x": Real(0.0, 1.0),
                   "y": Real(0.0, 1.0, when=("branch", "b"))})

    def curve(told):
        def f(config, epoch):
            body = {"metrics": {"loss": (config["x"] - 0.8) ** 2 + 0.1 * config.get("y", 0.5)}}
            if told:
                body["constraints"] = {"x": config["x"] - 0.5}  # feasible: x <= 0.5
            return body
        return f

    def feasible_later(told, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = simulate(FIFO(TimeAwareBO(seed=seed, background=False, n_initial_points=8)), space, Goal("loss"),
                           curve(told), n_workers=2, n_trials=22, max_epochs=1)
        return sum(t.config["x"] <= 0.5 for t in list(res.trials.values())[8:])

    modelled = sum(feasible_later(True, s) for s in range(2))
    ignored = sum(feasible_later(False, s) for s in range(2))
    assert modelled > 2 * max(ignored, 1), (modelled, ignored)
