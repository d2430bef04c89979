"""The two forms a trial can take.

* Function form: ``objective(config, reporter)`` trains and calls
  ``reporter.report(epoch=..., **metrics)`` every epoch. Simple; on a promotion or a
  restart it trains again from scratch.
* Stateful form: a :class:`Trainable` subclass. The engine drives it one epoch at a
  time, saves its state to the checkpoint store, and can pause it, resume it, promote
  it (ASHA) or start a new trial from its weights (Hypersearch) without retraining.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Trainable(ABC):
    """A trial that can save and restore its state.

    The engine calls ``setup(config, data)`` once per step, ``load_state_dict`` when the
    trial continues from a checkpoint (its own, or its parent's), then ``train_epoch``
    once per epoch, and ``state_dict`` to checkpoint.
    """

    @abstractmethod
    def setup(self, config: dict[str, Any], data: Any) -> None:
        """Build the model, optimizer and data loaders for ``config``."""

    @abstractmethod
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch (``epoch`` counts from 1) and return its metrics."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training (weights, optimizer state)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (possibly another trial's)."""

    # Optional: ``def diagnostics(self) -> dict`` - if defined, its dict is sent with every
    # epoch's report under "diag" (see hpo_kit.diagnosis.Watcher).

    def predict(self, inputs: Any) -> Any:
        """Model outputs for ``inputs``; used by ensembles. Optional."""
        raise NotImplementedError(f"{type(self).__name__} does not implement predict()")


class TorchTrainable(Trainable):
    """A :class:`Trainable` whose state is ``self.model`` and ``self.opt`` (a torch module and optimizer)."""

    model: Any
    opt: Any

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
