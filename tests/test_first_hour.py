"""Issue #14, "The first hour of a new user": what a new user's mistakes end as.

Each test failed on the code before the issue: a bad report or a returned score ended
COMPLETED without a word, tracebacks of a script's objective said ``<dynamic-code>``, an
all-failed study ended quietly.
"""
from __future__ import annotations

import math
import os
import warnings

import cloudpickle
import numpy as np
import pytest
import torch

from hpo_kit import Categorical, GridSearch, Real, Study, TrialStatus
from hpo_kit.engine.worker.step import StepSpec, _run
from hpo_kit.goal import Goal
from hpo_kit.summary import AllTrialsFailedWarning, summarize, warn_if_all_failed
from hpo_kit.testing import raises_base
from hpo_kit.trial import Trial


def step(objective, budget=3, metric="val_loss"):
    """One step in this process, as a worker runs it."""
    return _run(StepSpec("s", 0, 0, {}, objective, budget=budget, metric=metric), lambda msg: None, None)


# 14: reports are validated at the worker ------------------------------------------------------------
@pytest.mark.parametrize("value,named", [
    ("0.5", "metric val_loss='0.5' is a str"),
    (None, "metric val_loss=None is a NoneType"),
    (torch.tensor([0.1, 0.2]), "metric val_loss is a Tensor of 2 elements"),
    (np.zeros(3), "metric val_loss is a ndarray of 3 elements"),
    (True, "metric val_loss=True is a bool"),
    (torch.tensor(True), "metric val_loss=True is a bool"),
    (1j, "metric val_loss=1j is a complex"),
])
def test_a_metric_that_is_not_one_number_fails_the_trial_naming_it(value, named):
    res = step(lambda config, reporter: reporter.report(epoch=1, val_loss=value))
    assert res.outcome == "failed" and res.error.startswith("ReportError: report: ") and named in res.error, res.error
    assert not res.reports  # nothing unusable reaches the journal


@pytest.mark.parametrize("value", [0.25, math.nan, math.inf, np.float32(0.25), torch.tensor(0.25),
                                   torch.tensor([0.25]), 3])
def test_numbers_nan_inf_and_one_element_tensors_are_reported(value):
    res = step(lambda config, reporter: reporter.report(epoch=1, val_loss=value))
    assert res.outcome == "completed", res.error
    got = res.reports[0]["metrics"]["val_loss"]
    assert type(got) is float and (math.isnan(got) if isinstance(value, float) and math.isnan(value)
                                   else got == pytest.approx(float(value)))


@pytest.mark.parametrize("report,named", [
    (lambda r: r.report(val_loss=0.1), "epoch is missing; call reporter.report(epoch=1, val_loss=...)"),
    (lambda r: r.report(epoch=1.0, val_loss=0.1), "epoch=1.0 must be an int"),
    (lambda r: (r.report(epoch=2, val_loss=0.1), r.report(epoch=2, val_loss=0.1)),
     "epoch=2 must be greater than the last reported epoch 2"),
    (lambda r: r.report(epoch=4, val_loss=0.1), "epoch=4 is beyond this step's budget of 3 epochs"),
    (lambda r: r.report(epoch=1), "epoch=1 carries no metric"),
])
def test_a_missing_repeated_or_out_of_budget_epoch_fails_the_trial_naming_it(report, named):
    res = step(lambda config, reporter: report(reporter))
    assert res.outcome == "failed" and named in res.error, res.error


def test_a_bad_report_fails_the_trial_even_if_the_objective_catches_it():
    def objective(config, reporter):
        for epoch in (1, 2):
            try:
                reporter.report(epoch=epoch, val_loss="%.3f" % 0.5)  # a formatted string, caught by accident
            except Exception:  # noqa: BLE001 - what a careless training loop does
                pass

    res = step(objective)
    assert res.outcome == "failed" and "metric val_loss='0.500' is a str" in res.error, res.error
    assert "objective" in res.traceback


@pytest.mark.parametrize("returned", [0.5, {"acc": 0.9}])
def test_a_returned_score_is_an_error_that_says_to_report(returned):
    res = step(lambda config, reporter: returned)
    assert res.outcome == "failed" and not res.reports
    assert res.error == (f"ObjectiveReturned: objective returned {returned!r}; report metrics with "
                         f"reporter.report(epoch=..., val_loss=...) and return None"), res.error


def test_an_objective_that_never_reports_fails_with_how_to_report():
    res = step(lambda config, reporter: None)
    assert res.outcome == "failed" and "objective returned without a report" in res.error
    assert "reporter.report(epoch=..., val_loss=...)" in res.error


def test_a_trainable_whose_train_epoch_returns_no_dict_fails_naming_it():
    from hpo_kit import Trainable

    class NoDict(Trainable):
        def setup(self, config, data):
            pass

        def train_epoch(self, epoch):
            return 0.5

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    res = step(NoDict)
    assert res.outcome == "failed" and "NoDict.train_epoch(1) returned 0.5; it must return a dict" in res.error


# 6: tracebacks point at the user's file ---------------------------------------------------------------
USER_CODE = '''\
import math


def helper(x):
    return math.sqrt(x)  # line 5: raises for x < 0


def objective(config, reporter):
    reporter.report(epoch=1, val_loss=config["x"])
    helper(-1.0)  # line 10


class Model:
    def __call__(self, config, reporter):
        raise RuntimeError("from a method")  # line 15
'''


def user_module(tmp_path):
    """The functions of a user's script: module ``__main__``, so cloudpickle ships them by value."""
    path = tmp_path / "my_script.py"
    path.write_text(USER_CODE)
    namespace = {"__name__": "__main__"}
    exec(compile(USER_CODE, str(path), "exec"), namespace)
    return path, namespace


