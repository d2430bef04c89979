"""The step path on Dask's own terms: every step a Dask task, control as state, fencing by step.

Each test here failed on the lane engine (steps handed over by ``Client.run`` into long tasks).
"""
from __future__ import annotations

import os
import threading
import time

import pytest
from distributed import Client

from hpo_kit import ASHA, Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.engine import faults
from hpo_kit.engine.worker import context
from hpo_kit.schedulers.base import Scheduler


def slow_epochs(config, reporter):
    """Epochs of ``config['sec']`` seconds; each epoch's start is marked with a file (trial, attempt, time)."""
    for epoch in range(1, reporter.max_epochs + 1):
        open(os.path.join(config["dir"], f"{reporter.trial_id}-{time.time():.3f}"), "w").close()
        time.sleep(config["sec"])
        open(os.path.join(config["dir"], f"end-{reporter.trial_id}-{epoch}-{time.time():.3f}"), "w").close()
        reporter.report(epoch=epoch, loss=config["x"] + 1 / epoch)


def _space(tmp_path, sec: float) -> dict:
    return {"x": Real(0, 1), "dir": Categorical([str(tmp_path)]), "sec": Categorical([sec])}


def _study(client, tmp_path, sec: float, **kw) -> tuple[Study, object]:
    """A study of ``slow_epochs`` (epochs of ``sec`` s) on ``client`` and its folder of epoch marks."""
    marks = tmp_path / "marks"
    marks.mkdir()
    return Study(slow_epochs, _space(marks, sec), cluster=client, journal=tmp_path / "j.jsonl", **kw), marks


def _epoch_starts(folder) -> list[float]:
    return [float(name.split("-", 1)[1]) for name in os.listdir(folder) if name[0].isdigit()]


