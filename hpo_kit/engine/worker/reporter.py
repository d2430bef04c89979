"""The worker side of a step's conversation with the driver: the Reporter.

Kill, stop, pause, the study's end and in-step promotion answers reach a step through the
run's control record (:mod:`.control`), which the step's :class:`~.context.StudyContext`
reads at every epoch boundary: a step goes on only while the record allows it, so no lost
message can keep a step of an ended study or a superseded attempt training.

In-step promotion (:mod:`hpo_kit.engine.driver.promotion`): a step submitted with ``top`` and no rung rule
waits at its budget for the driver's answer in the record (up to :data:`ANSWER_WAIT` seconds,
ending early on a stop): a new budget continues the step; ``None`` or silence ends it
(``BudgetReached``).
"""
from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .context import StudyContext, context

if TYPE_CHECKING:
    from .step import StepSpec

ANSWER_WAIT = 10.0  # seconds a step waits at its budget for the driver's answer before it ends
ANSWER_POLL = 0.05  # seconds between reads of the record while it waits


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


class Reporter:
    """Handed to a function-form objective: ``reporter.report(epoch=..., **metrics)``.

    Attributes
    ----------
    data
        The study's data, loaded once per worker.
    max_epochs
        The epoch budget of this step (``None``: the objective decides).
    """

    def __init__(self, spec: "StepSpec", emit: Callable[[dict], None], start_epoch: int = 0,
                 ctx: StudyContext | None = None) -> None:
        self._spec = spec
        self._ctx = ctx or context(spec.study)
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
        self.setup_seconds = 0.0  # the step's warm-up: from its start to :meth:`ready`
        self._born = time.perf_counter()
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
        self.reports, self.setup_seconds, self._born = [], 0.0, time.perf_counter()
        self.ready()  # a trial kept alive needs no warm-up: its own work goes on at once

    def ready(self) -> None:
        """The step's warm-up is over: the trial's own work, and its ``trial_timeout``, start now.

        Warm-up is what the worker does before the first epoch: first imports, the study's data,
        a Trainable's ``setup`` and checkpoint restore. It counts against ``warmup_timeout``, and
        is kept out of the trial's busy time (``Trial.warmup``).
        """
        self.setup_seconds = max(self.setup_seconds, time.perf_counter() - self._born)
        self._emit({"kind": "ready", "trial": self._spec.trial_id, "attempt": self._spec.attempt,
                    "warmup": self.setup_seconds})

    @property
    def data(self) -> Any:
        if not self._data_loaded:
            t0 = time.perf_counter()
            self._data, self._data_loaded = self._ctx.data(self._spec.data), True
            self.setup_seconds += time.perf_counter() - t0  # warm-up, not training: kept out of busy
        return self._data

    @property
    def device(self) -> str:
        """``"cuda"`` when this worker sees a GPU, else ``"cpu"`` (GPU placement is Dask's resources)."""
        torch = sys.modules.get("torch")
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"

    def add_probe(self, probe: Callable[[], dict[str, Any]]) -> None:
        """Attach a callable whose dict is sent with every report under ``"diag"`` (e.g. a Watcher)."""
        self._probes.append(probe)

    def stop_reason(self) -> str | None:
        """Why this step must not start another epoch (a kill, a stop, the study's end, a newer
        attempt), from the run's control record read now; ``None`` if it may go on."""
        return self._ctx.verdict(self._spec.seq)

    def should_stop(self) -> bool:
        """True once this step must stop at its next epoch boundary (see :meth:`stop_reason`)."""
        return self.stop_reason() is not None

    def _raise_if_stopped(self) -> None:
        reason = self.stop_reason()
        if reason is not None:
            raise TrialStopped(reason)

    def resend(self, metrics: dict[str, float]) -> None:
        """Send again the report of the checkpoint a step resumes from (the driver drops duplicates).

        It is the step's last report so far, so the epoch's boundary follows as after :meth:`report`:
        a checkpoint at (or past) the step's budget ends the step there (``BudgetReached``), with no
        epoch trained past it (a trial whose end the journal lost, resumed).
        """
        clean = {k: float(v) for k, v in metrics.items()}
        msg = {"kind": "report", "trial": self._spec.trial_id, "attempt": self._spec.attempt,
               "epoch": self.epoch, "t": time.time(), "metrics": clean}
        self._deliver(self.epoch, clean, msg)

    def backfill(self, epoch: int, metrics: dict[str, float]) -> None:
        """Send an earlier checkpoint's report that the driver's record lacks (a gap a lost message left)."""
        msg = {"kind": "report", "trial": self._spec.trial_id, "attempt": self._spec.attempt, "epoch": int(epoch),
               "t": time.time(), "metrics": {k: float(v) for k, v in metrics.items()}, "backfill": True}
        self.reports.append(msg)
        self._emit(msg)

    def boundary(self, epoch: int) -> None:
        """The end of ``epoch`` without a report to send (a checkpoint saved without one)."""
        self._raise_if_stopped()
        if self.budget is not None and epoch >= self.budget and not self._promoted(epoch):
            self._wait_or_end(epoch)

    def report(self, epoch: int | None = None, *, constraints: Mapping[str, Any] | None = None,
               **metrics: Any) -> None:
        """Send one epoch's metrics to the driver; raise at the boundary if the trial must end.

        ``epoch`` is required and must increase (1, 2, ... up to :attr:`max_epochs` when it is
        set); each metric must be one number: an int or float (NaN and inf are kept as such),
        a NumPy scalar, or a one-element tensor or array. ``constraints`` (optional) names
        values that must be ``<= 0`` for the trial to be feasible (Optuna's convention, e.g.
        ``{"params_m": n_params / 1e6 - 2}``); each a finite number. The trial's last report
        that has constraints decides its feasibility (:attr:`hpo_kit.trial.Trial.violation`).

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
            bounds = _constraints(constraints)
        except ReportError as exc:
            self.invalid = exc
            raise
        msg: dict[str, Any] = {"kind": "report", "trial": self._spec.trial_id, "attempt": self._spec.attempt,
                               "epoch": epoch, "t": time.time(), "metrics": clean}
        if bounds is not None:
            msg["constraints"] = bounds
        diag: dict[str, Any] = {}
        for probe in self._probes:
            diag.update(probe())
        if diag:
            msg["diag"] = diag
        self._deliver(epoch, clean, msg)

    def _deliver(self, epoch: int, clean: dict[str, float], msg: dict[str, Any]) -> None:
        """Send an epoch's report, then its boundary: a stop, the rung's decision, the budget."""
        self.epoch = epoch
        if self._spec.metric in clean:
            self._values[epoch] = clean[self._spec.metric]
        decided = self._decide(epoch)
        if decided is not None:
            msg["decided"] = decided  # the driver records what this step decided alone (0: it pauses)
        self.reports.append(msg)
        self._emit(msg)
        if decided is None:
            self.boundary(epoch)
            return
        self._raise_if_stopped()
        if not decided:
            self._wait_or_end(epoch)
        else:
            self.budget = decided

    def _wait_or_end(self, epoch: int) -> None:
        """The step ends at this rung: a kept trial waits here for its next step; any other unwinds."""
        top, rule = self._spec.top, self._spec.rule
        if self.hold is None or top is None or epoch >= top:
            raise BudgetReached()
        self.held_at = (-epoch, rule.loss_at(epoch, self._values) if rule is not None else math.inf)
        if not self.hold():
            raise BudgetReached()
        self._raise_if_stopped()  # resumed by a step that was stopped meanwhile

    def _decide(self, epoch: int) -> int | None:
        """At a rung the step's rule covers: the next budget, 0 to pause; ``None``: no rule here."""
        rule, top = self._spec.rule, self._spec.top
        if rule is None or top is None or self.budget is None or epoch < self.budget or epoch >= top \
                or epoch not in rule.cutoffs:
            return None
        return rule.decide(self._spec.trial_id, epoch, self._values, self._ctx.cutoffs(self._spec.seq)) or 0

    def _promoted(self, epoch: int) -> bool:
        """At the budget of an in-step step: wait for the driver's answer; True if it raised the budget."""
        top = self._spec.top
        if top is None or epoch >= top:
            return False
        flush = getattr(self._emit, "flush", None)
        if flush is not None:
            flush()  # the driver answers this report: it must not wait in the worker's outbox
        deadline = time.monotonic() + ANSWER_WAIT
        while True:
            answered, budget = self._ctx.answer(self._spec.seq, epoch)
            self._raise_if_stopped()
            if answered or time.monotonic() >= deadline:
                break
            time.sleep(ANSWER_POLL)
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


def _constraints(values: Any) -> dict[str, float] | None:
    """``constraints=`` as a dict of finite floats, or a :class:`ReportError` naming the field."""
    if values is None:
        return None
    if not isinstance(values, Mapping) or not values or not all(isinstance(k, str) and k for k in values):
        raise ReportError(f"report: constraints={values!r} must be a non-empty dict of names to numbers "
                          f"(each <= 0 when satisfied)")
    out = {}
    for name, value in values.items():
        number = _number(f"constraints[{name!r}]", value)
        if not math.isfinite(number):
            raise ReportError(f"report: constraints[{name!r}]={value!r} must be a finite number")
        out[name] = number
    return out


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
