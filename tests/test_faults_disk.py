"""A full disk under the journal or the checkpoint store (issue 26, item 3), on real clusters.

The study fails with :class:`~hpo_kit.errors.DiskFull` naming the path (state "failed", its error
set), journals what it can (the journal is a prefix of the study's records: nothing after a lost
one), closes its embedded cluster (no worker process left), and ``Study.resume`` finishes it once
there is space, running no ended trial again. Checkpoint writes that fail FAIL their trials with
the error recorded, and ``DISK_FULL_STREAK`` of them in a row fail the study instead of the budget.

Two ways to fill a disk: a small tmpfs mounted by the test (needs root and ``mount``; skipped with
the reason elsewhere), and :mod:`hpo_kit.engine.faults` (``"journal-full"``, ``"checkpoint-full"``:
the write raises ``ENOSPC``), which runs everywhere. On 13cd186 the tmpfs tests failed: the journal
one with ``wait()`` True, ``error`` None, ``state`` "running" and both worker processes left; the
checkpoint one "finished" with all 12 trials FAILED.
"""
from __future__ import annotations

import collections
import os
import subprocess
import time

import psutil
import pytest

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.engine import faults
from hpo_kit.errors import DISK_FULL_STREAK, DiskFull
from hpo_kit.testing import CountingTrainable, pid_and_sleep

pytestmark = pytest.mark.timeout(360)

SPACE = {"x": Real(0, 1), "sleep": Categorical([0.1]), "epochs": Categorical([4])}
CK_SPACE = {"lr": Real(0.01, 0.1), "sleep": Categorical([0.05])}
N = 8


@pytest.fixture
def small_disk(tmp_path):
    """A 512-KiB tmpfs at ``tmp_path/disk``, unmounted after; skipped where the test cannot mount one."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the faults-injected tests cover the same paths)")
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)], capture_output=True,
                         text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {got.stderr.strip() or got.returncode}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk) -> None:
    """Write zeros until the disk is full."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == 28, exc
    finally:
        os.close(fd)
    fd = os.open(disk / "filler2", os.O_WRONLY | os.O_CREAT)  # the last few bytes, too
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.fixture
def no_faults():
    yield
    faults.clear()


def _wait_for(cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(0.05)


def _cluster_processes(before: set[int]) -> set[int]:
    """The processes this test process started since ``before``: the embedded cluster's workers (not
    multiprocessing's resource tracker, which a first cluster starts and which outlives it by design)."""
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())}


def _fails_named(study: Study, path: str) -> DiskFull:
    with pytest.raises(DiskFull) as caught:
        study.wait(180)
    assert study.state == "failed" and study.error is caught.value
    assert caught.value.errno == 28 and "disk is full" in str(caught.value)
    assert str(caught.value.filename).startswith(path), (caught.value.filename, path)
    return caught.value


def _gone(pids: set[int]) -> None:
    _wait_for(lambda: not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"],
              60, f"the embedded cluster's processes {sorted(pids)} to end")


def _resume_finishes(journal, done_before: set[int], **kw) -> Study:
    again = Study.resume(journal, **kw)
    again.run(progress=False)
    assert again.state == "finished" and again.error is None
    records = list(read_journal(journal))
    ends = collections.Counter(r["trial"] for r in records if r["event"] == "trial_end"
                               and r["status"] == "COMPLETED")
    assert all(n == 1 for n in ends.values()), ends
    resumed_at = max(i for i, r in enumerate(records) if r["event"] == "study_run")
    rerun = {r["trial"] for r in records[resumed_at:] if r["event"] == "trial_start"} & done_before
    assert not rerun, f"trials {rerun} ended before the disk filled and ran again after the resume"
    return again


def _journalled_done(journal) -> set[int]:
    """The trials whose completion reached the journal (a trial_end lost to the full disk did not)."""
    return {r["trial"] for r in read_journal(journal) if r["event"] == "trial_end" and r["status"] == "COMPLETED"}


def free(disk) -> None:
    for name in ("filler", "filler2"):
        os.remove(disk / name)


