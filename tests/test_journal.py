import json
import math
import warnings

import pytest

from hpo_kit.engine.journal import Journal, JournalLocked, read_journal
from hpo_kit.trial import Trial, TrialStatus, observe
from hpo_kit import Goal


def test_round_trip_and_torn_last_line(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.write("study_start", name="s")
        j.write("report", trial=0, epoch=1, metrics={"loss": math.nan})
    with open(path, "a") as f:
        f.write('{"v": 1, "t": 1.0, "event": "rep')  # a crash mid-write
    records = list(read_journal(path))
    assert [r["event"] for r in records] == ["study_start", "report"]
    assert math.isnan(records[1]["metrics"]["loss"])
    with Journal(path) as j:  # appending after a torn line starts on a fresh line
        j.write("study_end")
    assert [r["event"] for r in read_journal(path)] == ["study_start", "report", "study_end"]


def test_lock_stops_a_second_writer(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path):
        with pytest.raises(JournalLocked, match="in use"):
            Journal(path)
    Journal(path).close()  # free again once closed


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"v": 99, "t": 0, "event": "study_start"}) + "\n")
    with pytest.raises(ValueError, match="v=99"):
        list(read_journal(path))


def _trial(status, values):
    t = Trial(0, {"x": 1}, status=status)
    t.reports = [{"epoch": i + 1, "t": 0, "metrics": {"acc": v}} for i, v in enumerate(values)]
    return t


def test_the_one_rule_for_what_optimizers_are_told():
    goal = Goal("acc", "max")
    assert observe(_trial(TrialStatus.COMPLETED, [0.5, 0.8, 0.7]), goal, None).loss == -0.8
    stopped = observe(_trial(TrialStatus.STOPPED, [0.5, 0.6, math.nan]), goal, -0.1)
    assert stopped.loss == -0.6 and stopped.stopped
    failed = observe(_trial(TrialStatus.FAILED, [0.9]), goal, -0.1)
    assert failed.loss == -0.1 and failed.failed
    assert observe(_trial(TrialStatus.COMPLETED, [math.nan]), goal, -0.2).loss == -0.2
    assert observe(_trial(TrialStatus.FAILED, [0.9]), goal, None).loss is None
    killed = _trial(TrialStatus.KILLED, [0.9])
    killed.discard = True
    assert observe(killed, goal, -0.1).loss is None
    paused = observe(_trial(TrialStatus.PAUSED, [0.3, 0.4]), goal, None)
    assert not paused.final and paused.losses == (-0.3, -0.4)


# -- the lock: filelock, no fcntl, released on every path ----------------------------------------

