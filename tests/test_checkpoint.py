"""The checkpoint store: atomic, bounded, on any fsspec URL."""
from __future__ import annotations

import pickle

import pytest
import torch

from hpo_kit import CheckpointStore, Real, Study, TrialStatus, read_journal
from hpo_kit.testing import CountingTrainable


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


def test_local_save_fsyncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    import os
    import stat

    calls: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        calls.append(("fsync", st.st_ino, stat.S_ISDIR(st.st_mode)))
        real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        calls.append(("replace", os.stat(src).st_ino, os.fspath(dst)))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = CheckpointStore(str(tmp_path / "ckpt"))
    final = store.save(0, 1, {"w": torch.ones(2)})
    kinds = [c[0] for c in calls]
    assert "replace" in kinds, calls
    i = kinds.index("replace")
    moved_inode, target = calls[i][1], calls[i][2]
    assert target == final
    assert ("fsync", moved_inode, False) in calls[:i]  # the temp file's data is on disk before the rename
    if os.name != "nt":
        assert any(c[0] == "fsync" and c[2] for c in calls[i + 1:])  # then the directory entry
    assert store.load(0)[0] == 1


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    import os

    store = CheckpointStore(str(tmp_path / "ckpt"))
    store.save(0, 1, {"a": 1})

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save(0, 2, {"a": 2})
    monkeypatch.undo()
    assert store.epochs(0) == [1] and store.load(0)[1] == {"a": 1}
    assert not [p for p in store.fs.ls(store._dir(0), detail=False) if ".tmp-" in p]


def test_the_attempt_travels_with_the_checkpoint(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.save(4, 1, {"a": 1}, report={"loss": 0.5}, attempt=3)
    store.save(4, 2, {"a": 2}, {"loss": 0.25})  # the old positional call still works
    assert store.load_payload(4, epoch=1) == {"epoch": 1, "state": {"a": 1}, "report": {"loss": 0.5}, "attempt": 3}
    assert store.load_payload(4)["attempt"] is None
    assert store.load_record(4, epoch=1) == (1, {"a": 1}, {"loss": 0.5})  # same shape as ever
    with pytest.raises(TypeError, match="attempt"):
        store.save(4, 3, {}, attempt="3")


class _Arbitrary:
    """Any picklable object that is not a tensor, container or primitive."""

    def __init__(self, x):
        self.x = x


def test_weights_only_loads_state_dicts_and_refuses_arbitrary_objects(tmp_path):
    net = torch.nn.Linear(3, 2)
    safe = CheckpointStore(str(tmp_path), weights_only=True)
    assert safe.weights_only and not CheckpointStore(str(tmp_path), weights_only=False).weights_only
    safe.save(0, 1, {"model": net.state_dict(), "step": 7, "lr": 0.1, "extra": None},
              report={"loss": 0.5}, attempt=1)
    epoch, state, report = safe.load_record(0)
    assert epoch == 1 and state["step"] == 7 and report == {"loss": 0.5}
    assert all(torch.equal(state["model"][k], v) for k, v in net.state_dict().items())
    assert safe.load_payload(0)["attempt"] == 1

    trusting = CheckpointStore(str(tmp_path), weights_only=False)
    trusting.save(1, 1, {"obj": _Arbitrary(5)})
    with pytest.raises(pickle.UnpicklingError):
        safe.load(1)
    assert trusting.load(1)[1]["obj"].x == 5  # weights_only=False trusts its files

    clone = pickle.loads(pickle.dumps(safe))  # the setting travels to workers
    assert clone.weights_only and clone.keep == safe.keep
    old = CheckpointStore.__new__(CheckpointStore)
    old.__setstate__({"url": str(tmp_path), "keep": 2})  # pickled by an older version
    assert old.weights_only is False


def test_checkpoints_are_weights_only_by_default_and_name_the_option_when_a_state_needs_more(tmp_path):
    from hpo_kit.engine.checkpoint import NotWeightsOnly, default_store

    store = CheckpointStore(str(tmp_path))
    assert store.weights_only and default_store(tmp_path / "j.jsonl").weights_only
    store.save(0, 1, {"model": torch.nn.Linear(2, 1).state_dict(), "step": 1})  # a torch state loads weights-only
    assert store.load(0)[1]["step"] == 1
    with pytest.raises(NotWeightsOnly, match=r"trial 1's checkpoint state.*weights_only=False"):
        CheckpointStore(str(tmp_path)).save(1, 1, {"obj": _Arbitrary(5)})  # refused at its first save
    assert store.epochs(1) == []
    CheckpointStore(str(tmp_path), weights_only=False).save(2, 1, {"obj": _Arbitrary(6)})
    with pytest.raises(NotWeightsOnly, match=r"trial-2/epoch-1\.pt.*weights_only=False"):
        store.load(2)  # a file written by a trusting store: named, not torch's page of advice
    with pytest.raises(TypeError, match="weights_only"):
        CheckpointStore(str(tmp_path), weights_only="yes")


class _KeepsAnObject(CountingTrainable):
    """A Trainable whose state holds an arbitrary object: it needs weights_only=False."""

    def state_dict(self):
        return {**super().state_dict(), "extra": _Arbitrary(1)}

    def load_state_dict(self, state):
        super().load_state_dict(state)


def _settings(journal):
    return next(r for r in read_journal(journal) if r["event"] == "study_start")["settings"]


def test_a_study_journals_weights_only_and_a_resume_keeps_it(client, tmp_path):
    space = {"lr": Real(0.01, 0.1)}
    safe_journal = tmp_path / "safe.jsonl"
    failed = Study(_KeepsAnObject, space, n_trials=1, max_epochs=2, cluster=client, journal=safe_journal)
    with pytest.warns(RuntimeWarning, match="FAILED"):
        failed.run(progress=False)
    t = failed.trials[0]
    assert t.status is TrialStatus.FAILED and "weights_only=False" in t.error, t.error
    assert _settings(safe_journal)["weights_only"] is True

    journal = tmp_path / "trusting.jsonl"
    trusting = CheckpointStore(str(tmp_path / "ckpt"), weights_only=False)
    Study(_KeepsAnObject, space, n_trials=1, max_epochs=2, cluster=client, journal=journal,
          checkpoints=trusting).run(progress=False)
    assert _settings(journal)["weights_only"] is False
    again = Study.resume(journal, n_trials=2)
    assert again.store.url == trusting.url and again.store.weights_only is False
    again.cluster = client
    again.run(progress=False)
    assert [t.status for t in again.trials.values()] == [TrialStatus.COMPLETED] * 2
    again = Study.resume(safe_journal)
    assert again.store.weights_only is True
    again._journal.close()
