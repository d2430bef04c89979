"""Faults of Trainable trials (issue 26: items 1 and 9b), on the embedded 2-worker LocalCluster.

Each test failed before its fix (noted per test).
"""
from __future__ import annotations

import functools
import json
import os
import threading
import time

import pytest

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.engine.replay import replay
from hpo_kit.testing import CountingTrainable

LR = {"lr": Real(0.01, 0.1)}


def _drop(path, keep) -> None:
    """Rewrite the journal without the lines ``keep(record)`` refuses (what a lost message leaves)."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if keep(json.loads(line))))


# 1 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gap", [False, True], ids=["end-lost", "end-and-a-report-lost"])
def test_a_trainable_resumed_at_its_budget_completes_from_its_checkpoint(client, journal, gap):
    # Before: trial 1 ended FAILED ("report: epoch=4 is beyond this step's budget of 3 epochs") with an
    # epoch-4.pt written past the budget; with a lost report its journalled epochs stayed [1, 3].
    first = Study(CountingTrainable, LR, n_trials=3, max_epochs=3, cluster=client, journal=journal).run(progress=False)
    before = {tid: t.reports for tid, t in first.trials.items()}
    assert all(t.status is TrialStatus.COMPLETED for t in first.trials.values())

    def keep(rec):
        if rec.get("trial") != 1:
            return True
        return rec["event"] != "trial_end" and not (gap and rec["event"] == "report" and rec["epoch"] == 2)
    _drop(journal, keep)
    assert [r["epoch"] for r in replay(journal).trials[1].reports] == ([1, 3] if gap else [1, 2, 3])

    again = Study.resume(journal, cluster=client)
    again.run(progress=False)
    t = again.trials[1]
    assert t.status is TrialStatus.COMPLETED, t.error
    assert sorted(os.listdir(f"{journal}.ckpt/trial-1")) == ["epoch-2.pt", "epoch-3.pt"], "an epoch past the budget"
    # The checkpoint's reports, not a retraining: the same metrics (the worker's pid included) as first reported.
    assert [(r["epoch"], r["metrics"]) for r in t.reports] == [(r["epoch"], r["metrics"]) for r in before[1]]
    assert [r["epoch"] for r in replay(journal).trials[1].reports] == [1, 2, 3], "the journal kept the gap"
    ends = [r for r in read_journal(journal) if r["event"] == "trial_end" and r["trial"] == 1]
    assert [r["status"] for r in ends] == ["COMPLETED"]


# 4 ---------------------------------------------------------------------------------------------
WARM, TIMEOUT = 8.0, 5.0  # a worker's warm-up (a slow data loader: a first `import torch` at load) > trial_timeout


class _HangsAtX3(CountingTrainable):
    """Trains as CountingTrainable; the trial with ``x == 3`` hangs in its first epoch."""

    def train_epoch(self, epoch):
        if self.config["x"] == 3:
            time.sleep(3600)
        return super().train_epoch(epoch)


def _hangs_at_x3(config, reporter):
    """The function form of the same: it reads the study's data, the trial with ``x == 3`` hangs."""
    assert reporter.data is None
    if config["x"] == 3:
        time.sleep(3600)
    for epoch in range(1, reporter.max_epochs + 1):
        reporter.report(epoch=epoch, loss=float(config["x"]))


@pytest.mark.parametrize("objective", [_HangsAtX3, _hangs_at_x3], ids=["trainable", "function"])
def test_warm_up_is_not_trial_time_but_a_hung_trial_still_times_out(journal, objective):
    # Before: every trial that was first on its worker ended "TrialTimeout" (its warm-up counted).
    study = Study(objective, {"x": Categorical([0, 1, 2, 3])}, optimizer="grid", n_trials=4, max_epochs=2,
                  trial_timeout=TIMEOUT, data=functools.partial(time.sleep, WARM), n_workers=2, journal=journal)
    study.run(progress=False)
    by_x = {t.config["x"]: t for t in study.trials.values()}
    assert {x: t.status for x, t in by_x.items() if x != 3} == {x: TrialStatus.COMPLETED for x in (0, 1, 2)}, \
        {x: t.error for x, t in by_x.items()}
    hung = by_x[3]
    assert hung.status is TrialStatus.FAILED and hung.error.startswith("TrialTimeout"), hung.error
    assert "trial_timeout=5.0s" in hung.error
    assert max(t.warmup for t in by_x.values()) >= WARM, "the warm-up was not journalled as warm-up"
    assert all(t.busy < WARM for x, t in by_x.items() if x != 3), "warm-up counted as the trial's busy time"


