"""The simulator's clock, budgets, target, runaway guard and monitor hook, on tiny hand-made runs."""
from __future__ import annotations

import time

import pytest

from hpo_kit import Categorical, Goal, RandomSearch, Space, TrialStatus
from hpo_kit.engine import simulator
from hpo_kit.engine.simulator import per_epoch, simulate
from hpo_kit.monitor import Finding
from hpo_kit.searchers.grid import GridSearch

SPACE = Space({"x": Categorical([1, 2, 3])})
MAX = Goal("acc", "max")


def grid():
    return GridSearch(points_per_dimension=3)


def test_time_budget_cuts_the_running_trial_at_the_budget():
    res = simulate(grid(), SPACE, MAX, lambda c, e: e, epoch_time=1.0, n_workers=1, max_epochs=10, time_budget=3.5)
    t = res.trials[0]
    assert [r["epoch"] for r in t.reports] == [1, 2, 3]  # the 4th epoch (3..4 s) is not recorded
    assert t.status is TrialStatus.RUNNING and res.cut == [0] and res.ended == "time_budget"
    assert res.wall == 3.5 and res.timeline == [(0, 0, 0.0, 3.5)]
    assert len(res.trials) == 1  # nothing launched after the budget


def test_per_epoch_times_and_their_detection():
    assert per_epoch(lambda c, e: 1.0) and not per_epoch(lambda c: 1.0) and not per_epoch(lambda c, s=2.0: s)
    res = simulate(grid(), SPACE, MAX, lambda c, e: e, epoch_time=lambda c, e: float(e * c["x"]), n_workers=3,
                   max_epochs=3)
    for t in res.trials.values():
        x = t.config["x"]
        assert [r["t"] for r in t.reports] == [x * 1.0, x * 3.0, x * 6.0]
    assert res.wall == 18.0 and res.ended == "natural"


def test_target_ends_the_run_at_the_first_report_that_reaches_it():
    res = simulate(grid(), SPACE, MAX, lambda c, e: c["x"] * e, epoch_time=1.0, n_workers=3, max_epochs=10,
                   target=6.0)
    assert res.time_to_target == 2.0 and res.ended == "target" and res.wall == 2.0  # x=3 at epoch 2
    assert sorted(res.cut) == [0, 1, 2]  # all still running (the hitter too: its report did not end it)
    res = simulate(grid(), Space({"x": Categorical([1])}), Goal("loss", "min"), lambda c, e: 1 / e, 1.0, 1,
                   max_epochs=4, target=0.3)
    assert res.time_to_target == 4.0


class Busy(RandomSearch):
    """A searcher whose every ask burns ``cost`` seconds of thread CPU time (no sleep)."""

    cost = 0.02

    def ask(self, trial_id):
        t0 = time.thread_time()
        while time.thread_time() - t0 < self.cost:
            pass
        return super().ask(trial_id)


def test_decision_time_advances_the_clock_and_delays_launches():
    free = simulate(Busy(seed=0), SPACE, MAX, lambda c, e: 1.0, 1.0, n_workers=1, n_trials=3, max_epochs=1)
    assert free.wall == 3.0 and free.decision_seconds == 0.0
    res = simulate(Busy(seed=0), SPACE, MAX, lambda c, e: 1.0, 1.0, n_workers=1, n_trials=3, max_epochs=1,
                   decision_time=True)
    assert res.decision_seconds >= 3 * Busy.cost and res.decisions == 4  # 3 starts and the refused 4th
    starts = [res.trials[i].started for i in range(3)]
    assert starts[0] >= Busy.cost and all(b - a >= 1.0 + Busy.cost for a, b in zip(starts, starts[1:]))
    assert res.wall >= 3.0 + 3 * Busy.cost


def test_runaway_guard_raises_and_an_explicit_max_events_stops_silently(monkeypatch):
    monkeypatch.setattr(simulator, "RUNAWAY_EVENTS", 50)
    with pytest.raises(ValueError, match="does not finish"):
        simulate(RandomSearch(seed=0), SPACE, MAX, lambda c, e: 1.0, 1.0, 2, max_epochs=2)
    res = simulate(RandomSearch(seed=0), SPACE, MAX, lambda c, e: 1.0, 1.0, 2, max_epochs=2, max_events=30)
    assert res.events == 30 and res.ended == "max_events"
    res = simulate(RandomSearch(seed=0), SPACE, MAX, lambda c, e: 1.0, 1.0, 2, max_epochs=2, n_trials=10)
    assert len(res.trials) == 10  # bounded runs never trip the guard


class AtEpoch:
    """Flags x == 1 at epoch 2 (indicator "A") and every trial at epoch 3 (indicator "B")."""

    def __init__(self):
        self.seen = []

    def check(self, trial, trials, max_epochs):
        epoch = trial.reports[-1]["epoch"]
        self.seen.append((trial.id, epoch, trial.reports[-1].get("diag")))
        if epoch == 2 and trial.config["x"] == 1:
            return Finding("A", epoch, {"why": "x"})
        return Finding("B", epoch) if epoch == 3 else None


def test_monitor_stops_or_only_flags():
    curve = lambda c, e: {"metrics": {"acc": e, "train_loss": 1 / e}, "diag": {"grad_abs": [c["x"]]}}  # noqa: E731
    mon = AtEpoch()
    res = simulate(grid(), SPACE, MAX, curve, 1.0, n_workers=3, max_epochs=5, monitor=mon)
    by_x = {t.config["x"]: t for t in res.trials.values()}
    assert by_x[1].status is TrialStatus.STOPPED and by_x[1].epochs == 2 and by_x[1].reason == "A at epoch 2"
    assert all(by_x[x].status is TrialStatus.STOPPED and by_x[x].epochs == 3 for x in (2, 3))
    assert by_x[1].reports[0]["diag"] == {"grad_abs": [1]} and by_x[1].reports[0]["metrics"]["train_loss"] == 1.0
    assert {(t.config["x"], e, d["grad_abs"][0]) for tid, e, d in mon.seen for t in [res.trials[tid]]} >= {(1, 1, 1)}
    res = simulate(grid(), SPACE, MAX, curve, 1.0, n_workers=3, max_epochs=5, monitor=AtEpoch(), on_flag="flag")
    assert all(t.status is TrialStatus.COMPLETED and t.epochs == 5 for t in res.trials.values())
    assert [f["indicator"] for f in next(t for t in res.trials.values() if t.config["x"] == 1).flags] == ["A", "B"]
    assert sum(len(t.flags) for t in res.trials.values()) == 4  # A once, B three times
    res = simulate(grid(), SPACE, MAX, curve, 1.0, n_workers=3, max_epochs=5, monitor=AtEpoch(), on_flag="off")
    assert all(not t.flags for t in res.trials.values())
    with pytest.raises(ValueError, match="on_flag"):
        simulate(grid(), SPACE, MAX, curve, 1.0, max_epochs=5, monitor=AtEpoch(), on_flag="kill")
