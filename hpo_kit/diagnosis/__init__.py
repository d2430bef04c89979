"""Diagnosis-based early termination (BTTackler, ``METHODS.md`` §4).

* :class:`Watcher` (worker side): hooks on a torch model record per-epoch gradient statistics.
* :mod:`.indicators`: the paper's seven indicators as pure functions of those statistics.
* :class:`Diagnosis` (driver side): a study monitor combining the indicators.
* :mod:`.cases`: deliberately broken trainings, each with the indicator it must trip.
* :class:`LearningCurve` (:mod:`.curve`): stops healthy trials that will not win, by extrapolating
  their curves; :class:`AnyOf` (:mod:`.combine`) combines it with ``Diagnosis``.

``Study(objective, space, monitor=Diagnosis(), on_flag="stop")``, with ``reporter.add_probe(
Watcher(model).collect)`` in the objective.
"""
from .combine import AnyOf
from .curve import LearningCurve
from .indicators import INDICATORS
from .monitor import DESCRIPTIONS, Diagnosis, Thresholds
from .watcher import Watcher

__all__ = ["DESCRIPTIONS", "INDICATORS", "AnyOf", "Diagnosis", "LearningCurve", "Thresholds", "Watcher"]
