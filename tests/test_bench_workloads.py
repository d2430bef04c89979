"""The workloads of the recorded tables (hpo_kit.bench.digits_resnet, .mnist_cnn): spaces, models, reports."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")


class FakeReporter:
    """What the objectives read of a reporter: data, max_epochs, add_probe, report."""

    def __init__(self, data: Any, max_epochs: int) -> None:
        self.data, self.max_epochs, self.probes, self.reports = data, max_epochs, [], []

    def add_probe(self, probe: Any) -> None:
        self.probes.append(probe)

    def report(self, epoch: int, **metrics: float) -> None:
        diag = {k: v for p in self.probes for k, v in p().items()}
        self.reports.append({"epoch": epoch, "metrics": metrics, "diag": diag})


def _small(x: Any, y: Any, n: int) -> tuple:
    return x[:n], y[:n], x[n:2 * n], y[n:2 * n]


def test_digits_resnet_learns_and_reports_gradient_statistics():
    from hpo_kit.bench import digits_resnet
    from hpo_kit.examples.data import digits

    space = digits_resnet.space()
    # The space a user would write: no init scale, no sigmoid; lr over four decades.
    assert set(space) == {"lr", "optimizer", "activation", "weight_decay", "width", "blocks", "batch_size"}
    config = space.sample(np.random.default_rng(0))
    assert space.validate(config) == config
    config = {**config, "lr": 1e-2, "optimizer": "adam", "activation": "relu", "blocks": 2, "width": 32}
    model = digits_resnet.build(config)
    assert tuple(model(torch.zeros(5, 64)).shape) == (5, 10)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 2 + 2 * 2  # stem, 2 x 2 in blocks, head
    x, y, xv, yv = digits()
    rep = FakeReporter((x[:400], y[:400], xv, yv), max_epochs=4)
    digits_resnet.objective(config, rep)
    assert [r["epoch"] for r in rep.reports] == [1, 2, 3, 4]
    accs = [r["metrics"]["val_acc"] for r in rep.reports]
    assert accs[-1] > 0.5 and all(math.isfinite(r["metrics"]["train_loss"]) for r in rep.reports)
    diag = rep.reports[-1]["diag"]
    assert len(diag["grad_abs"]) == 6 and len(diag["grad_zero"]) == 6 and "act_zero" in diag
    assert digits_resnet.DATA is digits and digits_resnet.WORKLOAD.startswith("hpo_kit.bench.digits_resnet")


def test_mnist_cnn_builds_for_28x28_and_its_optimizers_take_weight_decay():
    from hpo_kit.bench import mnist_cnn

    space = mnist_cnn.space()
    assert set(space) == {"lr", "optimizer", "activation", "weight_decay", "channels", "batch_size"}
    for opt in ("sgd", "adam"):
        config = {"lr": 1e-3, "optimizer": opt, "activation": "tanh", "weight_decay": 1e-4, "channels": 4,
                  "batch_size": 64}
        model = mnist_cnn.build(config)
        assert tuple(model(torch.zeros(2, 1, 28, 28)).shape) == (2, 10)
        assert mnist_cnn.optimizer(config, model.parameters()).defaults["weight_decay"] == 1e-4
