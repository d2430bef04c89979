"""Offline datasets, and torchvision's real loaders on files written in their on-disk format."""
from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch

from hpo_kit.examples import digits, mnist5k, torchvision_dataset


def test_offline_datasets_split_and_scale():
    x, y, xv, yv = digits()
    assert x.shape[1] == 64 and len(x) + len(xv) == 1797 and x.max() <= 1.0 and set(y.tolist()) == set(range(10))
    x, y, xv, yv = mnist5k()
    assert x.shape[1] == 784 and len(x) + len(xv) == 5000 and x.dtype == torch.float32
    assert torch.equal(digits()[1], digits()[1])  # the split is seeded


def _idx(path, array, magic):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes())


def test_mnist_loader_reads_torchvision_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), 2051)
        _idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,), dtype=np.uint8), 2049)
    x, y, xv, yv = torchvision_dataset("mnist", str(tmp_path), flatten=True)
    assert x.shape == (12, 784) and xv.shape == (5, 784) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y.dtype == torch.int64 and len(yv) == 5


def test_cifar10_loader_reads_torchvision_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, 4).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    with pytest.raises(RuntimeError, match="corrupted"):  # torchvision checks the official MD5s
        torchvision_dataset("cifar10", str(tmp_path))
    x, y, xv, yv = torchvision_dataset("cifar10", str(tmp_path), verify=False)
    assert x.shape == (20, 3, 32, 32) and xv.shape == (4, 3, 32, 32) and y.dtype == torch.int64


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="name='svhn'"):
        torchvision_dataset("svhn", "/nonexistent")
