"""Play any scheduler (or searcher) on a virtual clock: the same protocol as the Dask engine, no cluster.

After Syne Tune's ``SimulatorBackend``: trials are learning curves ``curve(config, epoch)``
with epoch durations ``epoch_time``, so a 100-worker study runs in a second. Used by the
optimizer contract tests, the paper-table tests, the benchmarks that need many workers or
many seeds, and :mod:`hpo_kit.bench` (replays of recorded tables). It applies the engine's
rules (budgets, PAUSED at a budget below ``max_epochs``, the one told-loss rule, a monitor's
findings) through the same functions.

The clock
---------
Each epoch of a trial ends ``epoch_time`` virtual seconds after the previous one (or after
its start). By default the policy's decisions take no time. With ``decision_time=True`` the
thread CPU time (:func:`time.thread_time`) of every call on the driver - ``suggest``,
``on_report``, ``on_result`` and the monitor's ``check`` - is added to the clock: the driver
is one thread, so decisions serialise; an event that arrives while the driver is busy is
handled when it is free, a trial launched after a decision starts when the decision ends, and
a trial stopped by a decision frees its worker when the decision ends. Workers never wait for
the driver between epochs (reports are asynchronous, as in the engine).

How a run ends
--------------
* naturally: the policy is finished (or suggests nothing) and no trial runs; trials still
  PAUSED at a budget are then ended STOPPED, as in a :class:`~hpo_kit.Study`;
* ``n_trials``: no new trial after that many (resumes go on);
* ``time_budget`` (a hard budget): nothing is launched at or after it, and a trial running at
  the budget is *cut* there: the epochs it completed before the budget count (they are in its
  reports), the epoch in progress is not recorded, the trial stays RUNNING (a snapshot of a
  study interrupted at that moment: no policy is told) and is listed in ``SimResult.cut``; its
  worker's timeline segment ends at the budget; ``wall`` is the budget;
* ``target``: once a report reaches the target in the goal's orientation (``>=`` for
  ``mode="max"``, ``<=`` for ``"min"``) the run ends at that report (``SimResult.time_to_target``),
  the other running trials cut as at a time budget;
* ``max_events``: with an explicit number, the run stops silently after that many epoch events
  (trials still running: a crash mid-study, for restore tests). Left ``None``, a runaway guard of
  1,000,000 events *raises* ``ValueError``: a policy that never finishes, without ``n_trials``,
  ``time_budget`` or ``target``, would otherwise spin forever.
"""
from __future__ import annotations

import heapq
import inspect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..decisions import Decision, Start
from ..goal import Goal
from ..ledger import Ledger
from ..space import Space
from ..trial import Trial, TrialStatus

#: Epoch events after which a run with ``max_events=None`` is declared a runaway.
RUNAWAY_EVENTS = 1_000_000


@dataclass
class SimResult:
    """Trials, the worker timeline ``(worker, trial_id, start, end)`` and utilisation.

    ``decisions`` counts ``suggest`` calls; ``decision_seconds`` is the thread CPU time of all
    driver calls (0 unless ``decision_time=True``); ``time_to_target`` the virtual time of the first
    report that reached ``target`` (``None``: never, or no target); ``cut`` the trials running when
    the run was cut (time budget or target); ``events`` the epoch events played; ``ended`` why it
    ended: ``"natural"``, ``"time_budget"``, ``"target"`` or ``"max_events"``.
    """

    trials: dict[int, Trial]
    timeline: list[tuple[int, int, float, float]] = field(default_factory=list)
    wall: float = 0.0
    n_workers: int = 1
    decisions: int = 0
    ledger: Any = None  # the run's Ledger (told order, worst loss), for restore tests and analysis
    decision_seconds: float = 0.0
    time_to_target: float | None = None
    cut: list[int] = field(default_factory=list)
    events: int = 0
    ended: str = "natural"

    @property
    def busy(self) -> float:
        return sum(end - start for _, _, start, end in self.timeline)

    @property
    def utilisation(self) -> float:
        """Busy time over ``n_workers * wall``."""
        return self.busy / (self.n_workers * self.wall) if self.wall > 0 else 0.0


