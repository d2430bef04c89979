"""What runs on a Dask worker: one *step* of one trial, and the worker-local flags.

A step trains a trial from its latest checkpoint (or from scratch) up to an epoch
budget. Every report is streamed to the driver as a Dask event (``log_event``) while
the step runs, and is also returned in the :class:`StepResult`, so the driver can
reconcile a stream that lagged or broke. Kill and pause reach the worker through
worker-local flags set by ``Client.run``; the reporter checks them at every epoch
boundary, so a kill costs no round trip per epoch.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..trainable import Trainable
from .checkpoint import CheckpointStore

# Worker-process state. Plain containers: Client.run mutates them on the worker's event
# loop thread, the task thread only reads them, and single dict/set operations are atomic.
_PAUSED: set[str] = set()
_STOP: dict[tuple[str, int, int], str] = {}  # (study, trial, attempt) -> reason
_DATA: dict[str, Any] = {}


class TrialStopped(BaseException):
    """Raised inside a trial at an epoch boundary once a stop was requested.

    A ``BaseException`` so that a user's ``except Exception`` cannot swallow it.
    """


class BudgetReached(BaseException):
    """Raised inside a function-form trial when it reached its step's epoch budget."""


def set_paused(study: str, paused: bool) -> None:
    """Worker side of pause/resume (run through ``Client.run``)."""
    (_PAUSED.add if paused else _PAUSED.discard)(study)


def request_stop(study: str, trial_id: int, attempt: int, reason: str) -> None:
    """Worker side of a kill or stop decision (run through ``Client.run``).

    Keyed by attempt: a flag stops that attempt's step wherever it runs, and can never
    reach a later attempt of the same trial, so no flag ever needs clearing.
    """
    _STOP[(study, trial_id, attempt)] = reason


def load_data(loader: Callable[[], Any] | None) -> Any:
    """Call ``loader`` once per worker process and cache the result."""
    if loader is None:
        return None
    from dask.base import tokenize

    key = tokenize(loader)
    if key not in _DATA:
        _DATA[key] = loader()
    return _DATA[key]


@dataclass(frozen=True)
class StepSpec:
    """One unit of work: train ``trial_id`` up to ``budget`` epochs."""

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
    busy: float = 0.0  # seconds of training: the step's wall time less data loading (``setup``)
    setup: float = 0.0  # seconds this step spent loading the study's data (first step on a worker)


class Reporter:
    """Handed to a function-form objective: ``reporter.report(epoch=..., **metrics)``.

    Attributes
    ----------
    data
        The study's data, loaded once per worker.
    max_epochs
        The epoch budget of this step (``None``: the objective decides).
    """

    def __init__(self, spec: StepSpec, emit: Callable[[dict], None], start_epoch: int = 0) -> None:
        self._spec = spec
        self._emit = emit
        self.epoch = start_epoch
        self.reports: list[dict[str, Any]] = []
        self.max_epochs = spec.budget
        self.config = spec.config
        self.trial_id = spec.trial_id
        self._probes: list[Callable[[], dict]] = []
        self._data_loaded = False
        self._data: Any = None
        self.setup_seconds = 0.0

    @property
    def data(self) -> Any:
        if not self._data_loaded:
            t0 = time.perf_counter()
            self._data, self._data_loaded = load_data(self._spec.data), True
            self.setup_seconds += time.perf_counter() - t0  # warm-up, not training: kept out of T
        return self._data

    @property
    def device(self) -> str:
        """``"cuda"`` when this worker sees a GPU, else ``"cpu"`` (GPU placement is Dask's resources)."""
        torch = sys.modules.get("torch")
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"

    def add_probe(self, probe: Callable[[], dict[str, Any]]) -> None:
        """Attach a callable whose dict is sent with every report under ``"diag"`` (e.g. a Watcher)."""
        self._probes.append(probe)

    @property
    def _flag(self) -> tuple[str, int, int]:
        return (self._spec.study, self._spec.trial_id, self._spec.attempt)

    def should_stop(self) -> bool:
        """True once a kill or stop was requested for this attempt of the trial."""
        return self._flag in _STOP

    def resend(self, metrics: dict[str, float]) -> None:
        """Send again the report of the checkpoint a step resumes from (the driver drops duplicates)."""
        msg = {"kind": "report", "trial": self._spec.trial_id, "attempt": self._spec.attempt,
               "epoch": self.epoch, "t": time.time(), "metrics": {k: float(v) for k, v in metrics.items()}}
        self.reports.append(msg)
        self._emit(msg)

    def report(self, epoch: int | None = None, **metrics: float) -> None:
        """Send one epoch's metrics to the driver; raise at the boundary if the trial must end.

        Raises
        ------
        ValueError
            If ``epoch`` does not increase or a metric is not a number (names the field).
        """
        epoch = self.epoch + 1 if epoch is None else epoch
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch <= self.epoch:
            raise ValueError(f"report: epoch={epoch!r} must be an int > the last reported epoch {self.epoch}")
        if self.max_epochs is not None and epoch > self.max_epochs:
            raise ValueError(f"report: epoch={epoch} is beyond this step's budget of {self.max_epochs} epochs")
        clean: dict[str, float] = {}
        for name, value in metrics.items():
            if isinstance(value, bool):
                raise ValueError(f"report: metric {name}={value!r} is a bool, not a number")
            try:
                clean[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"report: metric {name}={value!r} is not a number") from None
        msg: dict[str, Any] = {"kind": "report", "trial": self._spec.trial_id, "attempt": self._spec.attempt,
                               "epoch": epoch, "t": time.time(), "metrics": clean}
        diag: dict[str, Any] = {}
        for probe in self._probes:
            diag.update(probe())
        if diag:
            msg["diag"] = diag
        self.epoch = epoch
        self.reports.append(msg)
        self._emit(msg)
        if self.should_stop():
            raise TrialStopped(_STOP.get(self._flag))
        if self.max_epochs is not None and epoch >= self.max_epochs:
            raise BudgetReached()


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
    return (lambda msg: worker.log_event(topic, {**msg, "key": key})), worker.address, key


