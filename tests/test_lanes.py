"""Lanes (engine.lane, engine.lanes): a study's steps run in one long Dask task per worker thread."""
from __future__ import annotations

import os
import time
from typing import Any

from distributed import CancelledError

from hpo_kit import Study
from hpo_kit.engine.runner import Runner
from hpo_kit.engine.worker import StepResult, StepSpec
from hpo_kit import Real
from hpo_kit.trial import TrialStatus
from hpo_kit.testing import pid_and_sleep, quadratic


class Ordered:
    """A Handler that submits its steps once every lane is live, in order, and records what comes back."""

    def __init__(self, specs: list[StepSpec], lanes: int, cancel: int | None = None) -> None:
        self.specs, self.lanes, self.cancel = specs, lanes, cancel
        self.keys: list[str] = []
        self.done: dict[int, Any] = {}

    def fill(self, runner: Runner) -> None:
        if not self.keys and runner.lanes_live >= self.lanes:
            self.keys = [runner.submit(spec) for spec in self.specs]
            if self.cancel is not None:
                runner.cancel(self.keys[self.cancel])

    def on_message(self, msg: dict[str, Any]) -> None:
        pass

    def on_done(self, spec: StepSpec, result: StepResult | BaseException) -> None:
        self.done[spec.trial_id] = result

    def on_tick(self) -> None:
        pass

    def finished(self) -> bool:
        return len(self.done) == len(self.specs)


def _specs(study: str, sleeps: list[float]) -> list[StepSpec]:
    return [StepSpec(study=study, trial_id=i, attempt=0, config={"x": 0.1, "sleep": s}, objective=pid_and_sleep)
            for i, s in enumerate(sleeps)]


def _task_prefixes(client) -> set[str]:
    return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))


def test_a_studys_steps_run_in_lanes_not_as_a_dask_task_each(client, journal):
    before = _task_prefixes(client)
    study = Study(quadratic, {"x": Real(0, 1)}, n_trials=12, cluster=client, journal=journal)
    study.run(progress=False)
    assert len(study.trials) == 12 and all(t.status is TrialStatus.COMPLETED for t in study.trials.values())
    new = _task_prefixes(client) - before
    assert "hpo-step" not in new  # before lanes: one "hpo-step" task per step
    assert "hpo-lane" in new or "hpo-lane" in before
    # Each trial ran on one of the two workers, and both lanes were used.
    assert len({t.worker for t in study.trials.values()}) == 2


def test_the_task_path_stays_available(client, journal):
    before = _task_prefixes(client)
    study = Study(quadratic, {"x": Real(0, 1)}, n_trials=3, cluster=client, journal=journal, lanes=False)
    study.run(progress=False)
    assert all(t.status is TrialStatus.COMPLETED for t in study.trials.values())
    assert "hpo-step" in _task_prefixes(client) - before or "hpo-step" in before


def test_an_idle_lane_takes_a_queued_step_back_from_a_busy_one(client):
    """A long step, a short one, then one queued behind the long step: when the short one ends, its
    lane is idle and runs the queued step at once, instead of after the long one (Dask would not)."""
    runner = Runner(client, "rebalance-" + os.urandom(3).hex(), lanes=True)
    runner.plan_lanes(2, 2)
    handler = Ordered(_specs(runner.study_id, [3.0, 0.2, 0.2]), lanes=2)
    try:
        runner.run(handler)
    finally:
        runner.close()
    long_, short, queued = (handler.done[i] for i in range(3))
    assert all(isinstance(r, StepResult) and r.outcome == "completed" for r in (long_, short, queued))
    assert queued.worker == short.worker != long_.worker
    assert queued.ended < long_.ended  # it did not wait for the long step


def test_a_queued_lane_step_that_is_cancelled_settles_as_cancelled_and_never_runs(client):
    runner = Runner(client, "cancel-" + os.urandom(3).hex(), lanes=True)
    runner.plan_lanes(1, 3)
    handler = Ordered(_specs(runner.study_id, [1.0, 0.05, 0.05]), lanes=1, cancel=1)
    t0 = time.time()
    try:
        runner.run(handler)
    finally:
        runner.close()
    assert isinstance(handler.done[1], CancelledError)
    assert handler.done[0].outcome == handler.done[2].outcome == "completed"
    assert handler.done[2].started < t0 + 30  # the lane went on with the next step


def _keep_one(study: str) -> list[int]:
    """On a worker: keep a (never started) trial of ``study`` waiting, as a step paused at a rung does."""
    from hpo_kit.engine import kept
    from hpo_kit.engine.reporter import Reporter

    spec = StepSpec(study=study, trial_id=1, attempt=0, config={}, objective=None, keep=4)
    reporter = Reporter(spec, lambda msg: None)
    reporter.held_at = (-1, 0.5)
    kept.keep(spec, kept.TrialThread(reporter, lambda r: None))
    return kept.kept(study)


def _lanes_here() -> list[str]:
    from hpo_kit.engine import lane

    return list(lane._LANES)


def test_a_lane_whose_task_is_cancelled_releases_the_trials_its_study_kept_there(client):
    """The study's end tells its lanes without waiting; a lane never told (its driver gone, the message
    lost) finds its task cancelled and must still free what the study kept waiting in its process."""
    from hpo_kit.engine import kept
    from hpo_kit.engine.lane import run_lane

    study = "gone-" + os.urandom(3).hex()
    where = [sorted(client.scheduler_info()["workers"])[0]]
    assert client.run(_keep_one, study, workers=where) == {where[0]: [1]}
    lane = client.submit(run_lane, study, key=f"hpo-lane-{study}-0", workers=where, pure=False)
    deadline = time.monotonic() + 60
    while lane.key not in client.run(_lanes_here, workers=where)[where[0]]:
        assert time.monotonic() < deadline, "the lane never started"
        time.sleep(0.05)
    lane.cancel()
    deadline = time.monotonic() + 30
    while client.run(kept.kept, study, workers=where)[where[0]]:
        assert time.monotonic() < deadline, "the cancelled lane left its study's kept trial waiting"
        time.sleep(0.05)
