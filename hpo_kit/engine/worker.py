"""What runs on a Dask worker: one *step* of one trial, and the worker-local flags.

A step trains a trial from its latest checkpoint (or from scratch) up to an epoch
budget. Every report is streamed to the driver as a Dask event (``log_event``) while
the step runs, and is also returned in the :class:`StepResult`, so the driver can
reconcile a stream that lagged or broke. Kill and pause reach the worker through
worker-local flags set by ``Client.run``; the reporter checks them at every epoch
boundary, so a kill costs no round trip per epoch.
"""
from __future__ import annotations

import functools
import numbers
import os
import sys
import time
import traceback
import types
import weakref
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


class ReportError(ValueError):
    """A report the engine cannot use: no epoch, an epoch that does not increase or is past the
    budget, no metric, or a metric that is not one number. The trial ends FAILED with it, even
    if the objective catches it (the reporter remembers the first one)."""


# -- where the objective's code came from ----------------------------------------------------------
# cloudpickle ships functions and classes of ``__main__`` (a script, a notebook) by value and
# renames their code's file to "<dynamic-code>", so a trial's traceback would not say where the
# user's code is. A step spec therefore carries the original file of each code object it ships
# (keyed by qualified name and first line, which cloudpickle keeps), and the worker puts the
# names back before the objective runs; linecache then shows the source lines too where the
# file exists on the worker (a LocalCluster, a shared file system).
_DYNAMIC = "<dynamic-code>"
_MAX_FUNCTIONS = 500
_code_files_cache: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _code_key(code: types.CodeType) -> tuple[str, int]:
    return getattr(code, "co_qualname", code.co_name), code.co_firstlineno


def _nested_codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


def _shipped_functions(obj: Any) -> list[types.FunctionType]:
    """Functions reachable from ``obj`` in its own module: what cloudpickle ships with it by value."""
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    out: list[types.FunctionType] = []
    seen: set[int] = set()
    stack = [obj]
    while stack and len(out) < _MAX_FUNCTIONS:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, functools.partial):
            stack.append(o.func)
        elif isinstance(o, (types.MethodType, staticmethod, classmethod)):
            stack.append(o.__func__)
        elif isinstance(o, property):
            stack.extend(f for f in (o.fget, o.fset, o.fdel) if f is not None)
        elif isinstance(o, types.FunctionType):
            if o.__module__ != module:
                continue
            out.append(o)
            names = {n for c in _nested_codes(o.__code__) for n in c.co_names}
            stack.extend(o.__globals__[n] for n in names if n in o.__globals__)
            for cell in o.__closure__ or ():
                try:
                    stack.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    pass
        elif isinstance(o, type):
            if o.__module__ == module:
                stack.extend(vars(o).values())
                stack.extend(o.__bases__)
        elif o is obj and callable(o):  # a callable instance: its class's methods
            stack.append(type(o))
    return out


def _by_value(obj: Any) -> bool:
    """True if cloudpickle ships ``obj`` by value (its module cannot be imported on a worker)."""
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    if isinstance(obj, functools.partial):
        return _by_value(obj.func)
    if module in (None, "__main__", "__mp_main__") or module not in sys.modules:
        return True
    try:
        import cloudpickle

        return module in cloudpickle.list_registry_pickle_by_value()
    except Exception:  # noqa: BLE001 - an old cloudpickle without the registry
        return False


def code_files(obj: Any) -> dict[tuple[str, int], str] | None:
    """``{(qualname, first line): file}`` of the code shipped by value with ``obj`` (``None``: by reference)."""
    try:
        return _code_files_cache[obj]
    except (KeyError, TypeError):
        pass
    files: dict[tuple[str, int], str] | None = None
    try:
        if _by_value(obj):
            files = {_code_key(c): c.co_filename for fn in _shipped_functions(obj)
                     for c in _nested_codes(fn.__code__) if c.co_filename != _DYNAMIC}
    except Exception:  # noqa: BLE001 - a traceback hint must never stop a step from being sent
        files = None
    try:
        _code_files_cache[obj] = files
    except TypeError:  # not weak-referenceable
        pass
    return files or None