def test_a_shipped_objectives_traceback_names_the_users_file_and_line(tmp_path):
    path, ns = user_module(tmp_path)
    for objective, frames in ((ns["objective"], [(10, "objective"), (5, "helper")]),
                              (ns["Model"](), [(15, "__call__")])):
        spec = cloudpickle.loads(cloudpickle.dumps(StepSpec("s", 0, 0, {"x": 0.5}, objective, metric="val_loss")))
        res = _run(spec, lambda msg: None, None)
        assert res.outcome == "failed"
        assert "<dynamic-code>" not in res.traceback, res.traceback
        for line, name in frames:
            assert f'File "{path}", line {line}, in {name}' in res.traceback, res.traceback
        assert "helper(-1.0)" in res.traceback or "from a method" in res.traceback  # the source line, too


def test_a_function_defined_inside_a_function_keeps_its_file_too():
    def objective(config, reporter):  # shipped by value: not reachable by module and name
        raise RuntimeError("nested")

    spec = cloudpickle.loads(cloudpickle.dumps(StepSpec("s", 0, 0, {}, objective)))
    res = _run(spec, lambda msg: None, None)
    line = objective.__code__.co_firstlineno + 1
    assert f'File "{__file__}", line {line}, in objective' in res.traceback, res.traceback


def test_a_scripts_traceback_through_dask_names_its_file(client, journal, tmp_path):
    path, ns = user_module(tmp_path)
    study = Study(ns["objective"], {"x": Real(0.1, 1.0)}, metric="val_loss", n_trials=1, cluster=client,
                  journal=journal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllTrialsFailedWarning)
        study.run(progress=False)
    (trial,) = study.trials.values()
    assert trial.status is TrialStatus.FAILED and trial.error.startswith("ValueError: math domain error")
    assert f'File "{path}", line 10, in objective' in trial.traceback, trial.traceback
    assert f'File "{path}", line 5, in helper' in trial.traceback


# 12: SystemExit and KeyboardInterrupt end one trial, not the worker --------------------------------------
def test_system_exit_and_keyboard_interrupt_fail_their_trial_and_the_study_goes_on(client, journal):
    # Six trials on two workers: each worker runs trials after one that raised.
    space = {"raise": Categorical(["SystemExit", "KeyboardInterrupt", "none"]), "x": Categorical([0.0, 1.0])}
    study = Study(raises_base, space, optimizer=GridSearch(), cluster=client, journal=journal, max_retries=0)
    pids = client.run(os.getpid)
    study.run(progress=False)
    by_raise = {}
    for t in study.trials.values():
        by_raise.setdefault(t.config["raise"], []).append(t)
    assert sorted(by_raise) == ["KeyboardInterrupt", "SystemExit", "none"]
    assert [t.status for t in by_raise["none"]] == [TrialStatus.COMPLETED] * 2
    for t in by_raise["SystemExit"]:
        assert t.status is TrialStatus.FAILED and t.error == "SystemExit: 3" and "raise SystemExit(3)" in t.traceback
    for t in by_raise["KeyboardInterrupt"]:
        assert t.status is TrialStatus.FAILED and t.error == "KeyboardInterrupt", t.error
    assert client.run(os.getpid) == pids  # no worker died or restarted
    assert "KilledWorker" not in " ".join(t.error or "" for t in study.trials.values())


# 3: a study where every trial fails says so --------------------------------------------------------------
class FakeStudy:
    def __init__(self, trials, state="finished"):
        self.name, self.state, self.goal, self.journal_path = "s", state, Goal("loss"), "hpo-runs/s.jsonl"
        self.trials = {t.id: t for t in trials}


def test_summary_counts_statuses_and_names_the_best():
    trials = [Trial(id=0, config={}, status=TrialStatus.COMPLETED,
                    reports=[{"epoch": 1, "t": 0.0, "metrics": {"loss": 0.25}}]),
              Trial(id=1, config={}, status=TrialStatus.FAILED, error="RuntimeError: boom")]
    assert summarize(FakeStudy(trials)) == \
        "study 's' finished: 2 trials (1 COMPLETED, 1 FAILED); best loss=0.25 (trial 0)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_all_failed(FakeStudy(trials)) is False
        assert warn_if_all_failed(FakeStudy([])) is False


def test_warning_names_the_most_common_error_and_where_the_tracebacks_are():
    trials = [Trial(id=i, config={}, status=TrialStatus.FAILED, error=e)
              for i, e in enumerate(["ImportError: no module named x", "RuntimeError: boom\nmore",
                                     "RuntimeError: boom"])]
    with pytest.warns(AllTrialsFailedWarning) as caught:
        assert warn_if_all_failed(FakeStudy(trials)) is True
    text = str(caught[0].message)
    assert text.startswith("study 's' finished: 3 trials (3 FAILED); no trial reported a finite loss\n"), text
    assert "2 of 3 with: RuntimeError: boom (first: trial 1); 1 other error(s)" in text
    assert "study.results['traceback']" in text and "hpo-kit show hpo-runs/s.jsonl" in text


def test_a_study_whose_every_trial_fails_ends_with_a_summary_and_a_warning(client, journal):
    study = Study(raises_base, {"raise": Categorical(["RuntimeError"])}, n_trials=3, cluster=client, journal=journal)
    with pytest.warns(AllTrialsFailedWarning, match=r"3 trials \(3 FAILED\)[\s\S]*3 of 3 with: RuntimeError \(first"):
        study.run(progress=False)
    assert all(t.status is TrialStatus.FAILED for t in study.trials.values())
