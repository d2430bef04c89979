"""Several monitors as one: the first finding of any, in the order given.

``Study(..., monitor=AnyOf(Diagnosis(), LearningCurve("val_acc", "max")), on_flag="stop")``
stops a trial that is broken (diagnosis) or will not win (curve). Each monitor keeps its own
rules for not repeating itself (they read ``trial.flags``), so under ``on_flag="flag"`` (shadow
mode) a trial may collect one finding of each kind.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..monitor import Finding, Monitor
from ..trial import Trial


class AnyOf(Monitor):
    """The first finding of ``monitors``, checked in order.

    Raises
    ------
    ValueError
        Without a monitor, or for an object without ``check``.
    """

    def __init__(self, *monitors: Monitor) -> None:
        if not monitors:
            raise ValueError("AnyOf: give at least one monitor")
        bad = [m for m in monitors if not callable(getattr(m, "check", None))]
        if bad:
            raise ValueError(f"AnyOf: {bad!r} has no check(trial, trials, max_epochs)")
        self.monitors = tuple(monitors)

    def check(self, trial: Trial, trials: Mapping[int, Trial], max_epochs: int | None) -> Finding | None:
        for monitor in self.monitors:
            finding = monitor.check(trial, trials, max_epochs)
            if finding is not None:
                return finding
        return None

    def __repr__(self) -> str:
        return f"AnyOf({', '.join(map(repr, self.monitors))})"
