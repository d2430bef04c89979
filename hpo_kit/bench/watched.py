"""The training loop shared by the recorded tables' workloads (:mod:`.digits`, :mod:`.digits_resnet`,
:mod:`.mnist_cnn`): seeded alike for every configuration, a Watcher's statistics sent with each report."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def sgd_or_adam(config: dict[str, Any], params: Any) -> Any:
    """SGD (momentum 0.9) or Adam with the config's ``lr`` and ``weight_decay``."""
    import torch

    kw = {"lr": float(config["lr"]), "weight_decay": float(config["weight_decay"])}
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(params, momentum=0.9, **kw)
    return torch.optim.Adam(params, **kw)


def train_watched(config: dict[str, Any], reporter: Any, data: Callable[[], Any], build: Callable[[Any], Any],
                  optimizer: Callable[[dict[str, Any], Any], Any], watch: bool = True, activations: bool = False,
                  shape: tuple[int, ...] | None = None) -> None:
    """Train ``build(x)`` for the reporter's epochs; report ``train_loss``, ``val_loss``, ``val_acc``.

    ``data()`` is used when the reporter carries none; ``shape`` reshapes the inputs (flat MNIST to
    images); ``watch`` adds a Watcher (``activations``: with activation statistics) as a probe.
    """
    import torch

    from ..diagnosis.watcher import Watcher
    from ..examples.objectives import evaluate, train_epoch

    x, y, xv, yv = reporter.data if reporter.data is not None else data()
    if shape is not None:
        x, xv = x.view(-1, *shape), xv.view(-1, *shape)
    torch.manual_seed(0)
    model = build(x)
    opt = optimizer(config, model.parameters())
    if watch:
        reporter.add_probe(Watcher(model, activations=activations).collect)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(1, (reporter.max_epochs or 20) + 1):
        train_loss = train_epoch(model, opt, x, y, int(config["batch_size"]), gen)
        val_loss, val_acc = evaluate(model, xv, yv)
        reporter.report(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)
