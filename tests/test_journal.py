import json
import math

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
