"""A fourth table's workload: a small residual MLP on sklearn's digits, over a space a user would write.

``python benchmarks/diagnosis.py --part record --model digits-resnet`` trains every configuration
of :func:`space` to its full epochs with a :class:`~hpo_kit.diagnosis.Watcher` and ``Diagnosis()``
in shadow mode. Unlike the other tables' spaces this one has no knob put there to break training
(no init scale, no sigmoid): lr over four decades, SGD or Adam, ReLU or tanh, weight decay,
width, residual blocks and batch size, so its bad configurations are the ones an ordinary search
meets. The space was fixed before the table was recorded.
"""
from __future__ import annotations

from typing import Any

from ..examples.data import digits as DATA
from .watched import sgd_or_adam, train_watched
from ..space import Categorical, Integer, Real, Space


#: The table's ``workload`` line.
WORKLOAD = "hpo_kit.bench.digits_resnet: residual MLP on sklearn digits (1348 train / 449 val)"


def space() -> Space:
    """lr log-uniform 1e-4..1, SGD (momentum 0.9) or Adam, ReLU or tanh, weight decay, width, blocks, batch."""
    return Space({"lr": Real(1e-4, 1.0, log=True), "optimizer": Categorical(["sgd", "adam"]),
                  "activation": Categorical(["relu", "tanh"]), "weight_decay": Real(1e-6, 1e-2, log=True),
                  "width": Categorical([32, 64, 128]), "blocks": Integer(1, 4),
                  "batch_size": Categorical([32, 128])})


def build(config: dict[str, Any], n_in: int = 64, n_out: int = 10) -> Any:
    """Linear stem, ``blocks`` residual blocks ``h + W2 act(W1 h)``, activation, linear head."""
    import torch.nn as nn

    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[config["activation"]]
    w = int(config["width"])

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(w, w), act(), nn.Linear(w, w))

        def forward(self, h: Any) -> Any:
            return h + self.inner(h)

    return nn.Sequential(nn.Linear(n_in, w), *(Block() for _ in range(int(config["blocks"]))), act(),
                         nn.Linear(w, n_out))


optimizer = sgd_or_adam  # the workload's optimizer (tests and benchmarks call it by this name)


def objective(config: dict[str, Any], reporter: Any, watch: bool = True) -> None:
    """Function-form objective: ``train_loss``, ``val_loss``, ``val_acc`` per epoch, Watcher statistics
    under ``diag`` (``watch=True``). Seeded identically for every configuration."""
    train_watched(config, reporter, DATA, lambda x: build(config, x.shape[1]), optimizer, watch, activations=True)
