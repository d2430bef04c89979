"""The seam between the engine and diagnosis: a monitor reads reports, returns findings.

A monitor never stops anything itself; the study applies its ``on_flag`` policy
(``stop`` / ``flag`` / ``off``) to the findings, so monitors stay pure and testable.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .trial import Trial


@dataclass(frozen=True)
class Finding:
    """A monitor's verdict on a trial: which indicator fired, when, and on what numbers."""

    indicator: str
    epoch: int
    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Monitor(Protocol):
    """Looks at a trial after each report."""

    def check(self, trial: Trial, trials: Mapping[int, Trial], max_epochs: int | None) -> Finding | None:
        """Return a finding if the trial looks broken, else ``None``.

        ``trials`` is every trial of the study (for cross-trial rules such as protecting
        the best 10% at an epoch); ``max_epochs`` sets the epoch windows.
        """
        ...
