"""A small CIFAR-shaped CNN as a stateful trial, on any device: the GPU benchmark's workload.

Data are synthetic 3x32x32 images with class-dependent means (learnable, generated
from a seed, no download), so the benchmark and its tests run offline anywhere.
"""
from __future__ import annotations

from typing import Any

from ..trainable import TorchTrainable


def synthetic_images(n: int = 5000, seed: int = 0) -> tuple:
    """``(x, y, x_val, y_val)``: ``n`` training and ``n // 5`` validation images, 10 classes."""
    import torch

    g = torch.Generator().manual_seed(seed)
    means = torch.randn(10, 3, 1, 1, generator=g)
    out = []
    for size in (n, n // 5):
        y = torch.randint(0, 10, (size,), generator=g)
        x = means[y] * 0.5 + torch.randn(size, 3, 32, 32, generator=g)
        out += [x, y]
    return tuple(out)


def small_cnn(width: int = 32) -> Any:
    """Four 3x3 conv layers (batch norm, ReLU, two poolings) and a linear head."""
    import torch.nn as nn

    def block(cin: int, cout: int, pool: bool) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()] + ([nn.MaxPool2d(2)] if pool else [])

    return nn.Sequential(*block(3, width, False), *block(width, width, True), *block(width, 2 * width, False),
                         *block(2 * width, 2 * width, True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2 * width, 10))


class SmallCNN(TorchTrainable):
    """Config: ``lr``, ``width``, ``batch_size``; trains on CUDA when the worker has a GPU."""

    def setup(self, config: dict[str, Any], data: Any) -> None:
        import torch

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        x, y, xv, yv = data if data is not None else synthetic_images()
        self.x, self.y, self.xv, self.yv = (t.to(self.device) for t in (x, y, xv, yv))
        torch.manual_seed(int(config.get("seed", 0)))
        self.config = config
        self.model = small_cnn(int(config.get("width", 32))).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config["lr"], momentum=0.9)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        self.model.train()
        bs = int(self.config.get("batch_size", 128))
        perm = torch.randperm(len(self.x), device=self.device)
        total = torch.zeros((), device=self.device)
        for i in range(0, len(self.x), bs):
            idx = perm[i:i + bs]
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
            total += loss.detach() * len(idx)  # stays on the device: one sync per epoch
        self.model.eval()
        with torch.no_grad():
            out = self.model(self.xv)
            val_loss = F.cross_entropy(out, self.yv)
            val_acc = (out.argmax(1) == self.yv).float().mean()
        return {"train_loss": float(total) / len(self.x), "val_loss": float(val_loss), "val_acc": float(val_acc),
                "cuda": float(self.device == "cuda")}

    def predict(self, inputs: Any) -> Any:
        import torch

        self.model.eval()
        with torch.no_grad():
            return torch.softmax(self.model(inputs.to(self.device)), dim=1)