def per_epoch(fn: Callable[..., float]) -> bool:
    """True when ``fn`` takes ``(config, epoch)``: two or more required positional parameters (or ``*args``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the old one-argument form
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    return len(required) >= 2


def _as_report(out: Any, metric: str) -> tuple[dict[str, Any], float]:
    """``curve``'s value as a report body (``metrics`` and maybe ``diag``) and the goal metric's value."""
    if isinstance(out, Mapping):
        body = dict(out) if "metrics" in out else {"metrics": dict(out)}
        body["metrics"] = dict(body["metrics"])
        value = body["metrics"].get(metric, math.nan)
        return body, float(value) if value is not None else math.nan
    value = float(out)
    return {"metrics": {metric: value}}, value


def simulate(policy: Any, space: Space, goal: Goal, curve: Callable[[dict, int], Any],
             epoch_time: Callable[..., float] | float = 1.0, n_workers: int = 4, n_trials: int | None = None,
             max_epochs: int | None = None, time_budget: float | None = None,
             max_events: int | None = None, *, monitor: Any = None, on_flag: str = "stop",
             target: float | None = None, decision_time: bool = False, seed: int | None = 0) -> SimResult:
    """Run a scheduler (a searcher runs under FIFO) against fake trials on ``n_workers`` virtual workers.

    See the module docstring for the clock and for how a run ends.

    Parameters
    ----------
    curve
        ``curve(config, epoch)``: the goal metric's value after ``epoch`` epochs (a float), or a
        whole report body: a dict ``{"metrics": {...}, "diag": {...}}`` (``diag`` optional; the
        schema of ``docs/diagnosis.md``), or a plain dict of metrics. The goal's metric must be in it
        (missing or non-finite: the epoch reported no finite score).
    epoch_time
        Seconds of one epoch: a constant, ``f(config)``, or ``f(config, epoch)`` for the epoch about
        to be trained (1-based). The form is told by :func:`per_epoch`: two or more required
        positional parameters mean ``(config, epoch)``.
    n_trials
        Most trials to start (resumes of paused ones go on).
    max_epochs
        Epochs of a full trial; a Start without a budget trains this many.
    time_budget
        Hard budget in virtual seconds (trials running at it are cut: see the module docstring).
    max_events
        Stop silently after this many epoch events; ``None``: raise ``ValueError`` after
        :data:`RUNAWAY_EVENTS` (a runaway run).
    monitor, on_flag
        A :class:`~hpo_kit.monitor.Monitor`, checked after each report that the policy let go on,
        exactly as the engine does; its finding is recorded with ``ledger.flag`` (once per indicator)
        and, with ``on_flag="stop"``, ends the trial STOPPED; ``"flag"`` only records (shadow mode);
        ``"off"`` never checks.
    target
        End the run at the first report whose goal metric reaches it (``SimResult.time_to_target``).
    decision_time
        Count the thread CPU time of the driver's calls on the virtual clock.
    seed
        The seed a policy built without one takes (as ``Study(seed=...)`` gives it); ``0`` by
        default, so a simulation is reproducible; ``None`` leaves the policy's own (fresh) draws.

    Raises
    ------
    ValueError
        Without ``max_epochs``, for a bad ``on_flag``, or when the runaway guard trips.
    """
    from ..optimizers import make_policy

    if max_epochs is None:
        raise ValueError("simulate: max_epochs is required")
    if on_flag not in ("stop", "flag", "off"):
        raise ValueError(f"simulate: on_flag={on_flag!r} must be 'stop', 'flag' or 'off'")
    if max_events is not None and max_events < 0:
        raise ValueError(f"simulate: max_events={max_events!r} must be >= 0")
    policy = make_policy(policy)
    if seed is not None:
        policy.reseed(seed)
    if not callable(epoch_time):
        step = (lambda _c, _e, s=float(epoch_time): s)
    elif per_epoch(epoch_time):
        step = epoch_time
    else:
        step = (lambda c, _e, f=epoch_time: f(c))
    limit = RUNAWAY_EVENTS if max_events is None else max_events
    now = 0.0
    ledger = Ledger(goal, clock=lambda: now)
    res = SimResult(ledger._trials, n_workers=n_workers, ledger=ledger)

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        """A driver call; with ``decision_time`` its thread CPU time advances the clock."""
        nonlocal now
        if not decision_time:
            return fn(*args)
        t0 = time.thread_time()
        try:
            return fn(*args)
        finally:
            spent = time.thread_time() - t0
            res.decision_seconds += spent
            now += spent

    call(policy.setup, space, goal, max_epochs, n_workers, ledger.trials)
    top = policy.top_epochs or max_epochs
    heap: list[tuple[float, int, int, int]] = []  # (time an epoch ends, seq, worker, trial)
    free = list(range(n_workers))
    seg_start: dict[int, float] = {}
    running: dict[int, int] = {}  # trial -> worker
    seq = 0

    def push(tid: int, worker: int, start: float) -> None:
        nonlocal seq
        t = ledger[tid]
        seq += 1
        heapq.heappush(heap, (start + float(step(t.config, t.epochs + 1)), seq, worker, tid))

    def launch(worker: int) -> bool:
        if policy.finished or (time_budget is not None and now >= time_budget):
            return False
        tid = ledger.next_id()
        policy.may_start = n_trials is None or tid < n_trials
        s = call(policy.suggest, tid)
        res.decisions += 1
        if s is None or (isinstance(s, Start) and not policy.may_start):
            return False
        if time_budget is not None and now >= time_budget:  # the decision itself ran past the budget
            return False
        if isinstance(s, Start):
            t = ledger.create(space.validate(s.config), s.budget if s.budget is not None else max_epochs, s.parent,
                              s.info)
        else:
            t = ledger.resume(s.trial_id, s.budget, s.info)
        ledger.start(t.id, str(worker))
        seg_start[t.id], running[t.id] = now, worker
        push(t.id, worker, now)
        return True

    def finish(t: Trial, worker: int, status: TrialStatus, end: float, reason: str | None = None) -> None:
        res.timeline.append((worker, t.id, seg_start[t.id], end))
        running.pop(t.id, None)
        obs = ledger.end_step(t.id, status, busy=end - seg_start[t.id], reason=reason)
        call(policy.on_result, obs)
        free.append(worker)

    def cut(at: float, why: str) -> None:
        nonlocal now
        for tid, worker in sorted(running.items()):
            res.timeline.append((worker, tid, seg_start[tid], max(at, seg_start[tid])))
            res.cut.append(tid)
        running.clear()
        heap.clear()
        now, res.ended = at, why

    while True:
        while free and launch(free[0]):
            free.pop(0)
        if not heap:
            if time_budget is not None and now >= time_budget and res.ended == "natural":
                res.ended = "time_budget"
            break
        if res.events >= limit:
            if max_events is None:
                raise ValueError(f"simulate: {RUNAWAY_EVENTS:,} epoch events and still running: the policy does not "
                                 f"finish by itself; pass n_trials=, time_budget=, target= or an explicit max_events=")
            res.ended = "max_events"
            break
        when = heap[0][0]
        if time_budget is not None and when > time_budget:
            cut(time_budget, "time_budget")
            break
        _, _, worker, tid = heapq.heappop(heap)
        now = max(now, when)  # the driver may still be busy with an earlier decision
        res.events += 1
        t = ledger[tid]
        epoch = t.epochs + 1
        body, value = _as_report(curve(t.config, epoch), goal.metric)
        ledger.report(tid, {"epoch": epoch, "t": when, **body})
        loss = goal.loss(value) if math.isfinite(value) else None
        hit = (target is not None and math.isfinite(value)
               and (value >= target if goal.mode == "max" else value <= target))
        if hit and res.time_to_target is None:
            res.time_to_target = when
        if call(policy.on_report, tid, epoch, loss) is Decision.STOP:
            finish(t, worker, TrialStatus.STOPPED, now, f"{policy.name} stopped it at epoch {epoch}")
        elif monitor is not None and on_flag != "off" and _flagged(call, monitor, ledger, t, max_epochs, on_flag):
            finish(t, worker, TrialStatus.STOPPED, now, f"{t.flags[-1]['indicator']} at epoch {epoch}")
        elif epoch >= top:
            finish(t, worker, TrialStatus.COMPLETED, when)
        elif t.budget is not None and epoch >= t.budget:
            finish(t, worker, TrialStatus.PAUSED, when)
        else:
            push(tid, worker, when)
        if hit:
            cut(now, "target")
            break
    res.wall = now
    if res.ended == "natural":
        # Nothing will resume a trial still PAUSED at its budget (e.g. one that successive halving did
        # not promote): it ends STOPPED, as in a Study.
        for t in ledger.with_status(TrialStatus.PAUSED):
            call(policy.on_result, ledger.end_step(t.id, TrialStatus.STOPPED,
                                                   reason=f"paused at epoch {t.epochs}; not resumed before the end"))
    return res


def _flagged(call: Callable[..., Any], monitor: Any, ledger: Ledger, t: Trial, max_epochs: int, on_flag: str) -> bool:
    """Check ``t`` as the engine does; True when the trial is to stop (a new finding under ``on_flag="stop"``)."""
    finding = call(monitor.check, t, ledger.trials, max_epochs)
    if finding is None or not ledger.flag(t.id, finding.to_dict(), on_flag):
        return False
    if on_flag == "stop":
        ledger.control("kill", "monitor", f"{finding.indicator} at epoch {finding.epoch}", trial=t.id, discard=False)
        return True
    return False
