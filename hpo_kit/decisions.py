"""Decisions as values: what a searcher or scheduler answers the engine (after Syne Tune's scheduler).

* :class:`Start` - a new trial (optionally from another trial's weights);
* :class:`Resume` - a paused trial continues to a larger epoch budget;
* :class:`Decision` - a running trial that reported goes on (``CONTINUE``) or ends (``STOP``).

Policies return these; only the engine acts on them. :func:`epoch_budget` and
:func:`check_int` are the shared checks of policy parameters (errors name the field).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Decision(str, enum.Enum):
    """What happens to a running trial after a report."""

    CONTINUE = "CONTINUE"
    STOP = "STOP"


@dataclass(frozen=True)
class Start:
    """Start a new trial.

    Parameters
    ----------
    config
        The hyperparameters; must belong to the study's space.
    budget
        Epoch target of the first step (``None``: the study's ``max_epochs``).
    parent
        Id of a trial whose latest weights the new trial starts from (stateful trials).
    info
        Policy facts journalled with the suggestion (e.g. ``source``: where a searcher's point came from).
    """

    config: dict[str, Any]
    budget: int | None = None
    parent: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resume:
    """Resume a paused trial until it has trained ``budget`` epochs in total."""

    trial_id: int
    budget: int
    info: dict[str, Any] = field(default_factory=dict)


Suggestion = Start | Resume


def check_int(owner: str, label: str, value: Any, low: int, optional: bool = True) -> None:
    """Raise ``ValueError`` naming ``owner: label`` unless ``value`` is an int >= ``low`` (bools are not ints)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{owner}: {label}={value!r} must be an integer >= {low}")


def epoch_budget(policy: str, label: str, own: int | None, study_max: int | None) -> int:
    """A policy's top epoch budget: its own setting, else the study's ``max_epochs``.

    Raises
    ------
    ValueError
        If neither is set, or the policy's own exceeds the study's (names the field).
    """
    value = own if own is not None else study_max
    if value is None:
        raise ValueError(f"{policy}: set {label} or the study's max_epochs")
    if study_max is not None and value > study_max:
        raise ValueError(f"{policy}: {label}={value} exceeds the study's max_epochs={study_max}")
    return value
