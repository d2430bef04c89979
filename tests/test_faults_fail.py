"""Issue 26 item 8: an error every trial hits ends the study early; one error is one group, values aside.

Each test failed before the change: a study whose every trial returned its score, or lacked
a module, ran its whole budget; the all-failed warning split one error whose message held a
value or a worker's address into "1 of 4 ... 3 other error(s)"; ``fail_fast`` did not exist.
"""
from __future__ import annotations

import warnings

import pytest

from hpo_kit import Categorical, GridSearch, Real, Study, TrialStatus, read_journal
from hpo_kit.engine.driver.failfast import DEFAULT_FAIL_FAST, verdict
from hpo_kit.error_groups import error_key, group_errors
from hpo_kit.errors import RepeatedTrialError
from hpo_kit.goal import Goal
from hpo_kit.summary import AllTrialsFailedWarning, warn_if_all_failed
from hpo_kit.trial import Trial

F, C, P = TrialStatus.FAILED, TrialStatus.COMPLETED, TrialStatus.PAUSED


# -- grouping (pure) ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("KilledWorker: task ('step-3-0', 1) died on 3 workers; last tcp://127.0.0.1:40581",
     "KilledWorker: task ('step-7-2', 1) died on 3 workers; last tcp://10.0.0.5:8786"),
    ("ObjectiveReturned: objective returned 0.6369616873214543; report metrics", "ObjectiveReturned: objective "
     "returned -1e-05; report metrics"),
    ("ModuleNotFoundError: No module named 'torchvison'", "ModuleNotFoundError: No module named \"torchvison\""),
    ("FileNotFoundError: [Errno 2] No such file: /tmp/pytest-1/run3/data.npz",
     "FileNotFoundError: [Errno 2] No such file: /tmp/pytest-1/run7/data.npz"),
    ("TypeError: <function f at 0x7f3a2b1c9e40> returned nan", "TypeError: <function f at 0x7f00aa11bb22> returned inf"),
    ("WorkerDied: worker 10.0.0.3:41234 (pid 12345) died", "WorkerDied: worker 10.0.0.4:39001 (pid 777) died"),
    ("RuntimeError: run 1b4e28ba-2fa1-11d2-883f-0016d3cca427 lost", "RuntimeError: run 9c4e28ba-2fa1-11d2-883f-0016d3cca4ff lost"),
    ("RuntimeError: boom\nTraceback line 1", "RuntimeError: boom\nTraceback line 2"),
])
def test_values_addresses_paths_and_ids_do_not_split_one_error(a, b):
    assert error_key(a) == error_key(b), (error_key(a), error_key(b))


@pytest.mark.parametrize("a,b", [
    ("ValueError: bad lr 0.1", "TypeError: bad lr 0.1"),  # the type counts
    ("RuntimeError: CUDA out of memory", "RuntimeError: CUDA error: device-side assert"),  # so do the words
    ("KeyboardInterrupt", "SystemExit: 3"),
])
def test_different_types_or_words_stay_apart(a, b):
    assert error_key(a) != error_key(b)


def test_an_apostrophe_is_not_a_quote_and_groups_come_largest_first():
    assert error_key("ValueError: can't read 'a.csv' at step 3") == "ValueError: can't read <q> at step <n>"
    trials = [Trial(i, {}, status=F, error=e) for i, e in enumerate(
        ["ImportError: no x", "RuntimeError: lr=0.1 diverged", "RuntimeError: lr=0.3 diverged", None])]
    groups = group_errors(trials)
    assert [(g.example, g.trials) for g in groups] == [("RuntimeError: lr=0.1 diverged", [1, 2]),
                                                       ("ImportError: no x", [0]), ("no error recorded", [3])]


class FakeStudy:
    def __init__(self, trials):
        self.name, self.state, self.goal, self.journal_path = "s", "finished", Goal("loss"), "s.jsonl"
        self.trials = {t.id: t for t in trials}


def test_the_all_failed_warning_counts_one_error_whose_message_holds_an_address_once():
    trials = [Trial(i, {}, status=F, error=f"RuntimeError: lost tcp://127.0.0.1:{40000 + i} after {i}.5 s")
              for i in range(4)]
    with pytest.warns(AllTrialsFailedWarning) as caught:
        warn_if_all_failed(FakeStudy(trials))
    text = str(caught[0].message)
    assert "4 of 4 with: RuntimeError: lost tcp://127.0.0.1:40000 after 0.5 s (first: trial 0). Tracebacks" in text
    assert "other error" not in text


# -- the rule (pure) --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ended,limit,expected", [
    ([(F, "E: a 1"), (F, "E: a 2"), (F, "E: a 3")], 3, True),
    ([(F, "E: a 1"), (F, "E: a 2")], 3, None),  # not yet
    ([(F, "E: a"), (C, None), (F, "E: a"), (F, "E: a")], 3, False),  # it ran once: never
    ([(P, None), (F, "E: a"), (F, "E: a")], 2, False),  # paused at a rung: it ran
    ([(F, "E: a"), (F, "X: b")], 3, False),  # two errors: configuration-dependent, not every trial's
    ([(F, "E: a"), (F, "E: a"), (F, "E: a"), (C, None)], 3, True),  # decided at the third
])
def test_the_rule_stops_only_when_the_first_ends_all_failed_with_one_error(ended, limit, expected):
    assert verdict(ended, limit) is expected


