"""Regression tests of the core refactor (ledger, driver, session, validated controls), on a real cluster.

One test per finding of the issue; each fails on f344c31. Policies are written against
``hpo_kit.Optimizer`` and passed as ``optimizer=`` where the finding allows it, so the same
test also runs (and fails for the finding's reason) on the pre-refactor code; only the BO-under-ASHA
test needs ``searcher=``/``scheduler=``, which that code lacks.
"""
from __future__ import annotations

import math
import subprocess
import sys
import time
from collections import Counter, defaultdict

import numpy as np
import pytest

from hpo_kit import (ASHA, Categorical, Decision, Goal, Hypersearch, Optimizer, Real, Start, Study,
                     SuccessiveHalving, TimeAwareBO, Trial, TrialStatus, read_journal)
from hpo_kit.testing import CountingTrainable, pid_and_sleep, quadratic
from hpo_kit.trial import observe

X = {"x": Real(0.0, 1.0)}


def _events(path, name):
    return [r for r in read_journal(path) if r["event"] == name]


def _by_trial(records):
    out = defaultdict(list)
    for r in records:
        out[r["trial"]].append(r)
    return out


def _until(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _count(study, *statuses):
    with study._lock:
        return sum(t.status in statuses for t in list(study.trials.values()))


def _inner(policy):
    return getattr(policy, "searcher", policy)  # the searcher of a scheduler (the policy itself before)


class Scripted(Optimizer):
    """Random configurations; STOP at epoch ``stop_at``; a bug in ``suggest`` after ``crash_after`` results."""

    name = "scripted"

    def __init__(self, stop_at=None, crash_after=None):
        super().__init__()
        self.stop_at, self.crash_after, self.told = stop_at, crash_after, []
        self._draws = np.random.default_rng(0)

    def suggest(self, trial_id):
        if self.crash_after is not None and len(self.told) >= self.crash_after:
            raise RuntimeError("policy bug in suggest")
        return Start(self.space.sample(self._draws))

    def on_report(self, trial_id, epoch, loss):
        return Decision.STOP if self.stop_at is not None and epoch >= self.stop_at else Decision.CONTINUE

    def on_result(self, obs):
        self.told.append(obs)


class RecordingASHA(ASHA):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.told = []

    def on_result(self, obs):
        self.told.append(obs)
        super().on_result(obs)


def silent_stream(config, reporter):
    """Five quick epochs whose reports reach the driver only with the step's result (a lagging stream)."""
    emit = reporter._emit
    reporter._emit = lambda msg: None if msg.get("kind") == "report" else emit(msg)
    for epoch in range(1, 6):
        reporter.report(epoch=epoch, loss=(config["x"] - 0.3) ** 2 + 1.0 / epoch)


def reports_val_loss(config, reporter):
    reporter.report(epoch=1, val_loss=config["x"])


# 1 ---------------------------------------------------------------------------------------------
def test_a_stop_decided_while_reconciling_ends_the_step_once(client, journal):
    policy = Scripted(stop_at=1)
    study = Study(silent_stream, X, optimizer=policy, n_trials=8, concurrency=2, cluster=client, journal=journal)
    study.run(progress=False)
    ends, starts = _by_trial(_events(journal, "trial_end")), _by_trial(_events(journal, "trial_start"))
    assert sorted(ends) == list(range(8))
    for tid in range(8):
        assert len(ends[tid]) == 1, f"trial {tid} ended {len(ends[tid])} times: {ends[tid]}"
        attempts = [r["attempt"] for r in starts[tid]]
        assert len(attempts) == len(set(attempts)), f"trial {tid} started twice in one attempt: {attempts}"
        assert ends[tid][0]["status"] == "STOPPED"
    assert Counter(o.trial_id for o in policy.told) == {tid: 1 for tid in range(8)}


# 2 ---------------------------------------------------------------------------------------------
def test_a_discarded_trial_is_never_told_to_the_scheduler(client, journal):
    policy = RecordingASHA(r_min=3, eta=3)
    space = {**X, "sleep": Categorical([0.3])}
    study = Study(pid_and_sleep, space, optimizer=policy, n_trials=4, max_epochs=9, concurrency=2, prefetch=0,
                  cluster=client, journal=journal).start()
    _until(lambda: 0 in study.trials and study.trials[0].epochs >= 1)
    study.kill(0, reason="bad run", discard=True)
    assert study.wait(60)
    assert 0 not in {o.trial_id for o in policy.told}, "a discarded trial reached the scheduler"
    (end,) = _by_trial(_events(journal, "trial_end"))[0]
    assert end["discard"] is True and end["status"] == "KILLED"
    assert {o.trial_id for o in policy.told} >= {1, 2, 3}


# 3 ---------------------------------------------------------------------------------------------
def _intervals(study):
    return {t.id: (min(r["metrics"]["t0"] for r in t.reports), max(r["metrics"]["t1"] for r in t.reports))
            for t in study.trials.values()}


def test_concurrency_one_runs_one_trial_at_a_time(client, journal):
    space = {**X, "sleep": Categorical([0.1]), "epochs": Categorical([2])}
    study = Study(pid_and_sleep, space, n_trials=6, concurrency=1, cluster=client, journal=journal)
    study.run(progress=False)
    spans = sorted(_intervals(study).values())
    assert len(spans) == 6
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 >= a1, f"two trials ran at once: [{a0}, {a1}] and [{b0}, {b1}]"


def test_set_concurrency_one_mid_run_stops_overlaps(client, journal):
    space = {**X, "sleep": Categorical([0.1]), "epochs": Categorical([2])}
    study = Study(pid_and_sleep, space, n_trials=8, concurrency=2, cluster=client, journal=journal).start()
    _until(lambda: _count(study, TrialStatus.COMPLETED) >= 1)
    study.set_concurrency(1, reason="share the cluster")
    assert study.wait(60)
    (control,) = [r for r in _events(journal, "control") if r["action"] == "concurrency"]
    created = {r["trial"]: r["t"] for r in _events(journal, "trial_create")}
    spans = _intervals(study)
    later = [tid for tid, t in created.items() if t > control["t"]]
    assert later, "every trial was created before the change took effect"
    for tid in later:
        a0, a1 = spans[tid]
        for other, (b0, b1) in spans.items():
            assert other == tid or b1 <= a0 or b0 >= a1, f"trial {tid} ran beside trial {other}"


# 4 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: ASHA(r_min=1, eta=3, r_max=9),
                                  lambda: SuccessiveHalving(n_configs=9, r_min=1, eta=3, r_max=9),
                                  ], ids=["asha", "sha"])  # Hypersearch needs a Trainable, so max_epochs
