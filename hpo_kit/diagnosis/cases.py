"""Deliberately broken (and one healthy) digits-MLP trainings, each with the indicator it must trip.

Used by the tests, the benchmark and demos to check a diagnosis setup end to end:
``Study(case_objective, case_space(), monitor=Diagnosis(), data=digits, max_epochs=20)``.
Every case is a real torch training on sklearn's digits (``hpo_kit.examples.digits``), with a
:class:`~hpo_kit.diagnosis.Watcher` attached in the usual two lines.

=================  ======================================================  =========  =====
case               what is broken                                          indicator  epoch
=================  ======================================================  =========  =====
``huge_lr``        ReLU MLP, SGD lr=1e6: the weights overflow to NaN       AGV        1
``vanishing``      8 sigmoid layers, weights N(0, 0.01): gradients die     ERG        1
                   out towards the input
``dying``          ReLU MLP, hidden bias -0.5: most units never fire       LAR        5
``zero_lr``        lr = 0: the loss never moves                            PLC        3
``healthy``        ReLU MLP 64x2, SGD lr=0.02, momentum 0.9, batch 32      none       -
=================  ======================================================  =========  =====

The epoch is the one the default :class:`~hpo_kit.diagnosis.Diagnosis` fires at with a
20-epoch budget (LAR waits 5 epochs by definition, PLC 3).
"""
from __future__ import annotations

from typing import Any

from ..space import Categorical, Integer, Space

#: case -> (indicator expected, epoch it fires at); ``None`` for the healthy case.
EXPECTED: dict[str, tuple[str, int] | None] = {
    "huge_lr": ("AGV", 1), "vanishing": ("ERG", 1), "dying": ("LAR", 5), "zero_lr": ("PLC", 3), "healthy": None,
}


def case_space(seeds: int = 20) -> Space:
    """The cases, a seed and a minimum epoch duration; configurations for :func:`case_objective`."""
    return Space({"case": Categorical(list(EXPECTED)), "seed": Integer(0, max(1, seeds - 1)),
                  "epoch_seconds": Categorical([0.0, 0.25])})


def build_case(case: str, seed: int = 0) -> tuple[Any, Any, int]:
    """Model, optimizer and batch size of ``case`` (see the module table), seeded.

    Raises
    ------
    ValueError
        For an unknown case.
    """
    import torch
    from torch import nn

    from ..examples.objectives import build_mlp

    if case not in EXPECTED:
        raise ValueError(f"build_case: case={case!r} must be one of {list(EXPECTED)}")
    torch.manual_seed(seed)
    lr = {"huge_lr": 1e6, "zero_lr": 0.0}.get(case, 0.02)
    if case == "vanishing":
        model = build_mlp(64, 10, 64, 8, "sigmoid")
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 1e-2)
    elif case == "dying":
        model = build_mlp(64, 10, 64, 1, "relu")
        nn.init.constant_(model[0].bias, -0.5)  # the hidden layer: ~80% of its units dead on a batch
    else:
        model = build_mlp(64, 10, 64, 2, "relu")
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), 32


def train_case(case: str, seed: int, epochs: int, probes: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Train ``case`` in this process for ``epochs``; one report dict per epoch.

    ``probes`` are callables ``probe(model) -> collect`` (e.g. ``lambda m: Watcher(m).collect``);
    report ``i`` holds ``diag<i>`` from probe ``i``. For comparing statistics side by side.
    """
    import torch

    from ..examples.data import digits
    from ..examples.objectives import evaluate, train_epoch

    x, y, xv, yv = digits()
    model, opt, batch = build_case(case, seed)
    collects = [p(model) for p in probes]
    gen = torch.Generator().manual_seed(seed)
    reports = []
    for epoch in range(1, epochs + 1):
        train_loss = train_epoch(model, opt, x, y, batch, gen)
        val_loss, val_acc = evaluate(model, xv, yv)
        r: dict[str, Any] = {"epoch": epoch, "metrics": {"train_loss": train_loss, "val_loss": val_loss,
                                                         "val_acc": val_acc}}
        r.update({f"diag{i}": c() for i, c in enumerate(collects)})
        reports.append(r)
    return reports


def case_objective(config: dict[str, Any], reporter: Any) -> None:
    """Function-form objective: trains ``config["case"]`` with a Watcher; reports losses and accuracy.

    ``config["epoch_seconds"]`` (default 0) pads each epoch to at least that long. A digits
    epoch takes ~20 ms, while a stop lands at the first epoch boundary after the driver has
    read the report (typically 0.05-0.5 s later): padding stands in for a real epoch's length,
    so that "stopped N epochs after the finding" means what it would on a real workload.
    """
    import time

    import torch

    from ..examples.data import digits
    from ..examples.objectives import evaluate, train_epoch
    from .watcher import Watcher

    x, y, xv, yv = reporter.data if reporter.data is not None else digits()
    model, opt, batch = build_case(config["case"], config.get("seed", 0))
    reporter.add_probe(Watcher(model).collect)
    gen = torch.Generator().manual_seed(config.get("seed", 0))
    for epoch in range(1, (reporter.max_epochs or 20) + 1):
        t0 = time.perf_counter()
        train_loss = train_epoch(model, opt, x, y, batch, gen)
        val_loss, val_acc = evaluate(model, xv, yv)
        time.sleep(max(0.0, config.get("epoch_seconds", 0.0) - (time.perf_counter() - t0)))
        reporter.report(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)
