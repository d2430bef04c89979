"""A step's messages are coalesced on the worker (engine.outbox); its code is pickled once per run (engine.shipping)."""
from __future__ import annotations

import os
import threading
from typing import Any

import cloudpickle

from hpo_kit.engine.worker.outbox import Outbox
from hpo_kit.engine.worker.context import StudyContext
from hpo_kit.engine.shipping import Shipper
from hpo_kit.engine.worker.step import StepSpec


class Timers:
    """``later`` on real timer threads, which a test can wait for."""

    def __init__(self) -> None:
        self.timers: list[threading.Timer] = []

    def __call__(self, seconds: float, fn: Any) -> None:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def join(self) -> None:
        for timer in self.timers:
            timer.join(timeout=30)


def test_messages_within_the_hold_travel_as_one_batch_when_it_expires():
    sent: list[dict] = []
    arrived = threading.Event()
    timers = Timers()
    box = Outbox(lambda m: (sent.append(m), arrived.set()), timers, hold=0.05)
    box({"kind": "start"})
    box({"kind": "report", "epoch": 1})
    assert sent == []  # held
    assert arrived.wait(30)
    assert sent == [{"kind": "batch", "msgs": [{"kind": "start"}, {"kind": "report", "epoch": 1}]}]
    box({"kind": "report", "epoch": 2})  # the next burst is held afresh
    timers.join()
    assert sent[-1] == {"kind": "report", "epoch": 2}


def test_a_step_that_ends_within_the_hold_sends_nothing_it_held():
    sent: list[dict] = []
    timers = Timers()
    box = Outbox(sent.append, timers, hold=0.05)
    box({"kind": "start"})
    box.close(drop=True)  # its done event carries the start and the reports
    timers.join()  # the hold has expired: nothing goes out late
    assert sent == []
    box({"kind": "report", "epoch": 1})  # after the end, at once
    assert sent == [{"kind": "report", "epoch": 1}]


def test_a_report_the_driver_must_answer_is_not_held():
    """In-step promotion without a rung rule: the step waits for the driver's answer to this very report."""
    spec = StepSpec(study="ob-" + os.urandom(3).hex(), trial_id=4, attempt=0, config={}, objective=None,
                    budget=1, top=3)
    heard: dict[int, int] = {}

    class Record(StudyContext):  # the run's control record, as the driver writes it once it heard the report
        def answer(self, seq: int, epoch: int) -> tuple[bool, int | None]:
            return (True, heard[epoch]) if epoch in heard else (False, None)

    def driver(msg: dict) -> None:  # the driver's answer, as soon as it hears the report: go on to 3 epochs
        for m in msg.get("msgs", [msg]):
            if m["kind"] == "report":
                heard[m["epoch"]] = 3

    from hpo_kit.engine.worker.reporter import Reporter

    reporter = Reporter(spec, Outbox(driver, Timers(), hold=60.0), ctx=Record(spec.study))
    reporter.report(epoch=1, loss=1.0)  # held for 60 s, it would end the step (BudgetReached) after 10 s
    assert reporter.budget == 3


def _objective_reading(box: list) -> Any:
    def objective(config: dict, reporter: Any) -> None:
        reporter.report(epoch=1, loss=float(box[0]))
    return objective


def test_a_run_pickles_its_objective_once_and_a_process_loads_it_once():
    shipper = Shipper()
    table = [0.5] + [0.0] * 50_000  # a global the objective reads: shipped with it by value
    objective = _objective_reading(table)
    blobs = [cloudpickle.dumps(StepSpec(study="s", trial_id=i, attempt=0, config={}, objective=objective,
                                        ship=shipper)) for i in range(3)]
    assert shipper.ship(objective) is shipper.ship(objective)  # one payload per run
    copies = [cloudpickle.loads(b) for b in blobs]
    assert copies[0].objective is not objective
    assert all(c.objective is copies[0].objective for c in copies)  # unpickled once here
    assert all(c.ship is None for c in copies)
    table[0] = 0.25  # a new run ships what the objective reads now
    fresh = cloudpickle.loads(cloudpickle.dumps(StepSpec(study="s", trial_id=0, attempt=0, config={},
                                                         objective=objective, ship=Shipper())))
    seen: list[float] = []

    class Tell:
        def report(self, epoch: int, loss: float) -> None:
            seen.append(loss)

    copies[0].objective({}, Tell())
    fresh.objective({}, Tell())
    assert seen == [0.5, 0.25]
