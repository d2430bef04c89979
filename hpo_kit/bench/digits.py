"""The recorded table's workload: an MLP on sklearn's 8x8 digits over a space with bad regions.

``benchmarks/record_table.py`` trains every configuration of :func:`space` to its full epochs in
a real :class:`~hpo_kit.Study` (``Diagnosis`` in shadow mode, ``on_flag="flag"``, a
:class:`~hpo_kit.diagnosis.Watcher` on the model) and :func:`hpo_kit.bench.record` turns the
journal into a table. The space has the bad regions of BTTackler's experiments: sigmoid and
tanh saturate; SGD at lr 1e-5 never moves; lr near 1 diverges under Adam/RMSprop; init scales
of 0.01 or 10 vanish or explode; batch norm rescues some of them.
"""
from __future__ import annotations

import functools
from typing import Any

from .watched import train_watched
from ..space import Categorical, Integer, Real, Space


def space() -> Space:
    """activation (incl. sigmoid), optimizer, lr over 5 decades, init scale, batch norm, depth, width, batch."""
    return Space({"activation": Categorical(["relu", "tanh", "sigmoid"]),
                  "optimizer": Categorical(["sgd", "adam", "rmsprop"]),
                  "lr": Real(1e-5, 1.0, log=True), "init_scale": Real(0.01, 10.0, log=True),
                  "batch_norm": Categorical([False, True]), "depth": Integer(1, 4),
                  "width": Categorical([32, 128]), "batch_size": Categorical([32, 128])})


def build(config: dict[str, Any], n_in: int = 64, n_out: int = 10) -> Any:
    """The MLP of ``config``: ``depth`` hidden layers (Linear, optional BatchNorm1d, activation)."""
    import torch
    import torch.nn as nn

    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[config["activation"]]
    layers: list = []
    d = n_in
    for _ in range(int(config["depth"])):
        layers += [nn.Linear(d, config["width"]), *([nn.BatchNorm1d(config["width"])] if config["batch_norm"] else []),
                   act()]
        d = config["width"]
    model = nn.Sequential(*layers, nn.Linear(d, n_out))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(float(config["init_scale"]))
    return model


def optimizer(config: dict[str, Any], params: Any) -> Any:
    import torch

    make = {"sgd": functools.partial(torch.optim.SGD, momentum=0.9), "adam": torch.optim.Adam,
            "rmsprop": torch.optim.RMSprop}[config["optimizer"]]
    return make(params, lr=float(config["lr"]))


def objective(config: dict[str, Any], reporter: Any, watch: bool = True) -> None:
    """Function-form objective: ``train_loss``, ``val_loss``, ``val_acc`` per epoch, Watcher statistics
    under ``diag`` (``watch=True``). Seeded identically for every configuration."""
    from ..examples.data import digits

    train_watched(config, reporter, digits, lambda x: build(config, x.shape[1]), optimizer, watch, activations=True)
