"""Study stop rules as values: Target, NoImprovement(trials=/seconds=); pure kernels, then real studies."""
from __future__ import annotations

import time

import pytest

from hpo_kit import Categorical, GridSearch, Real, Study, read_journal
from hpo_kit.goal import Goal
from hpo_kit.stopping_rules import NoImprovement, Record, Target, check_rules, fold, rules_from_records
from hpo_kit.testing import quadratic

MIN, MAX = Goal("loss"), Goal("acc", "max")
SPACE = {"x": Real(0.0, 1.0), "sleep": Categorical([0.0, 0.2])}


def _end(path):
    (end,) = [r for r in read_journal(path) if r["event"] == "study_end"][-1:]
    return end


# -- pure kernels -------------------------------------------------------------------------------------
def test_fold_counts_ends_since_the_best_improved():
    r = Record()
    for score, t in [(None, 1.0), (0.5, 2.0), (0.7, 3.0), (0.5, 4.0), (0.4, 5.0), (0.9, 6.0)]:
        r = fold(r, score, t, MIN)
    assert r == Record(best=0.4, best_at=5.0, since_best=1, ended=6)
    assert fold(Record(), 0.2, 1.0, MAX).best == 0.2 and fold(Record(best=0.3), 0.2, 1.0, MAX).since_best == 1


def test_rules_check_the_record():
    r = Record(best=0.09, best_at=100.0, since_best=4, ended=10)
    assert "Target(value=0.1)" in Target(0.1).check(r, MIN, 0.0, 0.0)
    assert Target(0.05).check(r, MIN, 0.0, 0.0) is None
    assert Target(0.05).check(r, MAX, 0.0, 0.0) is not None and Target(0.5).check(r, MAX, 0.0, 0.0) is None
    assert NoImprovement(trials=4).check(r, MIN, 0.0, 0.0) and NoImprovement(trials=5).check(r, MIN, 0.0, 0.0) is None
    assert NoImprovement(seconds=10).check(r, MIN, now=110.0, run_start=0.0)
    assert NoImprovement(seconds=10).check(r, MIN, now=109.0, run_start=0.0) is None
    assert NoImprovement(seconds=10).check(r, MIN, now=115.0, run_start=108.0) is None  # a resume: from its start
    assert NoImprovement(trials=3).check(Record(since_best=3, ended=3), MIN, 0.0, 0.0)  # no finite score at all
    assert NoImprovement(seconds=1).check(Record(), MIN, now=100.0, run_start=0.0) is None  # nothing ended yet
    rules = (Target(0.1), NoImprovement(trials=20), NoImprovement(seconds=600))
    assert rules_from_records([r.to_record() for r in rules]) == rules


@pytest.mark.parametrize("make, word", [
    (lambda: NoImprovement(trials=-1), "trials=-1"), (lambda: NoImprovement(trials=True), "trials=True"),
    (lambda: NoImprovement(seconds=0), "seconds=0"), (lambda: NoImprovement(), "exactly one"),
    (lambda: NoImprovement(trials=2, seconds=3), "exactly one"), (lambda: Target("0.1"), "value='0.1'"),
    (lambda: Target(float("nan")), "value=nan"),
    (lambda: check_rules("Study", "stop_when", [Target(1), 3]), "stop_when holds 3"),
    (lambda: check_rules("Study", "stop_when", "Target"), "stop_when='Target'"),
])
def test_bad_rules_name_the_field(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_a_study_refuses_bad_rules_before_anything_changes(journal):
    with pytest.raises(ValueError, match="Study: stop_when"):
        Study(quadratic, SPACE, stop_when=[Target(0.1), "soon"], journal=journal)
    study = Study(quadratic, SPACE, stop_when=Target(0.1), journal=journal)
    assert study.stop_rules == (Target(0.1),)
    with pytest.raises(ValueError, match="set_stop_rules: rules"):
        study.set_stop_rules([NoImprovement])  # the class, not a rule
    assert study.stop_rules == (Target(0.1),) and not journal.exists()


# -- real studies --------------------------------------------------------------------------------------
def test_target_stops_the_study_and_names_the_rule(client, journal):
    study = Study(quadratic, SPACE, n_trials=30, max_epochs=2, cluster=client, journal=journal,
                  enqueue=[{"x": 0.3, "sleep": 0.0}], stop_when=[Target(0.51)])
    study.run(progress=False)
    assert study.state == "stopped" and len(study.trials) < 30
    end = _end(journal)
    assert end["state"] == "stopped" and "Target(value=0.51)" in end["reason"]
    assert {t.status.value for t in study.trials.values()} <= {"COMPLETED", "STOPPED"}


def test_no_improvement_for_n_trials(client, journal):
    # Grid order x = 0, 1/9, ..., 1: the best is x = 3/9 (trial 3); trials 4, 5, 6 do not beat it.
    study = Study(quadratic, {"x": Real(0.0, 1.0)}, max_epochs=1, cluster=client, journal=journal, concurrency=1,
                  prefetch=0, optimizer=GridSearch(points_per_dimension=10), stop_when=[NoImprovement(trials=3)])
    study.run(progress=False)
    assert study.state == "stopped" and len(study.trials) == 7
    assert "NoImprovement(trials=3, seconds=None)" in _end(journal)["reason"]
    assert study._driver.rule_record.since_best == 3


def test_no_improvement_for_t_seconds(client, journal):
    study = Study(quadratic, SPACE, n_trials=200, max_epochs=1, cluster=client, journal=journal,
                  enqueue=[{"x": 0.3, "sleep": 0.0}], stop_when=[NoImprovement(seconds=2.0)])
    t0 = time.time()
    study.run(progress=False)
    assert study.state == "stopped" and time.time() - t0 < 30 and len(study.trials) < 200
    assert "seconds=2.0" in _end(journal)["reason"]


def test_rules_set_live_are_journalled_and_kept_by_a_resume(client, journal):
    study = Study(quadratic, SPACE, n_trials=40, max_epochs=2, cluster=client, journal=journal,
                  stop_when=[NoImprovement(trials=100)]).start()
    try:
        while len([t for t in study.trials.values() if t.status.is_terminal]) < 2:
            time.sleep(0.05)
        study.set_stop_rules([Target(10.0)], reason="good enough").result(timeout=60)
    finally:
        study.wait(120)
    assert study.state == "stopped" and len(study.trials) < 40
    (ctl,) = [r for r in read_journal(journal) if r["event"] == "control" and r["action"] == "stop_rules"]
    assert ctl["value"] == [{"rule": "target", "value": 10.0}] and ctl["reason"] == "good enough"
    again = Study.resume(journal, cluster=client)
    assert again.stop_rules == (Target(10.0),)
    again.run(progress=False)  # the target is reached already: it stops before starting anything
    assert again.state == "stopped" and len(again.trials) == len(study.trials)
    assert "Target(value=10.0)" in _end(journal)["reason"]
    third = Study.resume(journal, cluster=client, stop_when=[])  # the caller's rules win
    assert third.stop_rules == ()
    third._journal.close()