def test_a_policy_budget_without_study_max_epochs_still_pauses_and_resumes(client, journal, make):
    study = Study(quadratic, X, optimizer=make(), n_trials=9, cluster=client, journal=journal)
    study.run(progress=False)
    assert _events(journal, "trial_pause") and _events(journal, "trial_resume")
    # For ASHA and SHA by their rules, not by timing: neither ends before it has promoted the top third of the
    # 9-trial bottom rung and the best of the next (ASHA whatever order the results came in), so one reaches 9.
    assert max(t.epochs for t in study.trials.values()) == 9


# 5 ---------------------------------------------------------------------------------------------
def test_a_crashed_loop_is_journalled_failed_and_reraised(client, journal, tmp_path):
    space = {**X, "epochs": Categorical([1])}
    study = Study(quadratic, space, optimizer=Scripted(crash_after=2), n_trials=20, cluster=client,
                  journal=journal).start()
    with pytest.raises(RuntimeError, match="policy bug"):
        study.wait(30)
    assert study.state == "failed"
    (end,) = _events(journal, "study_end")
    assert end["state"] == "failed" and "policy bug" in end["error"]
    again = tmp_path / "run.jsonl"
    with pytest.raises(RuntimeError, match="policy bug"):
        Study(quadratic, space, optimizer=Scripted(crash_after=2), n_trials=20, cluster=client,
              journal=again).run(progress=False)
    assert [r["state"] for r in _events(again, "study_end")] == ["failed"]


# 6 ---------------------------------------------------------------------------------------------
def _controls_refused(study, error):
    for control in (study.pause, lambda: study.tune(b=0.2), lambda: study.kill(0),
                    lambda: study.set_concurrency(1)):
        with pytest.raises(error):
            control()


def test_a_bad_tune_raises_in_the_caller_and_the_study_goes_on(client, journal):
    space = {**X, "sleep": Categorical([0.1]), "epochs": Categorical([2])}
    study = Study(quadratic, space, optimizer=TimeAwareBO(n_initial_points=3, background=False), n_trials=6,
                  cluster=client, journal=journal).start()
    assert study.state == "running"
    with pytest.raises(ValueError, match="b"):
        study.tune(b=-1)
    assert study.wait(60) and study.state == "finished"
    assert _inner(study.optimizer).b == 0.0 and len(study.trials) == 6
    assert not [r for r in _events(journal, "control") if r["action"] == "tune"]
    assert [r["state"] for r in _events(journal, "study_end")] == ["finished"]
    # after the end: every control is refused and changes nothing
    before, concurrency = journal.read_bytes(), study.concurrency
    _controls_refused(study, RuntimeError)
    assert journal.read_bytes() == before and _inner(study.optimizer).b == 0.0
    assert study.state == "finished" and study.concurrency == concurrency


def test_controls_before_start_raise_and_change_nothing(client, journal):
    study = Study(quadratic, X, optimizer=TimeAwareBO(background=False), n_trials=2, cluster=client,
                  journal=journal)
    for control in (study.pause, lambda: study.tune(b=0.2), lambda: study.set_concurrency(1)):
        with pytest.raises(RuntimeError):
            control()
    with pytest.raises((RuntimeError, ValueError)):  # no trial 0 yet: refused either way
        study.kill(0)
    assert study.state == "created" and study.concurrency is None and not journal.exists()
    assert _inner(study.optimizer).b == 0.0