# -- the journal's disk -----------------------------------------------------------------------------
def _full_journal(journal, make_full) -> set[int]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    study = Study(pid_and_sleep, SPACE, n_trials=N, n_workers=2, journal=journal)
    study.start()
    _wait_for(lambda: sum(t.status is TrialStatus.COMPLETED for t in study.trials.values()) >= 2, 120,
              "two completed trials")
    cluster = _cluster_processes(before)
    assert len(cluster) >= 2, cluster
    make_full()
    _fails_named(study, str(journal))
    _gone(cluster)
    journalled = _journalled_done(journal)  # every line but a torn last one reads back, no damage warned
    assert len(journalled) >= 2
    assert journalled <= {tid for tid, t in study.trials.items() if t.status is TrialStatus.COMPLETED}
    return journalled


def test_a_journal_write_failing_on_a_full_disk_fails_the_study_named(tmp_path, no_faults):
    journal = tmp_path / "study.jsonl"
    done_before = _full_journal(journal, lambda: faults.drop("journal-full"))
    faults.clear()  # space again
    again = _resume_finishes(journal, done_before, n_workers=2)
    assert len(again.trials) == N and all(t.status is TrialStatus.COMPLETED for t in again.trials.values())


def test_a_journal_on_a_disk_that_fills_up_fails_the_study_named(small_disk):
    journal = small_disk / "study.jsonl"
    done_before = _full_journal(journal, lambda: fill(small_disk))
    free(small_disk)
    again = _resume_finishes(journal, done_before, n_workers=2)
    assert len(again.trials) == N and all(t.status is TrialStatus.COMPLETED for t in again.trials.values())


# -- the checkpoint store's disk ---------------------------------------------------------------------
def _full_checkpoints(study: Study, journal, store: str) -> set[int]:
    _fails_named(study, store)
    failed = [t for t in study.trials.values() if t.status is TrialStatus.FAILED]
    assert len(failed) >= DISK_FULL_STREAK and len(study.trials) < 12, "the study burned its budget"
    assert all(t.error.startswith("DiskFull:") and store in t.error for t in failed), [t.error for t in failed]
    ends = {r["trial"]: r for r in read_journal(journal) if r["event"] == "trial_end"}
    assert all(ends[t.id]["status"] == "FAILED" and ends[t.id]["error"].startswith("DiskFull:") for t in failed)
    end = list(read_journal(journal))[-1]
    assert end["event"] == "study_end" and end["state"] == "failed" and end["error"].startswith("DiskFull")
    return _journalled_done(journal)


def _finished_after(again: Study) -> None:
    assert len(again.trials) == 12
    statuses = collections.Counter(t.status for t in again.trials.values())
    assert set(statuses) == {TrialStatus.COMPLETED, TrialStatus.FAILED}, statuses  # the disk-full ones stay FAILED


def test_checkpoint_writes_failing_on_a_full_disk_fail_their_trials_then_the_study(client, tmp_path, no_faults):
    journal, store = tmp_path / "study.jsonl", str(tmp_path / "ckpt")
    client.run(faults.drop, "checkpoint-full", 10 ** 6)  # every checkpoint write, on every worker
    try:
        study = Study(CountingTrainable, CK_SPACE, n_trials=12, max_epochs=3, cluster=client, journal=journal,
                      checkpoints=store)
        study.start()
        done_before = _full_checkpoints(study, journal, store)
    finally:
        client.run(faults.clear)
    _finished_after(_resume_finishes(journal, done_before, cluster=client))


def test_checkpoints_on_a_full_disk_fail_the_study_and_close_its_cluster(small_disk, tmp_path):
    journal, store = tmp_path / "study.jsonl", str(small_disk / "ckpt")
    fill(small_disk)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    study = Study(CountingTrainable, CK_SPACE, n_trials=12, max_epochs=3, n_workers=2, journal=journal,
                  checkpoints=store)
    study.start()
    cluster = _cluster_processes(before)
    done_before = _full_checkpoints(study, journal, store)
    _gone(cluster)
    free(small_disk)
    _finished_after(_resume_finishes(journal, done_before, n_workers=2))
