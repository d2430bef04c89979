"""Play any scheduler (or searcher) on a virtual clock: the same protocol as the Dask engine, no cluster.

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
from typing import Any
from dataclasses import dataclass, field

from ..decisions import Decision, Start
from ..goal import Goal
from ..ledger import Ledger
from ..space import Space
from ..trial import Trial, TrialStatus


@dataclass
class SimResult:
    """Trials, the worker timeline ``(worker, trial_id, start, end)`` and utilisation."""

    trials: dict[int, Trial]
    timeline: list[tuple[int, int, float, float]] = field(default_factory=list)
    wall: float = 0.0
    n_workers: int = 1
    decisions: int = 0
    ledger: Any = None  # the run's Ledger (told order, worst loss), for restore tests and analysis

    @property
    def busy(self) -> float:
        return sum(end - start for _, _, start, end in self.timeline)

    @property
    def utilisation(self) -> float:
        """Busy time over ``n_workers * wall``."""
        return self.busy / (self.n_workers * self.wall) if self.wall > 0 else 0.0


def simulate(policy: Any, space: Space, goal: Goal, curve: Callable[[dict, int], float],
             epoch_time: Callable[[dict], float] | float = 1.0, n_workers: int = 4, n_trials: int | None = None,
             max_epochs: int | None = None, time_budget: float | None = None,
             max_events: int = 1_000_000) -> SimResult:
    """Run a scheduler (a searcher runs under FIFO) against fake trials on ``n_workers`` virtual workers.

    Parameters
    ----------
    curve
        Metric value (in the goal's orientation) of ``config`` after ``epoch`` epochs.
    epoch_time
        Seconds per epoch for a config (or a constant).
    max_epochs
        Epochs of a full trial; a Start without a budget trains this many.
    """
    from ..optimizers import make_policy

    if max_epochs is None:
        raise ValueError("simulate: max_epochs is required")
    policy = make_policy(policy)
    step = epoch_time if callable(epoch_time) else (lambda _c, s=float(epoch_time): s)
    now = 0.0
    ledger = Ledger(goal, clock=lambda: now)
    policy.setup(space, goal, max_epochs, n_workers, ledger.trials)
    top = policy.top_epochs or max_epochs
    res = SimResult(ledger._trials, n_workers=n_workers, ledger=ledger)
    heap: list[tuple[float, int, int, int]] = []  # (time, seq, worker, trial)
    free = list(range(n_workers))
    seg_start: dict[int, float] = {}
    seq, events = 0, 0

    def launch(worker: int) -> bool:
        nonlocal seq
        if policy.finished or (time_budget is not None and now >= time_budget):
            return False
        tid = ledger.next_id()
        policy.may_start = n_trials is None or tid < n_trials
        s = policy.suggest(tid)
        res.decisions += 1
        if s is None or (isinstance(s, Start) and not policy.may_start):
            return False
        if isinstance(s, Start):
            t = ledger.create(space.validate(s.config), s.budget if s.budget is not None else max_epochs, s.parent,
                              s.info)
        else:
            t = ledger.resume(s.trial_id, s.budget, s.info)
        ledger.start(t.id, str(worker))
        seg_start[t.id] = now
        seq += 1
        heapq.heappush(heap, (now + step(t.config), seq, worker, t.id))
        return True

    def finish(t: Trial, worker: int, status: TrialStatus) -> None:
        res.timeline.append((worker, t.id, seg_start[t.id], now))
        obs = ledger.end_step(t.id, status, busy=now - seg_start[t.id])
        policy.on_result(obs)
        free.append(worker)

    while True:
        while free and launch(free[0]):
            free.pop(0)
        if not heap or events >= max_events:
            break
        now, _, worker, tid = heapq.heappop(heap)
        events += 1
        t = ledger[tid]
        epoch = t.epochs + 1
        value = float(curve(t.config, epoch))
        ledger.report(tid, {"epoch": epoch, "t": now, "metrics": {goal.metric: value}})
        loss = goal.loss(value) if math.isfinite(value) else None
        if policy.on_report(tid, epoch, loss) is Decision.STOP:
            finish(t, worker, TrialStatus.STOPPED)
        elif epoch >= top:
            finish(t, worker, TrialStatus.COMPLETED)
        elif t.budget is not None and epoch >= t.budget:
            finish(t, worker, TrialStatus.PAUSED)
        else:
            seq += 1
            heapq.heappush(heap, (now + step(t.config), seq, worker, tid))
    res.wall = now
    if events < max_events and (time_budget is None or now < time_budget):
        # A natural end: nothing will resume a trial still PAUSED at its budget (e.g. one that
        # successive halving did not promote): it ends STOPPED, as in a Study.
        for t in ledger.with_status(TrialStatus.PAUSED):
            policy.on_result(ledger.end_step(t.id, TrialStatus.STOPPED,
                                             reason=f"paused at epoch {t.epochs}; not resumed before the end"))
    return res