def test_journal_imports_and_locks_without_fcntl(tmp_path):
    """On a platform without fcntl (Windows) the journal module imports and still locks."""
    import subprocess
    import sys
    from pathlib import Path

    import hpo_kit.engine.journal as journal_mod

    src = Path(journal_mod.__file__)
    assert "import fcntl" not in src.read_text()
    code = (
        "import importlib.util, sys, warnings\n"
        "sys.modules['fcntl'] = None  # as on Windows: import fcntl fails\n"
        "warnings.simplefilter('ignore')\n"
        "import hpo_kit.engine.journal as mod\n"
        f"path = {str(tmp_path / 'j.jsonl')!r}\n"
        "with mod.Journal(path) as j:\n"
        "    j.write('study_start')\n"
        "    try:\n"
        "        mod.Journal(path)\n"
        "    except mod.JournalLocked:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit('second writer was let in')\n"
        "mod.Journal(path).close()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_lock_is_a_filelock_released_by_close_in_any_thread(tmp_path):
    import threading

    import filelock

    path = tmp_path / "j.jsonl"
    j = Journal(path)
    assert isinstance(j._lock, filelock.BaseFileLock) and not j.closed
    worker = threading.Thread(target=j.close)  # a study may close from another thread
    worker.start()
    worker.join()
    assert j.closed
    Journal(path).close()


def test_close_releases_the_lock_even_if_fsync_fails(tmp_path, monkeypatch):
    import os

    path = tmp_path / "j.jsonl"
    j = Journal(path)
    j.write("study_start")

    def broken(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk gone"):
        j.close()
    monkeypatch.undo()
    assert j.closed
    j.close()  # idempotent
    Journal(path).close()  # the lock was released


def test_failed_open_releases_the_lock(tmp_path):
    import filelock

    path = tmp_path / "j.jsonl"
    path.mkdir()  # the journal cannot be opened
    with pytest.raises(OSError) as info:  # info keeps the half-built Journal alive, as a traceback would
        Journal(path)
    assert isinstance(info.value, OSError)
    free = filelock.FileLock(str(path) + ".lock")
    free.acquire(timeout=0)  # would time out if the failed Journal still held it
    free.release()


# -- damage ----------------------------------------------------------------------------------------

def _write_lines(path, *lines: bytes) -> None:
    path.write_bytes(b"".join(lines))


def _line(**record) -> bytes:
    return json.dumps({"v": 1, "t": 1.0, **record}).encode() + b"\n"


def test_damaged_middle_lines_are_warned_counted_and_skipped(tmp_path):
    from hpo_kit.engine.journal import JournalWarning, iter_journal

    path = tmp_path / "j.jsonl"
    _write_lines(path, _line(event="study_start"),
                 b'{"v": 1, "t": 1.0, "ev\n',     # 2: torn, but not last
                 b"[1, 2]\n",                      # 3: not an object
                 b'{"v": 1, "t": 1.0}\n',          # 4: no event
                 b"\n",                            # blank lines are no damage
                 b'{"event": "x", "bad": "\xff\xfe"}\n',  # 6: not UTF-8
                 b'{"v": "1", "event": "x"}\n',    # 7: version not an int
                 _line(event="study_end"),
                 b'{"v": 1, "t": 2.0, "event": "rep')  # 9: torn last line: silent
    damaged: list[int] = []
    with pytest.warns(JournalWarning) as caught:
        records = list(read_journal(path, damaged=damaged))
    assert [r["event"] for r in records] == ["study_start", "study_end"]
    assert damaged == [2, 3, 4, 6, 7]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 5 and all("is damaged and was skipped" in m for m in messages)
    assert f"journal {path}: line 6 is damaged" in messages[3] and "UTF-8" in messages[3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        assert [n for n, _ in iter_journal(path)] == [1, 8]


def test_torn_multibyte_last_line_is_silent(tmp_path):
    path = tmp_path / "j.jsonl"
    _write_lines(path, _line(event="study_start"), '{"event": "report", "name": "é'.encode()[:-1])
    damaged: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r["event"] for r in read_journal(path, damaged)] == ["study_start"]
    assert damaged == []


def test_reopen_cuts_a_torn_tail_and_keeps_a_record_that_lost_its_newline(tmp_path):
    path = tmp_path / "j.jsonl"
    _write_lines(path, _line(event="study_start"), b'{"v": 1, "t": 1.0, "event": "rep')
    with Journal(path) as j:
        j.write("study_resume")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the torn line did not become a damaged middle line
        assert [r["event"] for r in read_journal(path)] == ["study_start", "study_resume"]
    _write_lines(path, _line(event="study_start"), _line(event="control").rstrip(b"\n"))
    with Journal(path) as j:
        j.write("study_end")
    assert [r["event"] for r in read_journal(path)] == ["study_start", "control", "study_end"]


def test_group_commit_fsync_runs_off_the_callers_thread_and_reports_its_error_at_the_next_sync(tmp_path,
                                                                                                monkeypatch):
    import os
    import threading

    j = Journal(tmp_path / "j.jsonl")
    started, release = threading.Event(), threading.Event()
    real = os.fsync
    failures = []

    def slow(fd):
        started.set()
        assert release.wait(30)
        if failures:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", slow)
    j.write("trial_end", trial=0)
    j.sync()  # returns while the disk is busy: the loop never waits on an fsync
    assert started.wait(30)
    j.write("trial_end", trial=1)
    j.sync()  # merged with the one under way, still not blocking
    failures.append(1)
    release.set()
    deadline = threading.Event()
    while j._syncer.error is None and not deadline.wait(0.01):
        pass
    with pytest.raises(OSError, match="No space"):
        j.sync()
    monkeypatch.undo()
    j.close()
    assert j.closed
