"""Trials paused at a rung stay alive on their worker and resume there (hpo_kit.engine.worker.kept)."""
from __future__ import annotations

import os
import time

import pytest

from hpo_kit import ASHA, Categorical, Real, Study, read_journal
from hpo_kit.engine.cutoff import RungRule
from hpo_kit.engine.worker import context, kept
from hpo_kit.engine.worker.reporter import Reporter
from hpo_kit.engine.worker.step import StepSpec
from hpo_kit.testing import CountingTrainable

from conftest import cluster_client


def counted_calls(config, reporter):
    """Function form: marks each call (a retrain is a second call), then trains to the step's top."""
    with open(os.path.join(config["dir"], f"call-{reporter.trial_id}-{time.monotonic_ns()}"), "w"):
        pass
    for epoch in range(1, (reporter.max_epochs or 9) + 1):
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)


@pytest.fixture(scope="module")
def one_worker():
    """One single-threaded worker: every resume lands where its trial is kept (no stealing to another)."""
    yield from cluster_client(1)


def _calls(marks) -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir(marks):
        tid = int(name.split("-")[1])
        out[tid] = out.get(tid, 0) + 1
    return out


@pytest.mark.parametrize("keep", [64, 0])
def test_a_promoted_function_trial_goes_on_in_its_kept_frame_instead_of_retraining(one_worker, tmp_path, keep):
    marks = tmp_path / "marks"
    marks.mkdir()
    study = Study(counted_calls, {"x": Real(0, 1), "dir": Categorical([str(marks)])}, n_trials=27, max_epochs=9,
                  scheduler=ASHA(r_min=1, eta=3, seed=0), cluster=one_worker, keep_paused=keep,
                  journal=tmp_path / "j.jsonl")
    study.run(progress=False)
    records = list(read_journal(tmp_path / "j.jsonl"))
    later = {r["trial"] for r in records if r["event"] == "trial_resume" and not (r.get("info") or {}).get("in_step")}
    assert later, "no trial was promoted after its step ended: the test shows nothing"
    calls = _calls(marks)
    retrained = sorted(t for t, n in calls.items() if n > 1)
    # A promotion its step made by a stale cut-off and the driver refused (ASHA exact) unwinds that frame.
    halted = {r["trial"] for r in records if r["event"] == "control" and r["action"] == "halt"}
    if keep:
        assert not set(retrained) - halted, f"trials {retrained} trained again from scratch although kept"
    else:  # the contrast: without keeping, a later promotion of a function trial retrains
        assert set(retrained) - halted == later - halted
    for t in study.trials.values():
        epochs = [r["epoch"] for r in records if r["event"] == "report" and r["trial"] == t.id]
        assert epochs == list(range(1, t.epochs + 1)), (t.id, epochs)