@pytest.mark.filterwarnings("ignore::hpo_kit.summary.AllTrialsFailedWarning")
def test_a_warm_up_past_warmup_timeout_fails_its_trial_naming_the_setting(journal):
    study = Study(CountingTrainable, LR, n_trials=1, max_epochs=1, warmup_timeout=1.5,
                  data=functools.partial(time.sleep, 60), n_workers=1, journal=journal)
    t0 = time.monotonic()
    study.run(progress=False)
    (t,) = study.trials.values()
    assert t.status is TrialStatus.FAILED and t.error.startswith("WarmupTimeout"), t.error
    assert "warmup_timeout=1.5s" in t.error
    assert time.monotonic() - t0 < 50, "the trial waited for its warm-up to end"


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_warmup_timeout_is_checked_where_the_study_is_made(journal, value):
    with pytest.raises(ValueError, match=f"warmup_timeout={value!r}"):
        Study(CountingTrainable, LR, max_epochs=1, warmup_timeout=value, journal=journal)
    assert not journal.exists()


# 9 ---------------------------------------------------------------------------------------------
def test_a_directory_given_as_journal_is_refused_where_the_study_is_made(tmp_path):
    # Before: Study(...) took it; run() then started a cluster before the journal refused the folder.
    (tmp_path / "runs").mkdir()
    with pytest.raises(IsADirectoryError, match=r"Study: journal=.*runs' is a directory.*file path"):
        Study(CountingTrainable, LR, max_epochs=1, journal=tmp_path / "runs")
    assert os.listdir(tmp_path) == ["runs"] and os.listdir(tmp_path / "runs") == []


class _LockInState(CountingTrainable):
    """Its state holds a lock (pickle refuses it) for ``lr > 0.05``."""

    def state_dict(self):
        state = super().state_dict()
        if self.config["lr"] > 0.05:
            state["extra"] = {"guard": threading.Lock()}
        return state


@pytest.mark.filterwarnings("ignore::hpo_kit.summary.AllTrialsFailedWarning")
def test_an_unpicklable_trainable_state_names_the_key_and_the_study_goes_on(client, journal):
    # Before: the trial's error was only "TypeError: cannot pickle '_thread.lock' object".
    study = Study(_LockInState, {"lr": Categorical([0.01, 0.09])}, optimizer="grid", n_trials=2, max_epochs=2,
                  cluster=client, journal=journal).run(progress=False)
    by_lr = {t.config["lr"]: t for t in study.trials.values()}
    assert by_lr[0.01].status is TrialStatus.COMPLETED
    bad = by_lr[0.09]
    assert bad.status is TrialStatus.FAILED and bad.error.startswith("StateNotSaved"), bad.error
    assert "state_dict()['extra']['guard'] is a _thread.lock" in bad.error
    assert "cannot pickle '_thread.lock' object" in bad.error and "train_epoch" not in bad.error
    assert "_run_trainable" in bad.traceback and "state_dict" in bad.traceback


MB10 = 10 * 2 ** 20


class _LongTexts(CountingTrainable):
    """Reports a metric with a 10-MB name each epoch, then fails its second epoch with a 10-MB message."""

    def train_epoch(self, epoch):
        if epoch == 2:
            raise RuntimeError("E" * MB10)
        return {**super().train_epoch(epoch), "n" * MB10: 1.0}


def test_long_error_texts_and_metric_names_are_short_in_the_journal_and_the_warning(client, journal):
    # Before: the AllTrialsFailedWarning quoted the 10-MB error whole (and a missing metric's error every name).
    with pytest.warns(Warning) as caught:
        study = Study(_LongTexts, LR, n_trials=2, max_epochs=3, cluster=client, journal=journal).run(progress=False)
    assert all(t.status is TrialStatus.FAILED and len(t.error) > MB10 for t in study.trials.values())  # whole here
    size = os.path.getsize(journal)
    assert size < 200_000, f"{size:,} bytes of journal for 2 trials"
    said = [str(w.message) for w in caught if type(w.message).__name__ == "AllTrialsFailedWarning"]
    assert len(said) == 1 and len(said[0]) < 2_000 and "has it whole" in said[0], len(said[0])
    names = {k for r in read_journal(journal) if r["event"] == "report" for k in r["metrics"]}
    assert all(len(k) < 2_000 for k in names) and len(names) == 5, [len(k) for k in names]


def test_a_step_rerun_by_dask_warms_up_again_before_trial_timeout_counts():
    from hpo_kit.engine.driver.steps import StepTable

    table = StepTable("run")
    table.queue(0)
    seq, key = table.next_key(0)
    step = table.hand(seq, key, 0, 0, None, None)
    table.start(step, "tcp://a")
    table.ready(step)
    assert step.ready is not None
    table.rerun(step, "tcp://b")  # its worker died; a remote scheduler ran the task again elsewhere
    assert (step.worker, step.ready) == ("tcp://b", None)
    table.ready(step)
    assert step.ready >= step.started
