"""The interface every search policy implements; policies never touch Dask.

A policy answers three questions with return values (after Syne Tune's scheduler and
scikit-optimize's ask/tell):

* :meth:`Optimizer.suggest` - a worker is free: what should it do? ``Start`` a new trial
  (optionally from another trial's weights), ``Resume`` a paused trial to a larger
  budget, or ``None`` (nothing now; the engine asks again after the next event).
* :meth:`Optimizer.on_report` - a running trial reported an epoch: ``CONTINUE`` or ``STOP``.
* :meth:`Optimizer.on_result` - a trial's step ended: here is the :class:`Observation`
  (the engine's one rule, see :mod:`hpo_kit.trial`).

:meth:`Optimizer.restore` re-tells a journal's history after a restart.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..goal import Goal
from ..space import Space
from ..trial import Observation, Trial


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
        Policy facts journalled with the suggestion (e.g. how many results a surrogate lacked).
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


class Optimizer(ABC):
    """Base class of search policies.

    Subclasses set ``self.finished = True`` once they will never suggest again.
    """

    name: str = "optimizer"

    def __init__(self, seed: int | None = 0) -> None:
        self.seed = seed
        self.finished = False
        self.space: Space | None = None
        self.goal: Goal | None = None
        self.max_epochs: int | None = None
        self.concurrency: int = 1
        #: Set by the engine before each suggest: False once the study's trial budget is spent,
        #: when only a Resume is accepted (a Start is dropped).
        self.may_start: bool = True
        self._events: list[dict[str, Any]] = []

    def setup(self, space: Space, goal: Goal, max_epochs: int | None = None, concurrency: int = 1) -> None:
        """Bind the policy to a study (called once by the study, before any suggestion)."""
        self.space, self.goal, self.max_epochs, self.concurrency = space, goal, max_epochs, concurrency

    @abstractmethod
    def suggest(self, trial_id: int) -> Suggestion | None:
        """Next work for a free worker; ``trial_id`` is the id a :class:`Start` would get."""

    def on_report(self, trial_id: int, epoch: int, loss: float | None) -> Decision:
        """A running trial reported ``loss`` (minimisation orientation) at ``epoch``."""
        return Decision.CONTINUE

    def on_result(self, obs: Observation) -> None:
        """A trial's step ended (completed, paused at budget, stopped, killed or failed)."""

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Rebuild the policy's state from a journal's trials (in id order) after a restart.

        The default re-tells every observation; policies with more state override it.
        """
        for obs in observations:
            self.on_result(obs)

    #: Names of parameters that :meth:`update` may change while a study runs.
    live_params: tuple[str, ...] = ()

    def check_update(self, **params: Any) -> None:
        """Raise ``ValueError`` naming any parameter that cannot change live."""
        for name in params:
            if name not in self.live_params:
                raise ValueError(f"{type(self).__name__}: {name!r} cannot be changed while running "
                                 f"(live parameters: {list(self.live_params)})")

    def update(self, **params: Any) -> None:
        """Change live parameters (the study journals each change)."""
        self.check_update(**params)
        for name, value in params.items():
            setattr(self, name, value)

    def emit(self, action: str, **fields: Any) -> None:
        """Record a policy event (e.g. an automatic switch); the study journals it as a control."""
        self._events.append({"action": action, **fields})

    def drain_events(self) -> list[dict[str, Any]]:
        """Events emitted since the last call (the engine calls this after each decision)."""
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """Release background resources (threads); called when the study ends."""

    def params(self) -> dict[str, Any]:
        """JSON-able parameters, journalled at study start."""
        return {"seed": self.seed}

    def state(self) -> dict[str, Any]:
        """JSON-able live facts for panels (e.g. current ``b``); empty by default."""
        return {}