@pytest.mark.parametrize("keep", [64, 0])
def test_a_kept_trainable_resumes_without_reading_its_checkpoint(one_worker, tmp_path, keep):
    study = Study(CountingTrainable, {"lr": Real(0.01, 0.2)}, n_trials=27, max_epochs=9,
                  scheduler=ASHA(r_min=1, eta=3, seed=0), cluster=one_worker, keep_paused=keep,
                  journal=tmp_path / "j.jsonl")
    study.run(progress=False)
    restored = [t.id for t in study.trials.values()
                if any(r["metrics"]["steps"] != r["epoch"] for r in t.reports)]  # steps restart at 1 after a load
    assert max(t.epochs for t in study.trials.values()) == 9
    if keep:
        assert not restored, f"trials {restored} were restored from a checkpoint although kept"
    else:
        assert restored
    # The checkpoints were written all the same, by each worker's background writer: a trial still kept
    # at the end writes its last one as the study's end releases it, so wait for those writes to land.
    deadline = time.monotonic() + 30
    while any(study.store.latest(t.id) != t.epochs for t in study.trials.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for t in study.trials.values():
        assert study.store.latest(t.id) == t.epochs, (t.id, t.epochs, study.store.epochs(t.id))


def test_each_worker_keeps_at_most_keep_paused_and_a_finished_study_keeps_none(client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    seen: list[int] = []

    def count(record):
        if record.get("event") == "trial_pause":
            seen.append(max(len(v) for v in client.run(context.kept_here).values()))

    study = Study(counted_calls, {"x": Real(0, 1), "dir": Categorical([str(marks)])}, n_trials=30, max_epochs=9,
                  scheduler=ASHA(r_min=1, eta=3, seed=1), cluster=client, keep_paused=2,
                  journal=tmp_path / "j.jsonl")
    study.listeners.append(count)
    study.run(progress=False)
    assert seen and 1 <= max(seen) <= 2, seen  # kept, and never more than the bound
    deadline = time.monotonic() + 30  # released by a fire-and-forget Client.run at the study's end
    while any(client.run(context.kept_here).values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(client.run(context.kept_here).values())


def _held(trial_id: int, epoch: int, value: float) -> kept.TrialThread:
    spec = StepSpec(study="s", trial_id=trial_id, attempt=0, config={}, objective=None, budget=epoch, top=9,
                    rule=RungRule({epoch: (None, 3 * epoch)}), keep=2)
    reporter = Reporter(spec, lambda msg: None)
    reporter._values[epoch] = value
    reporter.held_at = (-epoch, value)
    return kept.TrialThread(reporter, lambda r: None)


def test_beyond_the_bound_the_trial_least_likely_to_be_promoted_is_released():
    def spec(tid: int) -> StepSpec:
        return StepSpec(study="s", trial_id=tid, attempt=0, config={}, objective=None, keep=2)

    threads = {1: _held(1, 1, 0.5), 2: _held(2, 3, 0.9), 3: _held(3, 1, 0.2)}
    here = kept.KeptTrials()
    try:
        assert here.keep(spec(1), threads[1]) and here.keep(spec(2), threads[2])
        assert here.keep(spec(3), threads[3])  # rung 1, loss 0.2: better than trial 1 at rung 1, 0.5
        assert sorted(here.ids()) == [2, 3]  # trial 1 (lowest rung, worst loss) was released
        assert threads[1]._go.get_nowait() is False
        worse = _held(4, 1, 0.7)
        assert not here.keep(spec(4), worse)  # the newcomer itself is the least likely: released at once
        assert sorted(here.ids()) == [2, 3]
    finally:
        here.release_all()


def test_a_resume_at_another_epoch_than_the_drivers_releases_the_stale_trial():
    tt = _held(7, 3, 0.1)
    here = kept.KeptTrials()
    here.keep(StepSpec(study="s2", trial_id=7, attempt=0, config={}, objective=None, keep=4), tt)
    stale = StepSpec(study="s2", trial_id=7, attempt=1, config={}, objective=None, start=1)
    assert here.take(stale) is None  # the driver holds 1 epoch (e.g. restarted from an older checkpoint)
    assert tt._go.get_nowait() is False and here.ids() == []


def slow_to_unwind(config, reporter):
    """Function form whose step takes 0.3 s to end after its rung (a long drain)."""
    try:
        for epoch in range(1, (reporter.max_epochs or 9) + 1):
            reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)
    finally:
        time.sleep(0.3)


def test_a_trial_promoted_while_its_step_drains_is_run_not_left_running(client, tmp_path):
    # The draining step's own reports once restarted the resumed trial (RUNNING, no step): the study ended
    # "finished" with it RUNNING. keep_paused=0: the step unwinds at its rung, so the drain is long.
    study = Study(slow_to_unwind, {"x": Real(0, 1)}, n_trials=40, max_epochs=9, scheduler=ASHA(r_min=1, eta=3, seed=2),
                  cluster=client, keep_paused=0, journal=tmp_path / "j.jsonl")
    study.run(progress=False)
    records = list(read_journal(tmp_path / "j.jsonl"))
    stuck = [t.id for t in study.trials.values() if not t.status.is_terminal]
    assert not stuck, f"trials {stuck} were left {[study.trials[i].status.value for i in stuck]}"
    assert sum(1 for r in records if r["event"] == "trial_resume" and "in_step" not in (r.get("info") or {})), \
        "no trial was promoted after its step: the test shows nothing"


def test_a_release_of_a_kept_trial_ends_its_wait():
    tt = _held(8, 1, 0.3)
    here = kept.KeptTrials()
    here.keep(StepSpec(study="s3", trial_id=8, attempt=0, config={}, objective=None, keep=4), tt)
    assert here.release([8, 99]) == 1  # what a kill does, through the run's control record
    assert here.ids() == [] and tt._go.get_nowait() is False


def holds_memory(config, reporter):
    """A function-form trial whose frame holds ``config['mb']`` MiB while it waits at a rung."""
    import numpy as np

    block = np.ones(int(config["mb"]) * 131072)
    for epoch in range(1, (reporter.max_epochs or 9) + 1):
        time.sleep(0.05)
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch + 0.0 * float(block[epoch]))


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def test_a_kill_of_a_kept_trial_frees_its_thread_and_memory_within_2_s(one_worker, tmp_path):
    study = Study(holds_memory, {"x": Real(0, 1), "mb": Categorical([200])}, n_trials=6, max_epochs=9,
                  scheduler=ASHA(r_min=1, eta=3, seed=0), cluster=one_worker, keep_paused=8,
                  journal=tmp_path / "j.jsonl")
    study.start()
    deadline = time.monotonic() + 60
    while not any(one_worker.run(context.kept_here).values()):
        assert time.monotonic() < deadline, "no trial was kept at a rung"
        time.sleep(0.05)
    study.pause().result(10)
    while len(study._driver.steps):  # paused: the steps that had started end (a queued one returns unstarted)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kept_ids = [t for ids in one_worker.run(context.kept_here).values() for t in ids]
    before = max(one_worker.run(_rss).values())
    t0 = time.monotonic()
    for tid in kept_ids:
        study.kill(tid).result(10)
    freed = 0
    while time.monotonic() - t0 < 2.0:
        freed = before - max(one_worker.run(_rss).values())
        if not any(one_worker.run(context.kept_here).values()) and freed >= 0.9 * 200 * 2**20 * len(kept_ids):
            break
        time.sleep(0.05)
    study.stop()
    assert not any(one_worker.run(context.kept_here).values()), "a killed trial is still kept"
    assert freed >= 0.9 * 200 * 2**20 * len(kept_ids), f"{freed / 2**20:.0f} MiB freed for {len(kept_ids)} trial(s)"
