"""Toy objectives with known answers, for tests, benchmarks and the contract suite.

They live in the package (like ``optuna.testing``) so that Dask worker processes can
import them by name.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any

from .trainable import TorchTrainable


def quadratic(config: dict[str, Any], reporter: Any) -> None:
    """``loss = (x - 0.3)^2 + 1/epoch``; optional ``sleep`` seconds per epoch."""
    for epoch in range(1, (reporter.max_epochs or config.get("epochs", 3)) + 1):
        time.sleep(config.get("sleep", 0.0))
        reporter.report(epoch=epoch, loss=(config["x"] - 0.3) ** 2 + 1.0 / epoch)


def failing(config: dict[str, Any], reporter: Any) -> None:
    """Raises on ``x > 0.5`` after one report; otherwise behaves like :func:`quadratic`."""
    reporter.report(epoch=1, loss=config["x"])
    if config["x"] > 0.5:
        raise RuntimeError(f"boom at x={config['x']:.3f}")
    reporter.report(epoch=2, loss=config["x"] / 2)


def nan_loss(config: dict[str, Any], reporter: Any) -> None:
    """Reports NaN on ``x > 0.5`` and +inf on ``x < 0.1``."""
    value = math.nan if config["x"] > 0.5 else (math.inf if config["x"] < 0.1 else config["x"])
    reporter.report(epoch=1, loss=value)


def hang_if(config: dict[str, Any], reporter: Any) -> None:
    """Hangs (sleeps an hour, never reporting) when ``config['hang']`` is true."""
    if config.get("hang"):
        time.sleep(3600)
    reporter.report(epoch=1, loss=config["x"])


def pid_and_sleep(config: dict[str, Any], reporter: Any) -> None:
    """Reports its worker pid and wall times; sleeps ``sleep`` seconds per epoch."""
    for epoch in range(1, (reporter.max_epochs or config.get("epochs", 1)) + 1):
        t0 = time.time()
        time.sleep(config.get("sleep", 0.05))
        reporter.report(epoch=epoch, loss=config.get("x", 0.0), pid=os.getpid(), t0=t0, t1=time.time())


def count_loads(path: str) -> Any:
    """A data loader that appends its pid to ``path`` each time it runs."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    return {"loaded_by": os.getpid()}


class CountingTrainable(TorchTrainable):
    """A tiny torch linear model; reports ``loss``, the epoch it trained and its first weight.

    ``config['sleep']`` seconds per epoch let tests hit a trial mid-training.
    """

    def setup(self, config: dict[str, Any], data: Any) -> None:
        import torch

        torch.manual_seed(int(config.get("seed", 0)))
        self.config = config
        self.model = torch.nn.Linear(4, 1)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config.get("lr", 0.1))
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(64, 4, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]])
        self.initial = float(self.model.weight.detach()[0, 0])
        self.steps = 0  # epochs trained by this object: 1 at the first epoch after a restore

    def train_epoch(self, epoch: int) -> dict[str, float]:
        import torch.nn.functional as F

        time.sleep(self.config.get("sleep", 0.0))
        w0 = float(self.model.weight.detach()[0, 0])
        self.opt.zero_grad()
        loss = F.mse_loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        self.steps += 1
        return {"loss": float(loss.detach()), "w0_before": w0, "pid": os.getpid(), "steps": self.steps}

    def predict(self, inputs: Any) -> Any:
        return self.model(inputs)


def raises_base(config: dict[str, Any], reporter: Any) -> None:
    """Reports once, then raises ``config['raise']`` (``"SystemExit"``, ``"KeyboardInterrupt"``, ...) or ends."""
    import builtins

    reporter.report(epoch=1, loss=config.get("x", 0.0))
    name = config.get("raise", "none")
    if name == "SystemExit":
        raise SystemExit(3)
    if name != "none":
        raise getattr(builtins, name)()
