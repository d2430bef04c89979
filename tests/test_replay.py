"""Replaying a journal: damaged records are skipped with a warning and listed, never fatal."""
from __future__ import annotations

import json
import warnings

import pytest

from hpo_kit.engine.journal import Journal, JournalWarning
from hpo_kit.engine.replay import Replay, replay, replay_records
from hpo_kit.trial import TrialStatus


def _journal(path, *records: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps({"v": 1, "t": 1.0, **r})) + "\n")


def test_a_clean_journal_replays_without_warnings(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.write("study_start", name="s")
        j.write("trial_create", trial=0, config={"x": 1}, budget=2, parent=None)
        j.write("trial_start", trial=0, attempt=0, worker="w")
        j.write("report", trial=0, epoch=1, metrics={"loss": 0.5})
        j.write("report", trial=0, epoch=1, metrics={"loss": 0.4})  # a re-run: ignored
        j.write("flag", trial=0, finding={"indicator": "nan"})
        j.write("trial_end", trial=0, status="COMPLETED", busy=1.5)
        j.write("control", action="stop", source="user")
        j.write("study_end")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = replay(path)
    t = rep.trials[0]
    assert t.status is TrialStatus.COMPLETED and t.busy == 1.5 and t.worker == "w"
    assert [r["metrics"]["loss"] for r in t.reports] == [0.5] and t.flags == [{"indicator": "nan"}]
    assert rep.end_order == [0] and rep.ended and len(rep.controls) == 1 and rep.damaged == []


def test_bad_records_are_skipped_whole_with_their_line(tmp_path):
    path = tmp_path / "j.jsonl"
    _journal(path,
             {"event": "study_start"},                                   # 1
             {"event": "trial_create", "trial": 0, "config": {"x": 1}},  # 2
             {"event": "trial_start", "trial": 0, "attempt": 0},         # 3
             {"event": "report", "trial": 0, "metrics": {"loss": 1.0}},  # 4: no epoch
             "not json at all",                                          # 5
             {"event": "trial_end", "trial": 0, "status": "DONE"},       # 6: no such status
             {"event": "trial_end", "trial": 0, "status": "COMPLETED"},  # 7
             {"event": "trial_create", "trial": "1", "config": {}},      # 8: trial id not an int
             {"event": "report", "trial": 0, "epoch": "2", "metrics": {}},  # 9: epoch not a number
             {"event": "study_end"})                                     # 10
    with pytest.warns(JournalWarning) as caught:
        rep = replay(path)
    assert rep.damaged == [4, 5, 6, 8, 9]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 5
    assert messages[0].startswith(f"journal {path}: line 4 is damaged and was skipped")
    assert "'epoch'" in messages[0] and "DONE" in messages[2]
    t = rep.trials[0]
    assert t.status is TrialStatus.COMPLETED and t.reports == [] and rep.end_order == [0] and rep.ended
    assert list(rep.trials) == [0]


def test_a_bad_record_changes_nothing(tmp_path):
    path = tmp_path / "j.jsonl"
    _journal(path,
             {"event": "study_start"},
             {"event": "trial_create", "trial": 0, "config": {}},
             {"event": "trial_start", "trial": 0},
             '{"v": 1, "event": "trial_end", "trial": 0, "status": "FAILED", "error": "boom"}',  # no "t"
             {"event": "trial_pause", "trial": 0, "status": "PAUSED", "t": 3.0})
    with pytest.warns(JournalWarning, match="line 4 .*missing field 't'"):
        rep = replay(path)
    t = rep.trials[0]
    assert t.status is TrialStatus.PAUSED and t.error is None and rep.end_order == [0]
    assert rep.damaged == [4]


def test_streams_name_the_record_and_still_need_a_start():
    records = [{"t": 0, "event": "study_start"}, {"t": 1, "event": "trial_create", "trial": 0},
               {"t": 2, "no_event": True}]
    with pytest.warns(JournalWarning) as caught:
        rep = replay_records(records, source="records")
    assert isinstance(rep, Replay) and rep.damaged == [2, 3] and rep.trials == {}
    assert str(caught[0].message).startswith("records: record 2 is damaged")
    live = replay_records([{"t": 1, "event": "trial_create", "trial": 5, "config": {}}], require_start=False)
    assert list(live.trials) == [5]
    with pytest.raises(ValueError, match="expected 'study_start'"):
        replay_records([{"t": 1, "event": "trial_create", "trial": 5, "config": {}}])
    with pytest.raises(ValueError, match="no 'study_start'"):
        replay_records([])