def run_step(spec: StepSpec, emit: Callable[[dict], None] | None = None) -> StepResult:
    """Run one step of a trial on this worker; never raises for trial errors.

    The result is returned (the future's value) and also sent ahead as a ``"done"``
    event: the event reaches the driver on the stream that already carries the reports,
    while the future's value needs the scheduler's notice and then a fetch from this
    worker. The driver settles the step on whichever arrives first, so the next step is
    submitted one round trip sooner; the future stays the fallback (lost worker, errors).
    """
    worker_emit, address, key = _worker_emit(spec.study)
    res = _run(spec, emit or worker_emit, address)
    if key is not None:
        try:
            worker_emit({"kind": "done", "trial": spec.trial_id, "attempt": spec.attempt, "result": asdict(res)})
        except Exception:  # noqa: BLE001 - the future still carries the result
            pass
    return res


def _run(spec: StepSpec, emit: Callable[[dict], None], address: str | None) -> StepResult:
    res = StepResult(spec.trial_id, spec.attempt, "not_started", worker=address, pid=os.getpid())
    if spec.study in _PAUSED:
        return res
    if (spec.study, spec.trial_id, spec.attempt) in _STOP:
        res.outcome, res.reason = "stopped", _STOP[(spec.study, spec.trial_id, spec.attempt)]
        return res
    if spec.torch_threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(spec.torch_threads)
    res.started = time.time()
    t0 = time.perf_counter()
    emit({"kind": "start", "trial": spec.trial_id, "attempt": spec.attempt, "t": res.started,
          "worker": address, "pid": res.pid})
    reporter = Reporter(spec, emit)
    try:
        if isinstance(spec.objective, type) and issubclass(spec.objective, Trainable):
            _run_trainable(spec, reporter)
        else:
            value = spec.objective(spec.config, reporter)
            if not reporter.reports and value is not None:  # an objective that only returns a score
                reporter.report(epoch=1, **(value if isinstance(value, dict) else {spec.metric: value}))
        res.outcome = "completed"
    except BudgetReached:
        res.outcome = "budget"
    except TrialStopped as stop:
        res.outcome, res.reason = "stopped", str(stop.args[0]) if stop.args else None
    except BaseException as exc:  # noqa: BLE001 - the trial's own failure (SystemExit included): record it
        res.outcome, res.error = "failed", f"{type(exc).__name__}: {exc}"
        res.traceback = traceback.format_exc()
    res.reports = reporter.reports
    res.ended = time.time()
    res.setup = reporter.setup_seconds
    res.busy = max(0.0, time.perf_counter() - t0 - res.setup)
    return res


def _run_trainable(spec: StepSpec, reporter: Reporter) -> None:
    if spec.budget is None:
        raise ValueError("a Trainable trial needs an epoch budget: set the study's max_epochs")
    trainable = spec.objective()
    trainable.setup(spec.config, reporter.data)
    probe = getattr(trainable, "diagnostics", None)  # e.g. a diagnosis Watcher's collect()
    if callable(probe):
        reporter.add_probe(probe)
    start = 0
    if spec.store is not None:
        if spec.store.latest(spec.trial_id) is not None:
            start, state, report = spec.store.load_record(spec.trial_id)
            trainable.load_state_dict(state)
            reporter.epoch = start
            if report is not None:  # a kill between checkpoint and report must not lose the epoch
                reporter.resend(report)
        elif spec.parent is not None:
            _, state = spec.store.load(spec.parent)  # a new trial from another's weights: own history
            trainable.load_state_dict(state)
    reporter.epoch, reporter.max_epochs = start, None  # the loop below owns the budget
    for epoch in range(start + 1, spec.budget + 1):
        metrics = trainable.train_epoch(epoch)
        # A stopped attempt writes no checkpoint: a requeued attempt of the trial may own the folder now.
        if spec.store is not None and not reporter.should_stop() \
                and (epoch % spec.checkpoint_every == 0 or epoch == spec.budget):
            spec.store.save(spec.trial_id, epoch, trainable.state_dict(), report=metrics, attempt=spec.attempt)
        reporter.report(epoch=epoch, **metrics)
    raise BudgetReached()