@pytest.mark.parametrize("value", [-1, 1.5, "3", True])
def test_a_bad_fail_fast_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match=rf"Study: fail_fast={value!r} must be an integer >= 0"):
        Study(returns_score, {"x": Real(0, 1)}, fail_fast=value)


def test_fail_fast_defaults_on_and_none_or_zero_turn_it_off():
    assert Study(returns_score, {"x": Real(0, 1)}).fail_fast == DEFAULT_FAIL_FAST == 5
    assert Study(returns_score, {"x": Real(0, 1)}, fail_fast=0).fail_fast is None
    assert Study(returns_score, {"x": Real(0, 1)}, fail_fast=None).fail_fast is None


# -- real studies ------------------------------------------------------------------------------------------------
def returns_score(config, reporter):
    return config["x"]  # a new user's mistake: the score returned, not reported


def lost_address(config, reporter):
    raise RuntimeError(f"lr={config['x']:.4f} lost tcp://127.0.0.1:{int(30000 + config['x'] * 9999)}")


def ok_or(config, reporter):
    if config["fail"] != "ok":
        raise ValueError(f"config {config['fail']}")
    reporter.report(epoch=1, loss=0.5)


@pytest.mark.parametrize("objective,named", [(returns_score, "ObjectiveReturned: objective returned"),
                                             (lost_address, "RuntimeError: lr=")])
def test_a_study_whose_first_trials_fail_with_one_error_stops_early_with_it(client, journal, objective, named):
    study = Study(objective, {"x": Real(0.0, 1.0)}, n_trials=30, cluster=client, journal=journal)
    with pytest.raises(RepeatedTrialError, match=r"the first 5 trials to end all FAILED with one error") as err:
        study.run(progress=False)
    assert err.value is study.error and study.state == "failed"
    assert err.value.error.startswith(named) and len(err.value.trials) == 5
    assert "fail_fast=None" in str(err.value) and "traceback" in str(err.value)
    trials = list(study.trials.values())
    assert len(trials) <= 5 + 4, "the budget was not spent"  # at most the queued and running of two workers
    assert sum(t.status is TrialStatus.FAILED for t in trials) >= 5
    assert all(t.status.is_terminal for t in trials)
    records = list(read_journal(journal))
    end = [r for r in records if r["event"] == "study_end"]
    assert len(end) == 1 and end[0]["state"] == "failed" and end[0]["reason"] == "fail_fast"
    assert end[0]["error"].startswith("RepeatedTrialError: the first 5 trials") and named in end[0]["error"]
    stops = [r for r in records if r["event"] == "control" and r.get("action") == "stop"]
    assert len(stops) == 1 and stops[0]["source"] == "policy" and named in stops[0]["reason"]
    start = next(r for r in records if r["event"] == "study_start")
    assert start["settings"]["fail_fast"] == 5


def test_fail_fast_none_runs_every_trial_and_the_warning_counts_one_error(client, journal):
    study = Study(lost_address, {"x": Real(0.0, 1.0)}, n_trials=7, cluster=client, journal=journal, fail_fast=None)
    with pytest.warns(AllTrialsFailedWarning, match=r"7 trials \(7 FAILED\)[\s\S]*7 of 7 with: RuntimeError: lr="):
        study.run(progress=False)
    assert study.state == "finished" and study.error is None and len(study.trials) == 7


@pytest.mark.parametrize("order", [["ok"] + ["a"] * 5, ["a", "b", "a", "a", "a", "a"]])
def test_a_trial_that_ran_or_a_second_error_among_the_first_keeps_the_study_going(client, journal, order):
    space = {"fail": Categorical(list(dict.fromkeys(order)))}
    grid = [{"fail": f} for f in order]

    class InOrder(GridSearch):
        def ask(self, trial_id):
            from hpo_kit.decisions import Start
            if trial_id >= len(grid):
                self.finished = True
                return None
            return Start(grid[trial_id])

    study = Study(ok_or, space, optimizer=InOrder(), cluster=client, journal=journal, concurrency=1, fail_fast=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllTrialsFailedWarning)
        study.run(progress=False)
    assert study.state == "finished" and len(study.trials) == len(order)


def test_the_setting_survives_resume_and_a_resumed_run_counts_its_own_trials(client, journal):
    study = Study(returns_score, {"x": Real(0.0, 1.0)}, n_trials=12, cluster=client, journal=journal, fail_fast=2,
                  concurrency=1)
    with pytest.raises(RepeatedTrialError):
        study.run(progress=False)
    failed = len(study.trials)
    assert failed == 2
    again = Study.resume(journal, objective=lambda config, reporter: reporter.report(epoch=1, loss=config["x"]),
                         cluster=client)
    assert again.fail_fast == 2  # from the journal
    again.run(progress=False)  # the two earlier failures do not stop the fixed objective's run
    assert again.state == "finished" and len(again.trials) == 12
    assert sum(t.status is TrialStatus.COMPLETED for t in again.trials.values()) == 10
