"""What runs on a Dask worker: one *step* of one trial.

A step trains a trial from its latest checkpoint (or from scratch) up to an epoch
budget. Its start and every report are streamed to the driver as Dask events (``log_event``,
coalesced by :mod:`.outbox`: a step that ends within ``outbox.HOLD`` sends only its result)
while the step runs, and are also returned in the :class:`StepResult`, so the driver can
reconcile a stream that lagged or broke. The reporter and the worker-local flags
(kill, pause, in-step answers) are in :mod:`.reporter`; code file names in :mod:`.codefiles`.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...inherit import explain_load_error, looks_like_state_mismatch
from ...trainable import Trainable
from ..cutoff import RungRule
from .. import faults
from . import kept, writer
from ..checkpoint import CheckpointStore
from ..codefiles import code_files, restore_code_files
from .context import FENCE, StudyContext, context
from ..deaths import running
from .outbox import Outbox, later_on
from .reporter import BudgetReached, Reporter, ReportError, TrialStopped  # noqa: F401


def load_data(loader: Callable[[], Any] | None) -> Any:
    """``loader()`` outside a step (the driver: ``best_model``, ensembles); steps cache theirs per run."""
    return None if loader is None else loader()


@dataclass(frozen=True)
class StepSpec:
    """One unit of work: train ``trial_id`` up to ``budget`` epochs (``study``: the run's id)."""

    study: str
    trial_id: int
    attempt: int
    config: dict[str, Any]
    objective: Any
    budget: int | None = None
    parent: int | None = None
    store: CheckpointStore | None = None
    data: Callable[[], Any] | None = None
    metric: str = "loss"
    checkpoint_every: int = 1
    torch_threads: int | None = None
    top: int | None = None  # set: at ``budget`` wait for the driver's answer, up to ``top`` (hpo_kit.engine.driver.promotion)
    rule: RungRule | None = None  # set with ``top``: decide at the rungs alone, no answer (hpo_kit.engine.cutoff)
    keep: int = 0  # with ``top``: trials paused at a rung this worker keeps waiting, at most (engine.kept)
    start: int | None = None  # the epochs the driver holds for the trial: a kept trial resumes only there
    ship: Any = None  # the run's Shipper: objective and data pickled once per run (engine.shipping)
    seq: int = 0  # the step's number in its run (engine.steps): the worker fences steps by it (engine.control)
    parent_config: dict[str, Any] | None = None  # the parent's, for an error naming the dimensions to inherit
    gaps: tuple[int, ...] = ()  # epochs below ``start`` the driver has no report of: resent from checkpoints

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["ship"] = None
        if self.ship is not None:  # each worker process unpickles them once, code file names included
            state["objective"], state["data"] = self.ship.ship(self.objective), self.ship.ship(self.data)
            state["_code_files"] = None
            return state
        files = {**(code_files(self.objective) or {}), **(code_files(self.data) or {})}
        state["_code_files"] = files or None  # the original files of the code shipped by value
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        files = state.pop("_code_files", None)
        self.__dict__.update(state)
        restore_code_files(self.objective, files)
        restore_code_files(self.data, files)


@dataclass
class StepResult:
    """What a step returns to the driver (small: state stays in the checkpoint store)."""

    trial_id: int
    attempt: int
    outcome: str  # completed | budget | stopped | failed | not_started
    reports: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    reason: str | None = None
    worker: str | None = None
    pid: int | None = None
    started: float = 0.0
    ended: float = 0.0
    busy: float = 0.0  # seconds of training: the step's wall time less its warm-up (``setup``)
    setup: float = 0.0  # seconds of warm-up: first imports, the study's data, a Trainable's setup and restore
    kept: bool = False  # it ended at a rung with its trial kept waiting on this worker (engine.kept)


def _worker_emit(study: str) -> tuple[Callable[[dict], None], str | None, str | None]:
    """The event sender of this task, the worker's address and this task's key.

    Every message carries the step's key, so the driver can drop messages of a step it
    has already settled (e.g. a re-run of it after its worker died).
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:  # not on a worker (direct call in tests)
        return (lambda msg: None), None, None
    try:
        key = worker.get_current_task()
    except KeyError:  # not inside a task thread
        key = None
    topic = f"hpo-kit-{study}"
    # A step's start and reports wait up to outbox.HOLD s: a short step sends only its "done" event.
    def log(msg: dict) -> None:
        if not faults.take(msg.get("kind", "")):  # a test dropping this message in transit
            worker.log_event(topic, {**msg, "key": key})

    send = Outbox(log, later_on(worker))
    return send, worker.address, key


def run_step(spec: StepSpec, emit: Callable[[dict], None] | None = None) -> StepResult:
    """Run one step of a trial on this worker (the Dask task of a step); never raises for trial errors.

    The result is returned (the future's value, authoritative) and also sent ahead as a
    ``"done"`` event: the event reaches the driver on the stream that already carries the
    reports, while the future's value needs the scheduler's notice and then a fetch from this
    worker. The driver settles the step on whichever arrives first; a lost event costs only
    that round trip.
    """
    worker_emit, address, key = _worker_emit(spec.study)
    ctx = context(spec.study)
    with running(key):  # if the process dies now, its nanny names this step as the one running
        res = _run(spec, emit or worker_emit, address, ctx)
    ctx.prefetch()  # the next step here starts on this read (StudyContext.fenced)
    if isinstance(worker_emit, Outbox):
        worker_emit.close(drop=key is not None)  # the "done" event carries the held start and reports
    if key is not None:
        try:
            worker_emit({"kind": "done", "trial": spec.trial_id, "attempt": spec.attempt, "result": dict(vars(res))})
        except Exception:  # noqa: BLE001 - the future still carries the result
            pass
    return res


def _run(spec: StepSpec, emit: Callable[[dict], None], address: str | None,
         ctx: StudyContext | None = None) -> StepResult:
    ctx = ctx or context(spec.study)
    res = StepResult(spec.trial_id, spec.attempt, "not_started", worker=address, pid=os.getpid())
    reason = ctx.verdict(spec.seq, fence=FENCE)  # a step's start: a pause or end written before it holds
    if reason is not None:
        res.outcome, res.reason = "stopped", reason
        return res
    if ctx.paused:
        return res
    if spec.torch_threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(spec.torch_threads)
    res.started = time.time()
    t0 = time.perf_counter()
    emit({"kind": "start", "trial": spec.trial_id, "attempt": spec.attempt, "t": res.started,
          "worker": address, "pid": res.pid})
    tt = ctx.kept.take(spec) if spec.start else None
    if tt is not None:  # waiting at a rung on this worker since its last step: carry on, no checkpoint read
        reporter = tt.reporter
        outcome = tt.next_step(spec, emit)
    elif spec.keep and spec.top is not None:
        reporter = Reporter(spec, emit, ctx=ctx)
        tt = kept.TrialThread(reporter, _execute)
        outcome = tt.first_step()
    else:
        reporter = Reporter(spec, emit, ctx=ctx)
        outcome = _execute(reporter)
    if outcome is kept.HELD:
        res.outcome, res.kept = "budget", ctx.kept.keep(spec, tt)
        if res.kept:
            ctx.watch_kept()  # a kill or the study's end releases it though no step of it runs here
    elif isinstance(outcome, BaseException):  # the trial thread itself broke (not the objective)
        res.outcome, res.error = "failed", _error_text(outcome)
        res.traceback = "".join(traceback.format_exception(type(outcome), outcome, outcome.__traceback__))
    else:
        res.outcome, res.reason, res.error, res.traceback = outcome
    res.reports = reporter.reports
    res.ended = time.time()
    res.setup = reporter.setup_seconds
    res.busy = max(0.0, time.perf_counter() - t0 - res.setup)
    return res


def _execute(reporter: Reporter) -> tuple[str, str | None, str | None, str | None]:
    """Run the trial's objective until it ends: ``(outcome, reason, error, traceback)``; never raises."""
    spec = reporter.spec
    outcome: tuple[str, str | None, str | None, str | None] = ("completed", None, None, None)
    try:
        if isinstance(spec.objective, type) and issubclass(spec.objective, Trainable):
            _run_trainable(spec, reporter)
        else:
            if spec.data is not None:
                reporter.data  # noqa: B018 - loaded in the warm-up, before the trial's clock starts
            reporter.ready()
            value = spec.objective(spec.config, reporter)
            if value is not None:  # metrics come from reports only: a returned score is not silently used
                raise ObjectiveReturned(f"objective returned {_short(value)}; report metrics with "
                                        f"reporter.report(epoch=..., {spec.metric}=...) and return None")
            if not reporter.reports and reporter.invalid is None and not reporter.should_stop():
                raise ObjectiveReturned(f"objective returned without a report; report metrics with "
                                        f"reporter.report(epoch=..., {spec.metric}=...)")
    except BudgetReached:
        outcome = ("budget", None, None, None)
    except TrialStopped as stop:
        outcome = ("stopped", str(stop.args[0]) if stop.args else None, None, None)
    except BaseException as exc:  # noqa: BLE001 - the trial's own failure (SystemExit included): record it
        outcome = ("failed", None, _error_text(exc), traceback.format_exc())
    if reporter.invalid is not None and outcome[0] != "stopped":  # a bad report, even one the objective caught
        bad = reporter.invalid
        outcome = ("failed", None, _error_text(bad),
                   "".join(traceback.format_exception(type(bad), bad, bad.__traceback__)))
    return outcome


class ObjectiveReturned(TypeError):
    """A function-form objective returned a value (or nothing, without any report)."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error_text(exc: BaseException) -> str:
    """``"Type: message"``, or just the type when the message is empty (``KeyboardInterrupt``)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _inherit_error(spec: StepSpec, exc: BaseException) -> BaseException:
    return explain_load_error(exc, spec.config, spec.parent_config or {}, trial_id=spec.trial_id,
                              parent_id=spec.parent)


def _resumable(spec: StepSpec) -> int | None:
    """The checkpoint epoch a step resumes from: the latest the driver's ledger holds (``spec.start``).

    A checkpoint past it was written by a step whose reports the driver never accepted (an
    older attempt that trained on, a step lost before its result): it is refused, and the
    trial goes on from what the ledger holds.
    """
    held = [e for e in spec.store.epochs(spec.trial_id) if spec.start is None or e <= spec.start]
    return max(held) if held else None


def _backfill(spec: StepSpec, reporter: Reporter, start: int) -> None:
    """Resend the reports of the checkpoints the store still holds for the driver's gaps below ``start``."""
    held = set(spec.store.epochs(spec.trial_id)) if spec.gaps else set()
    for epoch in sorted(e for e in spec.gaps if e < start and e in held):
        _, _, report = spec.store.load_record(spec.trial_id, epoch)
        if report is not None:
            reporter.backfill(epoch, report)


def _run_trainable(spec: StepSpec, reporter: Reporter) -> None:
    if spec.budget is None:
        raise ValueError("a Trainable trial needs an epoch budget: set the study's max_epochs")
    if spec.store is not None:
        import torch  # noqa: F401 - the checkpoints need it: a first import is warm-up, not the first epoch
    trainable = spec.objective()
    trainable.setup(spec.config, reporter.data)
    probe = getattr(trainable, "diagnostics", None)  # e.g. a diagnosis Watcher's collect()
    if callable(probe):
        reporter.add_probe(probe)
    start, copied, restored, report = 0, False, False, None
    if spec.store is not None:
        writer.wait(spec.store, spec.trial_id)  # this process's writes of the trial (a released kept trial)
        epoch = _resumable(spec)
        if epoch is not None:
            start, state, report = spec.store.load_record(spec.trial_id, epoch)
            trainable.load_state_dict(state)
            restored = True
        elif spec.parent is not None:
            _, state = spec.store.load(spec.parent)  # a new trial from another's weights: own history
            copied = True
            try:
                trainable.load_state_dict(state)
            except Exception as exc:  # noqa: BLE001 - a state that does not fit this configuration: say why
                raise _inherit_error(spec, exc) from exc
    reporter.ready()
    if restored:
        _backfill(spec, reporter, start)
        reporter.epoch = start
        # A kill between checkpoint and report must not lose the epoch; a checkpoint at the budget
        # (a finished trial whose end the journal lost) ends the step here, with nothing retrained.
        if report is not None:
            reporter.resend(report)
        else:
            reporter.boundary(start)
    reporter.epoch = start
    epoch = start
    try:
        while True:  # report() ends the loop at the budget (BudgetReached), unless the trial goes on
            epoch += 1
            try:
                metrics = trainable.train_epoch(epoch)
            except Exception as exc:  # the copied state may first fail here (an optimizer's missing 'momentum')
                if copied and epoch == start + 1 and looks_like_state_mismatch(exc):
                    raise _inherit_error(spec, exc) from exc
                raise
            if not isinstance(metrics, dict):
                raise ReportError(f"{type(trainable).__name__}.train_epoch({epoch}) returned {_short(metrics)}; "
                                  f"it must return a dict of metrics, e.g. {{{spec.metric!r}: ...}}")
            # A stopped attempt writes no checkpoint: a requeued attempt of the trial may own the folder now.
            if spec.store is not None and not reporter.should_stop() \
                    and (epoch % spec.checkpoint_every == 0 or epoch == reporter.budget):
                writer.save(spec.store, spec.trial_id, epoch, trainable.state_dict(), report=metrics,
                            attempt=reporter.spec.attempt)  # a kept trial's later steps may be a new attempt
            reporter.report(epoch=epoch, **metrics)  # a kept trial waits in here between steps (engine.kept)
    finally:  # the step ends: whoever resumes the trial, anywhere, finds its last checkpoint (engine.writer)
        if spec.store is not None:
            writer.wait(spec.store, spec.trial_id)