# 7 ---------------------------------------------------------------------------------------------
def test_pause_requeues_no_running_step(client, journal, tmp_path):
    space = {"lr": Real(0.01, 0.2), "sleep": Categorical([0.1])}
    # warm both workers up (torch's first import and first step), so the pauses land on training steps
    Study(CountingTrainable, space, n_trials=2, max_epochs=1, cluster=client, journal=tmp_path / "warm.jsonl",
          prefetch=0).run(progress=False)
    study = Study(CountingTrainable, space, n_trials=6, max_epochs=6, concurrency=2, cluster=client,
                  journal=journal).start()
    for hold in (1.5, 0.5):  # pause as soon as a trial starts (the first one, then the next after the resume)
        seen = len(_events(journal, "trial_start"))
        _until(lambda: len(_events(journal, "trial_start")) > seen, timeout=60)
        study.pause(reason="look")
        time.sleep(hold)  # paused for a while; correctness does not depend on it
        study.resume()
    assert study.wait(60)
    ends = _by_trial(_events(journal, "trial_end"))
    reports = _by_trial(_events(journal, "report"))
    starts = _by_trial(_events(journal, "trial_start"))
    assert sorted(ends) == list(range(6)) and all(len(e) == 1 for e in ends.values()), ends
    for tid in range(6):
        assert [r["epoch"] for r in reports[tid]] == [1, 2, 3, 4, 5, 6], (tid, reports[tid])
        assert [r["epoch"] for r in study.trials[tid].reports] == [1, 2, 3, 4, 5, 6]
        attempts = [r["attempt"] for r in starts[tid]]
        assert attempts == sorted(set(attempts)), f"trial {tid} had two steps of one attempt: {attempts}"
        if hasattr(study.store, "load_payload"):  # every kept checkpoint is the last attempt's (f344c31 kept none)
            kept = [study.store.load_payload(tid, e)["attempt"] for e in study.store.epochs(tid)]
            assert kept and set(kept) == {study.trials[tid].attempt}, (tid, kept, study.trials[tid].attempt)


# 9 ---------------------------------------------------------------------------------------------
def test_observation_losses_are_indexed_by_epoch():
    reports = [{"epoch": 2, "t": 1.0, "metrics": {"loss": 0.5}}, {"epoch": 4, "t": 2.0, "metrics": {"loss": 0.25}}]
    trial = Trial(id=0, config={"x": 0.1}, status=TrialStatus.COMPLETED, reports=reports)
    losses = observe(trial, Goal("loss", "min"), None).losses
    assert len(losses) == 4 and math.isnan(losses[0]) and math.isnan(losses[2])
    assert losses[1] == 0.5 and losses[3] == 0.25


# 10 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, field", [
    ({"checkpoint_every": 0}, "checkpoint_every"), ({"max_retries": -5}, "max_retries"),
    ({"n_trials": True}, "n_trials"), ({"prefetch": "a"}, "prefetch"), ({"trial_timeout": "10"}, "trial_timeout"),
    ({"data": 42}, "data"), ({"resources": "GPU"}, "resources"), ({"resources": {"GPU": -1}}, "resources"),
    ({"optimizer": 42}, "optimizer"), ({"name": "../x"}, "name"), ({"keep_paused": -1}, "keep_paused"),
    ({"keep_paused": True}, "keep_paused"),
])
def test_bad_settings_are_refused_naming_the_field(journal, kwargs, field):
    with pytest.raises((TypeError, ValueError), match=field):
        Study(quadratic, X, journal=journal, **kwargs)


# 11 --------------------------------------------------------------------------------------------
def test_importing_the_policies_loads_no_dask_pandas_or_torch():
    code = ("import sys, hpo_kit.optimizers; heavy = [m for m in ('distributed', 'pandas', 'torch') "
            "if m in sys.modules]; assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# 13 --------------------------------------------------------------------------------------------
def test_bo_under_asha_promotes_and_uses_its_surrogate(client, journal):
    study = Study(quadratic, X, searcher=TimeAwareBO(n_initial_points=4, background=False),
                  scheduler=ASHA(r_min=1, eta=3), max_epochs=9, n_trials=16, cluster=client, journal=journal)
    study.run(progress=False)
    assert _events(journal, "trial_resume"), "ASHA promoted nothing"
    sources = [r["info"].get("source") for r in _events(journal, "trial_create")]
    assert "surrogate" in sources, sources


# 14 --------------------------------------------------------------------------------------------
def test_a_misspelt_metric_fails_the_study(client, journal):
    study = Study(reports_val_loss, X, metric="val_los", n_trials=4, cluster=client, journal=journal)
    with pytest.raises(Exception) as caught:
        study.run(progress=False)
    assert "'val_los'" in str(caught.value) and "val_loss" in str(caught.value), caught.value
    assert study.state == "failed"
    assert [r["state"] for r in _events(journal, "study_end")] == ["failed"]
