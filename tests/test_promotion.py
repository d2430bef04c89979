"""In-step promotion: ASHA promotes at a rung within the running step (no new task, no checkpoint read)."""
from __future__ import annotations

import collections

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.schedulers import ASHA
from hpo_kit.testing import CountingTrainable, pid_and_sleep


def _worker_starts(path):
    """Per trial, the steps a worker actually started (in-step continuations start none)."""
    return collections.Counter(r["trial"] for r in read_journal(path) if r["event"] == "trial_start" and r.get("pid"))


def test_asha_promotes_function_trials_in_the_step(client, journal):
    study = Study(pid_and_sleep, {"x": Real(0, 1), "sleep": Categorical([0.05])}, metric="loss", n_trials=18, seed=0,
                  scheduler=ASHA(r_min=1, eta=3, r_max=9), cluster=client, journal=journal).run(progress=False)
    resumes = [r for r in read_journal(journal) if r["event"] == "trial_resume"]
    assert any(r["info"].get("in_step") for r in resumes), "no promotion happened within its step"
    starts = _worker_starts(journal)
    top = [t for t in study.trials.values() if t.epochs == 9]
    assert top and all(t.status is TrialStatus.COMPLETED for t in top)
    # a trial promoted in its step twice went 1 -> 3 -> 9 in one worker step: epochs 1..3 never retrained
    assert any(starts[t.id] == 1 for t in top), {t.id: starts[t.id] for t in top}
    for t in study.trials.values():  # every epoch once, in order, whatever path it took
        assert [r["epoch"] for r in t.reports] == list(range(1, t.epochs + 1))


def test_a_trainable_promoted_in_the_step_keeps_its_state_in_memory(client, journal):
    space = {"lr": Real(0.01, 0.2), "sleep": Categorical([0.02])}
    study = Study(CountingTrainable, space, metric="loss", n_trials=12, max_epochs=9, seed=0,  # its draws promote
                  scheduler=ASHA(r_min=1, eta=3), cluster=client, journal=journal).run(progress=False)
    in_step = {r["trial"] for r in read_journal(journal) if r["event"] == "trial_resume" and r["info"].get("in_step")}
    assert in_step
    for tid in in_step:
        t = study.trials[tid]
        # "steps" counts epochs trained by one Trainable object: in the step it goes on counting
        assert any(r["metrics"]["steps"] > 1 for r in t.reports), t.reports
    assert study.store.latest(max(in_step, key=lambda i: study.trials[i].epochs)) is not None


def test_a_step_decides_at_its_rungs_alone_without_the_drivers_answer(client, journal, monkeypatch):
    """With the rung's cut-off in its spec a step goes on or pauses at once: the driver never answers."""
    from hpo_kit.engine.driver.runner import Runner

    answers = []
    monkeypatch.setattr(Runner, "answer", lambda self, *a, **k: answers.append(a))  # the driver stays silent
    study = Study(pid_and_sleep, {"x": Real(0, 1), "sleep": Categorical([0.02])}, metric="loss", n_trials=18, seed=0,
                  scheduler=ASHA(r_min=1, eta=3, r_max=9), cluster=client, journal=journal).run(progress=False)
    resumes = [r for r in read_journal(journal) if r["event"] == "trial_resume" and r["info"].get("in_step")]
    assert resumes and all(r["info"].get("by") == "cutoff" for r in resumes), resumes
    assert answers == []
    starts = _worker_starts(journal)
    for tid in {r["trial"] for r in resumes}:  # went on in the same worker step: never a second step for it
        assert starts[tid] == 1 or study.trials[tid].epochs > 3, (tid, starts[tid])
    top = [t for t in study.trials.values() if t.epochs == 9]
    assert top and any(starts[t.id] == 1 for t in top)
    for t in study.trials.values():
        assert [r["epoch"] for r in t.reports] == list(range(1, t.epochs + 1))
        assert t.status in (TrialStatus.COMPLETED, TrialStatus.STOPPED), t.status  # STOPPED: paused at the end


def test_ending_the_trials_still_paused_scans_for_the_best_once(client, journal, monkeypatch):
    """At a natural end every PAUSED trial is ended: the progress bar's best is found once, not once per trial
    (each scan is O(trials): 170 paused trials of 200 cost 0.13 s of a 4-s study before)."""
    from hpo_kit.engine.driver.handler import Driver

    scans = []
    settling = []
    best = Study.best_trial
    monkeypatch.setattr(Study, "best_trial", property(lambda self: (scans.append(bool(settling)), best.fget(self))[1]))
    settle = Driver.settle_paused

    def counted(self):
        settling.append(True)
        try:
            settle(self)
        finally:
            settling.clear()

    monkeypatch.setattr(Driver, "settle_paused", counted)
    study = Study(pid_and_sleep, {"x": Real(0, 1), "sleep": Categorical([0.0])}, metric="loss", n_trials=27, seed=0,
                  scheduler=ASHA(r_min=1, eta=3, r_max=9), cluster=client, journal=journal).run(progress=True)
    settled = [t for t in study.trials.values() if t.status is TrialStatus.STOPPED and "paused at epoch" in t.reason]
    assert len(settled) >= 5, [t.status for t in study.trials.values()]
    assert scans.count(True) == 1
