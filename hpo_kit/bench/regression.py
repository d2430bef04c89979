"""Real torch regressions that ship offline, for ``benchmarks/hypersearch.py``: an MLP on
scikit-learn's diabetes data or on Friedman's first synthetic function.

* :func:`diabetes`: 442 patients, 10 features, the disease progression a year later (nearly
  linear: a linear model's MSE is about 0.5 of the target's variance);
* :func:`friedman1`: ``10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, 1)`` on 10 uniform
  features (5 of them noise), 1,000 samples, seeded (nonlinear: a network can get far below a
  linear model, so training and shape matter).

Features and target are standardised on the training split, so an MSE of 1.0 is the constant
predictor. The split is fixed: 60% train, 20% validation (the study's ``val_loss``), 20% test
(read only after a search, by :func:`test_loss`). :class:`RegressionMLP` is a
:class:`~hpo_kit.TorchTrainable`, so Hypersearch can copy its weights; a trial's initial weights
are seeded by its configuration, so every search arm that draws the same configuration starts it
from the same weights.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..space import Categorical, Integer, Real, Space
from ..trainable import TorchTrainable


def diabetes(seed: int = 0) -> dict[str, Any]:
    """The diabetes split as float32 tensors: ``x``/``y`` of ``train``, ``val`` and ``test``."""
    from sklearn.datasets import load_diabetes

    return _split(*load_diabetes(return_X_y=True), seed)


def friedman1(seed: int = 0) -> dict[str, Any]:
    """Friedman #1 (1,000 samples, noise 1.0, drawn with ``random_state=0``), split as :func:`diabetes`."""
    from sklearn.datasets import make_friedman1

    return _split(*make_friedman1(n_samples=1000, noise=1.0, random_state=0), seed)


TASKS = {"diabetes": diabetes, "friedman1": friedman1}


def _split(x: Any, y: Any, seed: int) -> dict[str, Any]:
    import numpy as np
    import torch

    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = n_test = len(x) // 5
    parts = {"test": idx[:n_test], "val": idx[n_test:n_test + n_val], "train": idx[n_test + n_val:]}
    tr = parts["train"]
    mx, sx = x[tr].mean(0), x[tr].std(0)
    my, sy = y[tr].mean(), y[tr].std()
    out: dict[str, Any] = {}
    for name, rows in parts.items():
        out[f"x_{name}"] = torch.as_tensor((x[rows] - mx) / sx, dtype=torch.float32)
        out[f"y_{name}"] = torch.as_tensor((y[rows] - my) / sy, dtype=torch.float32)[:, None]
    return out


def space() -> Space:
    """lr over 4 decades, weight decay, batch size, and the shape of the network and its optimizer."""
    return Space({"lr": Real(1e-4, 0.3, log=True), "weight_decay": Real(1e-6, 1e-1, log=True),
                  "batch_size": Categorical([16, 32, 64]), "width": Categorical([16, 64]),
                  "depth": Integer(1, 3), "optimizer": Categorical(["adam", "sgd"])})


#: What Hypersearch must copy from the best network: dimensions that shape its weights or optimizer state.
INHERIT = ("width", "depth", "optimizer")


def _seed(config: dict[str, Any]) -> int:
    text = json.dumps(config, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


class RegressionMLP(TorchTrainable):
    """``depth`` hidden ReLU layers of ``width``; Adam or SGD (momentum 0.9); MSE; ``val_loss`` per epoch."""

    def setup(self, config: dict[str, Any], data: Any) -> None:
        import torch
        from torch import nn

        self.data = data if data is not None else diabetes()
        torch.manual_seed(_seed(config))
        layers: list[Any] = []
        d = self.data["x_train"].shape[1]
        for _ in range(int(config["depth"])):
            layers += [nn.Linear(d, int(config["width"])), nn.ReLU()]
            d = int(config["width"])
        self.model = nn.Sequential(*layers, nn.Linear(d, 1))
        kw = {"lr": float(config["lr"]), "weight_decay": float(config["weight_decay"])}
        self.opt = (torch.optim.Adam(self.model.parameters(), **kw) if config["optimizer"] == "adam"
                    else torch.optim.SGD(self.model.parameters(), momentum=0.9, **kw))
        self.batch = int(config["batch_size"])
        self.gen = torch.Generator().manual_seed(_seed(config) + 1)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        x, y = self.data["x_train"], self.data["y_train"]
        self.model.train()
        total = 0.0
        for rows in torch.randperm(len(x), generator=self.gen).split(self.batch):
            self.opt.zero_grad()
            loss = F.mse_loss(self.model(x[rows]), y[rows])
            loss.backward()
            self.opt.step()
            total += float(loss.detach()) * len(rows)
        return {"train_loss": total / len(x), "val_loss": self.loss("val")}

    def loss(self, split: str) -> float:
        """Mean squared error on ``split`` (``"val"`` or ``"test"``), in units of the target's variance."""
        import torch
        import torch.nn.functional as F

        self.model.eval()
        with torch.no_grad():
            value = float(F.mse_loss(self.model(self.data[f"x_{split}"]), self.data[f"y_{split}"]))
        return value if value == value else float("inf")

    def predict(self, inputs: Any) -> Any:
        import torch

        self.model.eval()
        with torch.no_grad():
            return self.model(inputs)


def test_loss(models: list[RegressionMLP]) -> float:
    """Test MSE of the mean prediction of ``models`` (one model: its own)."""
    import torch.nn.functional as F

    from ..ensemble import ensemble_predict

    data = models[0].data
    return float(F.mse_loss(ensemble_predict(models, data["x_test"]), data["y_test"]))


test_loss.__test__ = False  # not a pytest test
