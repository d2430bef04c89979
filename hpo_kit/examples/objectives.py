"""A small MLP on digits in both trial forms: the demo's and the tests' real torch workload."""
from __future__ import annotations

from typing import Any

from ..space import Categorical, Integer, Real, Space
from ..trainable import Trainable


def digits_space() -> Space:
    """The demo's search space: learning rate (log), width (log), depth, activation, batch size."""
    return Space({"lr": Real(1e-4, 1.0, log=True), "width": Integer(16, 256, log=True), "depth": Integer(1, 3),
                  "activation": Categorical(["relu", "tanh"]), "batch_size": Categorical([32, 64, 128])})


def build_mlp(n_in: int, n_out: int, width: int, depth: int, activation: str) -> Any:
    import torch.nn as nn

    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    layers, d = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), act()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, n_out))


def train_epoch(model: Any, opt: Any, x: Any, y: Any, batch_size: int, gen: Any) -> float:
    """One epoch of minibatch SGD; returns the mean training loss."""
    import torch
    import torch.nn.functional as F

    model.train()
    perm = torch.randperm(len(x), generator=gen)
    total = 0.0
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(x)


def evaluate(model: Any, x: Any, y: Any) -> tuple[float, float]:
    """Validation loss and accuracy."""
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        out = model(x)
        return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())


def digits_mlp(config: dict[str, Any], reporter: Any) -> None:
    """Function-form objective: reports ``train_loss``, ``val_loss``, ``val_acc`` each epoch."""
    import torch

    from .data import digits

    x, y, xv, yv = reporter.data if reporter.data is not None else digits()
    torch.manual_seed(config.get("seed", 0))
    gen = torch.Generator().manual_seed(config.get("seed", 0))
    model = build_mlp(x.shape[1], 10, config["width"], config["depth"], config["activation"])
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    for epoch in range(1, (reporter.max_epochs or config.get("epochs", 10)) + 1):
        train_loss = train_epoch(model, opt, x, y, config["batch_size"], gen)
        val_loss, val_acc = evaluate(model, xv, yv)
        reporter.report(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)


class DigitsMLP(Trainable):
    """Stateful form of :func:`digits_mlp`: can pause, resume, be promoted or copied."""

    def setup(self, config: dict[str, Any], data: Any) -> None:
        import torch

        from .data import digits

        self.x, self.y, self.xv, self.yv = data if data is not None else digits()
        torch.manual_seed(config.get("seed", 0))
        self.gen = torch.Generator().manual_seed(config.get("seed", 0))
        self.config = config
        self.model = build_mlp(self.x.shape[1], 10, config["width"], config["depth"], config["activation"])
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config["lr"], momentum=0.9)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        train_loss = train_epoch(self.model, self.opt, self.x, self.y, self.config["batch_size"], self.gen)
        val_loss, val_acc = evaluate(self.model, self.xv, self.yv)
        return {"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # A copy from another trial keeps its weights but not its optimizer's hyperparameters.
        self.model.load_state_dict(state["model"])
        if self.opt.state_dict()["param_groups"][0]["lr"] == state["opt"]["param_groups"][0]["lr"]:
            self.opt.load_state_dict(state["opt"])

    def predict(self, inputs: Any) -> Any:
        import torch

        self.model.eval()
        with torch.no_grad():
            return torch.softmax(self.model(inputs), dim=1)
