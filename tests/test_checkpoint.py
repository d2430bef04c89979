"""The checkpoint store: atomic, bounded, on any fsspec URL."""
from __future__ import annotations

import pickle

import pytest
import torch

from hpo_kit import CheckpointStore


@pytest.mark.parametrize("scheme", ["", "file://", "memory://"])
def test_save_load_keep_and_reports(tmp_path, scheme):
    url = f"memory://store-{tmp_path.name}" if scheme == "memory://" else f"{scheme}{tmp_path / 'ckpt'}"
    store = CheckpointStore(url, keep=2)
    assert store.latest(3) is None
    for epoch in (1, 2, 3):
        store.save(3, epoch, {"w": torch.full((2,), float(epoch))}, report={"loss": 1.0 / epoch})
    assert store.epochs(3) == [2, 3]  # older ones deleted
    epoch, state, report = store.load_record(3)
    assert epoch == 3 and torch.equal(state["w"], torch.full((2,), 3.0)) and report == {"loss": 1 / 3}
    assert store.load(3, epoch=2)[1]["w"][0] == 2.0
    assert not [p for p in store.fs.ls(store._dir(3), detail=False) if ".tmp-" in p]
    with pytest.raises(FileNotFoundError, match="trial 9"):
        store.load(9)


def test_store_travels_to_workers_by_url(tmp_path):
    store = CheckpointStore(str(tmp_path), keep=1)
    store.save(0, 1, {"a": 1})
    clone = pickle.loads(pickle.dumps(store))
    assert clone.url == store.url and clone.load(0)[1] == {"a": 1}
    with pytest.raises(ValueError, match="keep=0"):
        CheckpointStore(str(tmp_path), keep=0)
