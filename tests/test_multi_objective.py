"""Multi-objective studies: the goal, Pareto fronts and hypervolume, ParEGO, and a real Study."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from hpo_kit import Goal, Real, Space, Study, TrialStatus
from hpo_kit.engine.simulator import simulate
from hpo_kit.goal import make_goal
from hpo_kit.optimizers import FIFO
from hpo_kit.pareto import check_objectives, dominates, hypervolume, nondominated
from hpo_kit.searchers import RandomSearch
from hpo_kit.searchers.parego import PENALTY, ParEGO, chebyshev

XY = Space({"x": Real(0.0, 1.0), "y": Real(0.0, 1.0)})


def two_losses(config, reporter):
    """Two conflicting objectives on x (a convex front ``f2 = (1 - sqrt(f1))^2``) plus a y that only hurts."""
    x, y = config["x"], config["y"]
    reporter.report(epoch=1, f1=x + y, f2=(1 - math.sqrt(x)) ** 2 + y)


# -- the goal ---------------------------------------------------------------------------------------------
def test_make_goal_builds_a_primary_and_others():
    g = make_goal(["f1", "acc", "time"], ["min", "max", "min"], "best")
    assert (g.metric, g.mode, g.others) == ("f1", "min", (("acc", "max"), ("time", "min")))
    assert g.multi and g.objectives[0] == ("f1", "min")
    assert not make_goal("loss", "min", "best").multi
    assert make_goal(["a", "b"], "max", "last").others == (("b", "max"),)
    # a journal gives lists back; the goal is rebuilt equal
    assert Goal(**json.loads(json.dumps(vars(g)))) == g


@pytest.mark.parametrize("metric, mode, field", [
    (["a", "a"], "min", "twice"), (["a", "b"], ["min"], "mode="), ([], "min", "metric="),
    (["a", 3], "min", "metric="), (["time", "a"], "min", "metric="), (["a", "b"], ["min", "up"], "others="),
    ("a", ["min", "max"], "mode="),
])
def test_bad_multi_objective_goal_names_the_field(metric, mode, field):
    with pytest.raises(ValueError, match=field):
        Study(two_losses, XY, metric=metric, mode=mode, n_trials=1)


# -- fronts and hypervolume --------------------------------------------------------------------------------
def test_nondominated_and_dominates():
    pts = [(1, 3), (2, 2), (3, 1), (2, 3), (3, 3), (1, 3)]
    assert nondominated(pts) == [0, 1, 2, 5]
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (1, 2)) and not dominates((0, 3), (1, 2))


def test_hypervolume_matches_inclusion_exclusion_in_2d_and_3d():
    assert hypervolume([(1, 2), (2, 1)], (3, 3)) == pytest.approx(3.0)
    assert hypervolume([(4, 0)], (3, 3)) == 0.0  # outside the reference box
    pts = [(0, 1, 1), (1, 0, 1), (1, 1, 0)]
    assert hypervolume(pts, (2, 2, 2)) == pytest.approx(4.0)  # 3*2 - 3*1 + 1
    rng = np.random.default_rng(3)
    pts = rng.random((6, 3))
    ref = (1.0, 1.0, 1.0)
    exact = 0.0  # inclusion-exclusion over every subset of boxes
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, k):
            corner = np.max(subset, axis=0)
            exact += (-1) ** (k + 1) * float(np.prod(np.subtract(ref, corner)))
    assert hypervolume(pts, ref) == pytest.approx(exact)


def test_check_objectives_names_the_field():
    with pytest.raises(ValueError, match="objectives="):
        check_objectives([("loss", "min")])
    with pytest.raises(ValueError, match="objectives="):
        check_objectives([("loss", "min"), ("loss", "max")])
    with pytest.raises(ValueError, match="objectives="):
        check_objectives(5)


# -- ParEGO ------------------------------------------------------------------------------------------------
def test_chebyshev_scales_each_objective_and_penalty_is_worse():
    costs = chebyshev([(0.0, 100.0), (1.0, 0.0), (0.5, 50.0)], np.array([0.5, 0.5]))
    assert costs[2] == pytest.approx(0.25 + 0.05 * 0.5)
    assert max(costs) < PENALTY


def test_parego_beats_random_on_hypervolume_in_the_simulator():
    goal = Goal("f1", "min", others=(("f2", "min"),))

    def curve(config, epoch):
        x, y = config["x"], config["y"]
        return {"f1": x + y, "f2": (1 - math.sqrt(x)) ** 2 + y}

    def hv(searcher):
        res = simulate(FIFO(searcher), XY, goal, curve, n_workers=2, n_trials=30, max_epochs=1)
        pts = [(t.reports[-1]["metrics"]["f1"], t.reports[-1]["metrics"]["f2"]) for t in res.trials.values()]
        return hypervolume(pts, (2.0, 2.0)), res

    random_hv = [hv(RandomSearch(s))[0] for s in range(3)]
    parego = [hv(ParEGO(n_initial_points=6, seed=s)) for s in range(3)]
    assert np.median([h for h, _ in parego]) > np.median(random_hv)
    sources = [t.info.get("source") for t in parego[0][1].trials.values()]
    assert sources.count("model") >= 20  # after the initial points every proposal is the model's


def test_parego_tells_a_trial_without_finite_objectives_the_penalty():
    s = ParEGO(n_initial_points=2, seed=0)
    s.setup(XY, Goal("f1", "min", others=(("f2", "min"),)))
    from hpo_kit.trial import Observation, Trial

    trials = {}
    for i, (f1, f2) in enumerate([(0.1, 0.9), (0.9, 0.1), (0.5, math.nan)]):
        cfg = s.ask(i).config
        t = Trial(id=i, config=cfg, status=TrialStatus.COMPLETED,
                  reports=[{"epoch": 1, "metrics": {"f1": f1, "f2": f2}}])
        trials[i] = t
    s.bind(trials)
    for t in trials.values():
        s.tell(Observation(t.id, t.config, t.score(s.goal), t.status, 1, 1.0, True))
    assert s.state() == {"n_told": 3, "n_finite": 2}
    start = s.ask(3)
    assert start.info["source"] == "model" and set(start.config) == {"x", "y"}


# -- a real study --------------------------------------------------------------------------------------------
def test_multi_objective_study_front_journal_and_resume(client, journal):
    study = Study(two_losses, XY, metric=["f1", "f2"], optimizer="mobo", n_trials=14, cluster=client,
                  journal=journal, name="mo")
    study.optimizer.searcher.n_initial_points = 6
    study.run(progress=False)
    vectors = {t.id: (t.reports[-1]["metrics"]["f1"], t.reports[-1]["metrics"]["f2"])
               for t in study.trials.values() if t.status is TrialStatus.COMPLETED}
    front = study.pareto_front()
    expected = {list(vectors)[i] for i in nondominated(list(vectors.values()))}
    assert {t.id for t in front} == expected and study.best_trials == front
    assert [t.id for t in front] == sorted(expected, key=lambda i: vectors[i])  # by the first objective
    with open(journal) as f:
        start = json.loads(f.readline())
    assert start["goal"]["others"] == [["f2", "min"]]
    assert {t.info.get("source") for t in study.trials.values()} == {"random", "model"}
    again = Study.resume(journal, n_trials=16)
    again.run(progress=False)
    assert again.goal == study.goal and len(again.trials) == 16
    assert {t.info.get("source") for t in again.trials.values() if t.id >= 14} == {"model"}  # it learnt again
    everything = [(t.reports[-1]["metrics"]["f1"], t.reports[-1]["metrics"]["f2"]) for t in again.trials.values()]
    assert len(again.pareto_front()) == len(nondominated(everything))


def test_single_objective_study_gives_the_loss_time_front(client, journal):
    from hpo_kit.testing import quadratic

    study = Study(quadratic, Space({"x": Real(0.0, 1.0), "sleep": Real(0.0, 0.05)}), n_trials=8, max_epochs=2,
                  cluster=client, journal=journal)
    study.run(progress=False)
    front = study.pareto_front()
    assert front and study.best_trial.id in {t.id for t in front}  # the lowest loss is on the front
    pts = [(t.score(study.goal), t.busy) for t in front]
    assert all(not dominates(p, q) for p in pts for q in pts)
    assert pts == sorted(pts)
    with pytest.raises(ValueError, match="objectives="):
        study.pareto_front([("loss", "min")])
    assert study.best_trials == [study.best_trial]


def test_front_view_marks_the_point_b_picks_and_moves_with_b(client, journal):
    from hpo_kit.searchers.bo import TimeAwareBO
    from hpo_kit.testing import quadratic
    from hpo_kit.ui.front import loss_time_front
    from hpo_kit.ui.plots import StudyPlots, default_views, views_for

    space = Space({"x": Real(0.0, 1.0), "sleep": Real(0.0, 0.1)})
    study = Study(quadratic, space, n_trials=8, max_epochs=2, cluster=client, journal=journal,
                  searcher=TimeAwareBO(b=0.5, n_initial_points=8, background=False))
    study.run(progress=False)
    assert "front" in default_views(study.optimizer)
    with open(journal) as f:
        records = [json.loads(line) for line in f]
    assert "front" in views_for(records)
    points, line, pick = loss_time_front(records, {"b": 0.0})
    on = [(s, loss) for s, loss, f in zip(points["seconds"], points["loss"], points["front"]) if f]
    assert len(points["trial"]) == 8 and on and line["x"][0] == min(s for s, _ in on)
    assert pick["loss"] == [min(loss for _, loss in on)]  # b = 0: the lowest loss
    _, _, fast = loss_time_front(records, {"b": 1e6})
    assert fast["seconds"] == [min(s for s, _ in on)]  # a huge b: the fastest front point
    plots = StudyPlots(views=("front",))
    plots.update(records, {"b": 0.0})
    assert plots.sources["front_pick"].data["trial"] == pick["trial"]
