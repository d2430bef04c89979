"""The runner settles each step exactly once, whether its done event or its future comes first."""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from hpo_kit.engine.worker.outbox import HOLD
from hpo_kit.engine.driver.runner import Runner
from hpo_kit.engine.driver.steps import Step
from hpo_kit.engine.worker.step import StepResult, StepSpec
from hpo_kit.testing import failing, quadratic


class Recorder:
    """A minimal Handler: submits ``specs`` once, records what comes back, ends ``linger`` s after the last."""

    def __init__(self, specs: list[StepSpec], linger: float = 1.0) -> None:
        self.specs, self.linger = specs, linger
        self.submitted = False
        self.done: list[tuple[int, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.last_done = 0.0

    def fill(self, runner: Runner) -> None:
        self.runner = runner
        if not self.submitted:
            for spec in self.specs:  # what the driver does: a key from the step table, then the hand-over
                seq, key = runner.steps.next_key(spec.trial_id)
                spec = dataclasses.replace(spec, seq=seq)
                runner.steps.hand(seq, key, spec.trial_id, spec.attempt, spec, runner.submit(key, spec))
            self.submitted = True

    def on_message(self, step: Step, msg: dict[str, Any]) -> None:
        self.messages.append(msg)

    def on_done(self, step: Step, result: StepResult | BaseException) -> None:
        self.runner.steps.end(step)  # settled: its later messages and its future are dropped
        self.done.append((step.trial_id, result))
        self.last_done = time.time()

    def on_tick(self) -> None:
        pass

    def finished(self) -> bool:  # keep the loop alive a while so that late futures arrive too
        return len(self.done) >= len(self.specs) and time.time() - self.last_done > self.linger


def test_each_step_is_settled_once_and_its_messages_carry_its_key(client):
    runner = Runner(client, "runner-test")
    objectives = [quadratic] * 5 + [failing]
    # Epochs longer than the outbox's hold: the start and the reports are streamed, not only returned.
    specs = [StepSpec(study=runner.study_id, trial_id=i, attempt=0, config={"x": 0.9, "epochs": 2,
                                                                          "sleep": 2 * HOLD},
                      objective=obj) for i, obj in enumerate(objectives)]
    handler = Recorder(specs)
    try:
        runner.run(handler)
    finally:
        runner.close()
    assert sorted(tid for tid, _ in handler.done) == list(range(len(specs)))  # once each, late futures dropped
    results = dict(handler.done)
    assert all(isinstance(r, StepResult) for r in results.values())
    assert {results[i].outcome for i in range(5)} == {"completed"} and results[5].outcome == "failed"
    assert all(len(results[i].reports) == 2 for i in range(5))
    assert handler.messages and all(m.get("key", "").startswith("hpo-step-runner-test-") for m in handler.messages)
    assert all(m["kind"] != "done" for m in handler.messages)  # the runner keeps done events to itself
    assert {m["kind"] for m in handler.messages} >= {"start", "report"}


def test_a_step_shorter_than_the_hold_sends_only_its_done_event(client):
    """engine.outbox: its start and reports travel in its result; the step still settles once, complete."""
    runner = Runner(client, "short-" + os.urandom(3).hex())
    specs = [StepSpec(study=runner.study_id, trial_id=i, attempt=0, config={"x": 0.2, "epochs": 3},
                      objective=quadratic) for i in range(4)]
    handler = Recorder(specs)
    try:
        runner.run(handler)
    finally:
        runner.close()
    assert handler.messages == []  # before: a start and three reports per step
    results = dict(handler.done)
    assert sorted(results) == [0, 1, 2, 3]
    assert all(r.outcome == "completed" and [m["epoch"] for m in r.reports] == [1, 2, 3] for r in results.values())
    assert all(r.worker and r.pid and r.started > 0 for r in results.values())  # what the start message said


class _Done:
    """A handler with nothing to do: the loop ends at once."""

    def fill(self, runner): pass
    def on_message(self, msg): pass
    def on_done(self, spec, result): pass
    def on_tick(self): pass
    def finished(self): return True


def test_a_control_queued_as_the_loop_ends_is_refused_not_left_unanswered(client):
    runner = Runner(client, "ends-" + os.urandom(3).hex())
    answers: list[str] = []
    runner.call_soon(lambda: answers.append("applied"), lambda: answers.append("refused"))
    runner.run(_Done())  # finished before it reached the queued call
    assert answers == ["refused"]
    runner.call_soon(lambda: answers.append("applied"), lambda: answers.append("refused late"))
    assert answers == ["refused", "refused late"]  # sent after the end: refused at once, in the caller
    runner.close()
