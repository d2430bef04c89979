"""The worker side of a step's conversation with the driver: the Reporter and the worker-local flags.

Kill, pause and in-step promotion answers reach a worker through worker-local state set by
``Client.run`` (plain containers: ``Client.run`` mutates them on the worker's event loop thread,
the task thread reads them, and single dict/set operations are atomic); the reporter checks
them at every epoch boundary, so a kill costs no round trip per epoch.

In-step promotion (:mod:`hpo_kit.promotion`): a step submitted with ``top`` waits at its
budget for the driver's answer (up to :data:`ANSWER_WAIT` seconds, ending early on a stop):
a new budget continues the step; ``None`` or silence ends it (``BudgetReached``).
"""
from __future__ import annotations

import math
import numbers
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .worker import StepSpec

_PAUSED: set[str] = set()
_STOP: dict[tuple[str, int, int], str] = {}  # (study, trial, attempt) -> reason
_DATA: dict[str, Any] = {}
_ANSWERS: dict[tuple[str, int, int, int], int | None] = {}  # (study, trial, attempt, epoch) -> budget
_ANSWERED: dict[tuple[str, int, int, int], threading.Event] = {}
ANSWER_WAIT = 10.0  # seconds a step waits at its budget for the driver's answer before it ends


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


def set_paused(study: str, paused: bool) -> None:
    """Worker side of pause/resume (run through ``Client.run``)."""
    (_PAUSED.add if paused else _PAUSED.discard)(study)


def request_stop(study: str, trial_id: int, attempt: int, reason: str) -> None:
    """Worker side of a kill or stop decision (run through ``Client.run``).

    Keyed by attempt: a flag stops that attempt's step wherever it runs, and can never
    reach a later attempt of the same trial, so no flag ever needs clearing.
    """
    _STOP[(study, trial_id, attempt)] = reason
    from .kept import release

    release(study, trial_id)  # a trial kept waiting at a rung on this worker unwinds now


def load_data(loader: Callable[[], Any] | None) -> Any:
    """Call ``loader`` once per worker process and cache the result."""
    if loader is None:
        return None
    from dask.base import tokenize

    key = tokenize(loader)
    if key not in _DATA:
        _DATA[key] = loader()
    return _DATA[key]


async def answer(study: str, trial_id: int, attempt: int, epoch: int, budget: int | None) -> None:
    """Worker side of an in-step promotion answer (``Client.run(..., wait=False)``, which needs a coroutine)."""
    key = (study, trial_id, attempt, epoch)
    _ANSWERS[key] = budget
    _ANSWERED.setdefault(key, threading.Event()).set()


class Reporter:
    """Handed to a function-form objective: ``reporter.report(epoch=..., **metrics)``.

    Attributes
    ----------
    data
        The study's data, loaded once per worker.
    max_epochs
        The epoch budget of this step (``None``: the objective decides).
    """

    def __init__(self, spec: "StepSpec", emit: Callable[[dict], None], start_epoch: int = 0) -> None:
        self._spec = spec
        self._emit = emit
        self.epoch = start_epoch
        self.reports: list[dict[str, Any]] = []
        self.budget = spec.budget  # the step's epoch target; an in-step promotion raises it
        self.max_epochs = spec.top or spec.budget  # where a function-form trial's own loop may go
        self.config = spec.config
        self.trial_id = spec.trial_id
        self._probes: list[Callable[[], dict]] = []
        self._data_loaded = False
        self._data: Any = None
        self.setup_seconds = 0.0
        self.invalid: ReportError | None = None  # the first bad report: the trial ends FAILED with it
        self._values: dict[int, float] = {}  # this step's metric by epoch, for its rung rule
        self.hold: Callable[[], bool] | None = None  # set on a kept trial's thread (engine.kept)
        self.held_at: tuple[int, float] = (0, math.inf)  # (-rung, rung loss) where it waits: lower is likelier

    @property
    def spec(self) -> "StepSpec":
        """The step this reporter serves now."""
        return self._spec

    def rebind(self, spec: "StepSpec", emit: Callable[[dict], None]) -> None:
        """Carry on with a new step of the same trial (a kept trial resumed by ``spec``)."""
        self._spec, self._emit = spec, emit
        self.budget, self.max_epochs, self.config = spec.budget, spec.top or spec.budget, spec.config
        self.reports, self.setup_seconds = [], 0.0

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
        if self._spec.metric in clean:
            self._values[epoch] = clean[self._spec.metric]
        decided = self._decide(epoch)
        if decided is not None:
            msg["decided"] = decided  # the driver records what this step decided alone (0: it pauses)
        self.reports.append(msg)
        self._emit(msg)
        if self.should_stop():
            raise TrialStopped(_STOP.get(self._flag))
        if decided is not None:
            if not decided:
                self._wait_or_end(epoch)
            else:
                self.budget = decided
        elif self.budget is not None and epoch >= self.budget and not self._promoted(epoch):
            self._wait_or_end(epoch)

    def _wait_or_end(self, epoch: int) -> None:
        """The step ends at this rung: a kept trial waits here for its next step; any other unwinds."""
        top, rule = self._spec.top, self._spec.rule
        if self.hold is None or top is None or epoch >= top:
            raise BudgetReached()
        self.held_at = (-epoch, rule.loss_at(epoch, self._values) if rule is not None else math.inf)
        if not self.hold():
            raise BudgetReached()
        if self.should_stop():  # resumed by a step whose attempt was stopped meanwhile
            raise TrialStopped(_STOP.get(self._flag))

    def _decide(self, epoch: int) -> int | None:
        """At a rung the step's rule covers: the next budget, 0 to pause; ``None``: no rule here."""
        rule, top = self._spec.rule, self._spec.top
        if rule is None or top is None or self.budget is None or epoch < self.budget or epoch >= top \
                or epoch not in rule.cutoffs:
            return None
        return rule.decide(self._spec.trial_id, epoch, self._values) or 0

    def _promoted(self, epoch: int) -> bool:
        """At the budget of an in-step step: wait for the driver's answer; True if it raised the budget."""
        top = self._spec.top
        if top is None or epoch >= top:
            return False
        key = (*self._flag, epoch)
        done = _ANSWERED.setdefault(key, threading.Event())
        flush = getattr(self._emit, "flush", None)
        if flush is not None:
            flush()  # the driver answers this report: it must not wait in the worker's outbox
        deadline = time.monotonic() + ANSWER_WAIT
        while not done.wait(0.05):
            if self.should_stop():
                raise TrialStopped(_STOP.get(self._flag))
            if time.monotonic() >= deadline:
                break
        _ANSWERED.pop(key, None)
        budget = _ANSWERS.pop(key, None)
        if budget is None or budget <= epoch:
            return False
        self.budget = budget
        return True

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