def _renamed(code: types.CodeType, files: dict[tuple[str, int], str]) -> types.CodeType:
    consts = tuple(_renamed(c, files) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    name = files.get(_code_key(code)) if code.co_filename == _DYNAMIC else None
    if name is None and all(a is b for a, b in zip(consts, code.co_consts)):
        return code
    return code.replace(co_filename=name or code.co_filename, co_consts=consts)


def restore_code_files(obj: Any, files: dict[tuple[str, int], str] | None) -> None:
    """Give the functions shipped with ``obj`` their original file names back (see :func:`code_files`)."""
    if not files:
        return
    try:
        for fn in _shipped_functions(obj):
            fn.__code__ = _renamed(fn.__code__, files)
    except Exception:  # noqa: BLE001 - tracebacks then say "<dynamic-code>", nothing worse
        pass


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
    top: int | None = None  # set: at ``budget`` wait for the driver's answer, up to ``top`` (hpo_kit.promotion)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
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
        self.invalid: ReportError | None = None  # the first bad report: the trial ends FAILED with it

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

    def report(self, epoch: int | None = None, **metrics: Any) -> None:
        """Send one epoch's metrics to the driver; raise at the boundary if the trial must end.

        ``epoch`` is required and must increase (1, 2, ... up to :attr:`max_epochs` when it is
        set); each metric must be one number: an int or float (NaN and inf are kept as such),
        a NumPy scalar, or a one-element tensor or array.

        Raises
        ------
        ReportError
            Naming the epoch or the metric. The trial then ends FAILED with this error, even
            if the objective catches it.
        """
        if self.invalid is not None:  # the trial is already broken: every later report says so again
            raise self.invalid
        try:
            epoch, clean = self._check(epoch, metrics)
        except ReportError as exc:
            self.invalid = exc
            raise
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

    def _check(self, epoch: Any, metrics: dict[str, Any]) -> tuple[int, dict[str, float]]:
        metric = self._spec.metric
        if epoch is None:
            raise ReportError(f"report: epoch is missing; call reporter.report(epoch={self.epoch + 1}, "
                              f"{metric}=...)")
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise ReportError(f"report: epoch={epoch!r} must be an int (1, 2, ...), not {type(epoch).__name__}")
        epoch = int(epoch)
        if epoch <= self.epoch:
            raise ReportError(f"report: epoch={epoch} must be greater than the last reported epoch "
                              f"{self.epoch}: epochs count 1, 2, ... and each is reported once")
        if self.max_epochs is not None and epoch > self.max_epochs:
            raise ReportError(f"report: epoch={epoch} is beyond this step's budget of {self.max_epochs} "
                              f"epochs (reporter.max_epochs; the study's max_epochs or the scheduler's rung)")
        if not metrics:
            raise ReportError(f"report: epoch={epoch} carries no metric; call reporter.report(epoch={epoch}, "
                              f"{metric}=...)")
        return epoch, {name: _number(name, value) for name, value in metrics.items()}


def _number(name: str, value: Any) -> float:
    """``value`` as a float, or a :class:`ReportError` naming the metric."""
    what = type(value).__name__
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (bool, numbers.Number)):  # a tensor, an array, a NumPy scalar
        size = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 1)
        if size != 1:
            raise ReportError(f"report: metric {name} is a {what} of {size} elements, not one number "
                              f"(reduce it, e.g. .mean().item())")
        try:
            value = item()
        except Exception as exc:  # noqa: BLE001 - named below
            raise ReportError(f"report: metric {name}={value!r} is not a number ({exc})") from None
        what = f"{what} holding a {type(value).__name__}"
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise ReportError(f"report: metric {name}={value!r} is a bool, not a number")
    if not isinstance(value, numbers.Real):
        raise ReportError(f"report: metric {name}={value!r} is a {what}, not a number (int or float)")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ReportError(f"report: metric {name}={value!r} is not a number ({exc})") from None


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
            if value is not None:  # metrics come from reports only: a returned score is not silently used
                raise ObjectiveReturned(f"objective returned {_short(value)}; report metrics with "
                                        f"reporter.report(epoch=..., {spec.metric}=...) and return None")
            if not reporter.reports and reporter.invalid is None and not reporter.should_stop():
                raise ObjectiveReturned(f"objective returned without a report; report metrics with "
                                        f"reporter.report(epoch=..., {spec.metric}=...)")
        res.outcome = "completed"
    except BudgetReached:
        res.outcome = "budget"
    except TrialStopped as stop:
        res.outcome, res.reason = "stopped", str(stop.args[0]) if stop.args else None
    except BaseException as exc:  # noqa: BLE001 - the trial's own failure (SystemExit included): record it
        res.outcome, res.error, res.traceback = "failed", _error_text(exc), traceback.format_exc()
    if reporter.invalid is not None and res.outcome != "stopped":  # a bad report, even one the objective caught
        bad = reporter.invalid
        res.outcome, res.error = "failed", _error_text(bad)
        res.traceback = "".join(traceback.format_exception(type(bad), bad, bad.__traceback__))
    res.reports = reporter.reports
    res.ended = time.time()
    res.setup = reporter.setup_seconds
    res.busy = max(0.0, time.perf_counter() - t0 - res.setup)
    return res


class ObjectiveReturned(TypeError):
    """A function-form objective returned a value (or nothing, without any report)."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error_text(exc: BaseException) -> str:
    """``"Type: message"``, or just the type when the message is empty (``KeyboardInterrupt``)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
        if not isinstance(metrics, dict):
            raise ReportError(f"{type(trainable).__name__}.train_epoch({epoch}) returned {_short(metrics)}; it "
                              f"must return a dict of metrics, e.g. {{{spec.metric!r}: ...}}")
        # A stopped attempt writes no checkpoint: a requeued attempt of the trial may own the folder now.
        if spec.store is not None and not reporter.should_stop() \
                and (epoch % spec.checkpoint_every == 0 or epoch == spec.budget):
            spec.store.save(spec.trial_id, epoch, trainable.state_dict(), report=metrics, attempt=spec.attempt)
        reporter.report(epoch=epoch, **metrics)
    raise BudgetReached()
