"""Play any optimizer on a virtual clock: the same protocol as the Dask engine, no cluster.

After Syne Tune's ``SimulatorBackend``: trials are learning curves ``curve(config, epoch)``
with epoch durations ``epoch_time(config)``, so a 100-worker study runs in a second.
Used by the optimizer contract tests, the paper-table tests and the benchmarks that
need many workers or many seeds. It applies the engine's rules (budgets, PAUSED at a
budget below ``max_epochs``, the one told-loss rule) through the same functions.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..goal import Goal
from ..optimizers.base import Decision, Optimizer, Start
from ..space import Space
from ..trial import Trial, TrialStatus, observe


@dataclass
class SimResult:
    """Trials, the worker timeline ``(worker, trial_id, start, end)`` and utilisation."""

    trials: dict[int, Trial]
    timeline: list[tuple[int, int, float, float]] = field(default_factory=list)
    wall: float = 0.0
    n_workers: int = 1
    decisions: int = 0

    @property
    def busy(self) -> float:
        return sum(end - start for _, _, start, end in self.timeline)

    @property
    def utilisation(self) -> float:
        """Busy time over ``n_workers * wall``."""
        return self.busy / (self.n_workers * self.wall) if self.wall > 0 else 0.0


def simulate(optimizer: Optimizer, space: Space, goal: Goal, curve: Callable[[dict, int], float],
             epoch_time: Callable[[dict], float] | float = 1.0, n_workers: int = 4, n_trials: int | None = None,
             max_epochs: int | None = None, time_budget: float | None = None,
             max_events: int = 1_000_000) -> SimResult:
    """Run ``optimizer`` against fake trials on ``n_workers`` virtual workers.

    Parameters
    ----------
    curve
        Metric value (in the goal's orientation) of ``config`` after ``epoch`` epochs.
    epoch_time
        Seconds per epoch for a config (or a constant).
    max_epochs
        Epochs of a full trial; a Start without a budget trains this many.
    """
    if max_epochs is None:
        raise ValueError("simulate: max_epochs is required")
    step = epoch_time if callable(epoch_time) else (lambda _c, s=float(epoch_time): s)
    optimizer.setup(space, goal, max_epochs, n_workers)
    trials: dict[int, Trial] = {}
    res = SimResult(trials, n_workers=n_workers)
    heap: list[tuple[float, int, int, int]] = []  # (time, seq, worker, trial)
    free = list(range(n_workers))
    seg_start: dict[int, float] = {}
    worst: list[float] = []
    now, seq, events = 0.0, 0, 0

    def launch(worker: int) -> bool:
        nonlocal seq
        if optimizer.finished or (time_budget is not None and now >= time_budget):
            return False
        optimizer.may_start = n_trials is None or len(trials) < n_trials
        s = optimizer.suggest(len(trials))
        res.decisions += 1
        if s is None or (isinstance(s, Start) and not optimizer.may_start):
            return False
        if isinstance(s, Start):
            tid = len(trials)
            budget = s.budget if s.budget is not None else max_epochs
            trials[tid] = Trial(tid, space.validate(s.config), budget=budget, parent=s.parent, created=now)
        else:
            tid = s.trial_id
            assert trials[tid].status is TrialStatus.PAUSED, f"Resume of a {trials[tid].status} trial"
            trials[tid].budget = s.budget
        t = trials[tid]
        t.status, t.worker = TrialStatus.RUNNING, str(worker)
        t.started = now if t.started is None else t.started
        seg_start[tid] = now
        seq += 1
        heapq.heappush(heap, (now + step(t.config), seq, worker, tid))
        return True

    def finish(t: Trial, worker: int, status: TrialStatus) -> None:
        t.status, t.ended = status, now
        t.busy += now - seg_start[t.id]
        res.timeline.append((worker, t.id, seg_start[t.id], now))
        obs = observe(t, goal, max(worst) if worst else None)
        if obs.loss is not None and not obs.failed:
            worst.append(obs.loss)
        optimizer.on_result(obs)
        free.append(worker)

    while True:
        while free and launch(free[0]):
            free.pop(0)
        if not heap or events >= max_events:
            break
        now, _, worker, tid = heapq.heappop(heap)
        events += 1
        t = trials[tid]
        epoch = t.epochs + 1
        value = float(curve(t.config, epoch))
        t.reports.append({"epoch": epoch, "t": now, "metrics": {goal.metric: value}})
        loss = goal.loss(value) if math.isfinite(value) else None
        if optimizer.on_report(tid, epoch, loss) is Decision.STOP:
            finish(t, worker, TrialStatus.STOPPED)
        elif epoch >= max_epochs:
            finish(t, worker, TrialStatus.COMPLETED)
        elif t.budget is not None and epoch >= t.budget:
            finish(t, worker, TrialStatus.PAUSED)
        else:
            seq += 1
            heapq.heappush(heap, (now + step(t.config), seq, worker, tid))
    res.wall = now
    if events < max_events and (time_budget is None or now < time_budget):
        # A natural end: nothing will resume a trial still PAUSED at its budget (e.g. one that
        # successive halving did not promote): it ends STOPPED, as in Study (controller._settle_paused).
        for t in trials.values():
            if t.status is TrialStatus.PAUSED:
                t.status, t.reason = TrialStatus.STOPPED, f"paused at epoch {t.epochs}; not resumed before the end"
                optimizer.on_result(observe(t, goal, max(worst) if worst else None))
    return res