def _wait(cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_stop_ends_a_study_whose_epochs_are_long_within_10_s_and_its_steps_start_no_epoch(client, tmp_path):
    study, marks = _study(client, tmp_path, 12.0, n_trials=4, max_epochs=3)
    study.start()
    _wait(lambda: any(t.status is TrialStatus.RUNNING for t in study.trials.values()))
    t0 = time.monotonic()
    study.stop()
    assert time.monotonic() - t0 < 10.0, "stop() did not end the study within 10 s"
    ended = time.time()
    assert study.state == "stopped"
    assert all(t.status.is_terminal for t in study.trials.values())
    # The running epochs finish on their workers (12 s); the next one must not start.
    _wait(lambda: len(_epoch_starts(marks)) == sum(n.startswith("end-") for n in os.listdir(marks)), 30)
    time.sleep(1.0)
    late = [t for t in _epoch_starts(marks) if t > ended + 0.25]
    assert not late, f"{len(late)} epoch(s) started after the study ended"


def test_a_lost_control_write_is_superseded_and_the_kill_lands(client, tmp_path):
    study, marks = _study(client, tmp_path, 0.3, n_trials=2, max_epochs=60, trial_timeout=60)
    study.start()
    _wait(lambda: any(t.status is TrialStatus.RUNNING for t in study.trials.values()))
    victim = next(t.id for t in study.trials.values() if t.status is TrialStatus.RUNNING)
    faults.drop("control", 2)  # the write that carries the kill, and the next, are lost in transit
    try:
        t0 = time.monotonic()
        study.kill(victim).result(10)
        _wait(lambda: study.trials[victim].status.is_terminal, 15)  # a heartbeat rewrite carries it
        assert time.monotonic() - t0 < 15
    finally:
        faults.clear()
    study.stop()
    assert study.trials[victim].status is TrialStatus.KILLED


def test_lost_worker_events_lose_no_result(client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    for kind in ("start", "done", "report", "batch"):
        client.run(faults.drop, kind, 2)
    try:
        study = Study(slow_epochs, _space(marks, 0.05), n_trials=6, max_epochs=3, cluster=client,
                      journal=tmp_path / "j.jsonl", trial_timeout=60)
        t0 = time.monotonic()
        study.run(progress=False)
        assert time.monotonic() - t0 < 90
    finally:
        client.run(faults.clear)
    assert [t.status for t in study.trials.values()] == [TrialStatus.COMPLETED] * 6
    assert all(len(t.reports) == 3 for t in study.trials.values())


def test_another_clients_task_runs_within_2_s_while_a_study_runs_and_while_it_is_paused(client, tmp_path):
    study, marks = _study(client, tmp_path, 0.3, n_trials=40, max_epochs=3)
    study.start()
    other = Client(client.scheduler.address)
    try:
        _wait(lambda: sum(t.status is TrialStatus.RUNNING for t in study.trials.values()) == 2)
        t0 = time.monotonic()
        assert other.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
        running_wait = time.monotonic() - t0
        study.pause().result(10)
        t0 = time.monotonic()
        assert other.submit(sum, [3, 4], pure=False).result(timeout=30) == 7
        paused_wait = time.monotonic() - t0
        # Paused: every step that started has ended within a few epochs, and no worker runs one.
        _wait(lambda: not any(t.status is TrialStatus.RUNNING for t in study.trials.values()), 10)
        assert other.submit(sum, [5], pure=False).result(timeout=2) == 5
    finally:
        other.close()
        study.stop()
    assert running_wait < 2.0 and paused_wait < 2.0, (running_wait, paused_wait)


def test_two_studies_on_one_cluster_both_make_progress(client, tmp_path):
    studies = []
    for name in ("a", "b"):
        marks = tmp_path / name
        marks.mkdir()
        studies.append(Study(slow_epochs, _space(marks, 0.1), n_trials=6, max_epochs=3, cluster=client,
                             journal=tmp_path / f"{name}.jsonl"))
    for s in studies:
        s.start()
    for s in studies:
        assert s.wait(120)
    a, b = ([t for t in s.trials.values()] for s in studies)
    assert all(t.status is TrialStatus.COMPLETED for t in a + b)
    # Interleaved: the second study started trials before the first one ended.
    assert min(t.started for t in b) < max(t.ended for t in a)


def test_iterating_trials_during_a_run_raises_nothing(client, tmp_path):
    study, marks = _study(client, tmp_path, 0.01, n_trials=30, max_epochs=3)
    study.start()
    seen = 0
    for _ in range(10_000):
        seen += sum(1 for _ in study.trials.values())
    study.wait(120)
    snapshot = study.trials
    t = next(iter(snapshot.values()))
    t.reports.clear()  # a copy: the ledger keeps its own
    assert study.trials[t.id].reports and seen > 0


def test_a_time_budget_ends_running_trials_as_policy_stops(client, tmp_path):
    study, marks = _study(client, tmp_path, 0.5, n_trials=10, max_epochs=20, time_budget=2.0)
    study.run(progress=False)
    cut = [t for t in study.trials.values() if t.epochs < 20]
    assert cut and all(t.status is TrialStatus.STOPPED for t in cut), [t.status for t in cut]
    kills = [r for r in read_journal(tmp_path / "j.jsonl") if r["event"] == "control" and r["action"] == "kill"]
    assert kills and all(r["source"] == "policy" for r in kills)


class CrashesAfterTwo(Scheduler):
    """FIFO that crashes on its third result (a policy bug) while other trials are mid-training."""

    name = "crashes"

    def on_result(self, obs) -> None:
        super().on_result(obs)
        if len(self.ledger_told) >= 3:
            raise RuntimeError("policy bug")

    @property
    def ledger_told(self) -> list:
        return [t for t in self.trials.values() if t.status.is_terminal]


def test_after_a_policy_crash_no_step_of_the_study_starts_an_epoch(client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    from hpo_kit.searchers import RandomSearch

    def uneven(config, reporter):  # trial 0..2 end fast; the others train on
        n = 1 if reporter.trial_id < 3 else reporter.max_epochs
        for epoch in range(1, n + 1):
            open(os.path.join(config["dir"], f"{reporter.trial_id}-{time.time():.3f}"), "w").close()
            time.sleep(0.2)
            reporter.report(epoch=epoch, loss=config["x"])

    study = Study(uneven, _space(marks, 0.0), n_trials=8, max_epochs=50, cluster=client,
                  scheduler=CrashesAfterTwo(RandomSearch()), journal=tmp_path / "j.jsonl")
    with pytest.raises(RuntimeError, match="policy bug"):
        study.run(progress=False)
    ended = time.time()
    time.sleep(2.0)
    late = [t for t in _epoch_starts(marks) if t > ended + 0.25]
    assert not late, f"{len(late)} epoch(s) started after run() raised"


def test_a_checkpoint_past_the_ledgers_epochs_is_refused_on_load(tmp_path):
    from hpo_kit.engine.checkpoint import CheckpointStore
    from hpo_kit.engine.worker.step import StepSpec, _resumable

    store = CheckpointStore(str(tmp_path / "ckpt"), keep=5)
    for epoch in (1, 2, 3):  # epoch 3: written by an older attempt that trained on, never accepted
        store.save(7, epoch, {"w": epoch}, report={"loss": 1.0}, attempt=0)
    spec = StepSpec(study="r", trial_id=7, attempt=1, config={}, objective=None, store=store, start=2)
    assert _resumable(spec) == 2
    assert _resumable(StepSpec(study="r", trial_id=7, attempt=1, config={}, objective=None, store=store,
                               start=0)) is None


def test_a_study_leaves_no_context_on_its_workers(client, tmp_path):
    study, _ = _study(client, tmp_path, 0.01, n_trials=4, max_epochs=3, scheduler=ASHA(r_min=1, eta=3))
    study.run(progress=False)
    run = study._runner.study_id
    _wait(lambda: not any(run in runs for runs in client.run(context.runs).values()), 10)
    assert not any(client.run(context.kept_here).values())


def _fence_probe(run_id: str) -> tuple[int, int, bool]:
    """On a worker: reads of the run's record made by a step's start check, before and after FENCE."""
    from distributed import Variable, get_client

    from hpo_kit.engine.driver.control import FENCE, variable_name

    ctx = context.StudyContext(run_id)
    ctx.refresh(force=True)
    reads = [0]
    var_get = ctx._var.get

    def counted(*a, **kw):
        reads[0] += 1
        return var_get(*a, **kw)

    ctx._var.get = counted
    ctx.fenced()  # a read asked within FENCE serves: no round trip
    within = reads[0]
    time.sleep(2 * FENCE)
    Variable(variable_name(run_id), client=get_client()).set({"ended": True})
    ended = bool(ctx.fenced().get("ended"))  # older than FENCE: read anew, so a write before it is seen
    return within, reads[0], ended


def test_a_step_start_reads_the_record_only_when_the_last_read_was_asked_over_fence_ago(client):
    from distributed import Variable

    from hpo_kit.engine.driver.control import variable_name

    Variable(variable_name("fence-probe"), client=client).set({"ended": False})
    within, total, ended = client.submit(_fence_probe, "fence-probe", pure=False).result(30)
    assert within == 0, "a read asked just before was not reused at a step's start"
    assert total == 1 and ended, "a step started on a read asked more than FENCE before it"
