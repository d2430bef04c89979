"""Hand-edited, damaged or oversized journals (issue 26, items 7 and 9), on a real LocalCluster.

A journal is never trusted blindly on resume: records that break the trial state machine
(:data:`hpo_kit.trial.TRANSITIONS`), configurations outside the study's space and
implausible ids are skipped with a :class:`~hpo_kit.engine.journal.JournalWarning` naming
the line, and nothing they describe is run again. Long strings (errors, tracebacks,
metric names) are shortened in the journal, their full text kept beside it.

Each test failed on a303939.
"""
from __future__ import annotations

import json
import os
import re
import warnings

import pytest

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.engine.journal import Journal, JournalWarning
from hpo_kit.testing import quadratic

pytestmark = pytest.mark.timeout(240)

SPACE = {"x": Real(0.0, 1.0), "epochs": Categorical([2])}
N = 3


@pytest.fixture(scope="module")
def finished(client, tmp_path_factory):
    """The lines of a finished 3-trial journal (copied into each test's own file)."""
    path = tmp_path_factory.mktemp("finished") / "done.jsonl"
    study = Study(quadratic, SPACE, n_trials=N, cluster=client, journal=path).run(progress=False)
    assert study.state == "finished" and all(t.status is TrialStatus.COMPLETED for t in study.trials.values())
    return path.read_text().splitlines(keepends=True), path.with_suffix(".jsonl.pkl").read_bytes()


def _write(tmp_path, finished, lines):
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(lines))
    (tmp_path / "edited.jsonl.pkl").write_bytes(finished[1])
    return path


def _line(lines, event, trial):
    return next(i for i, raw in enumerate(lines) if json.loads(raw)["event"] == event
                and json.loads(raw).get("trial") == trial)


def _resume(path, client, **kw):
    """Study.resume, returning the study and the JournalWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Study.resume(path, cluster=client, **kw)
    return again, [str(w.message) for w in caught if issubclass(w.category, JournalWarning)]


def _starts_after_resume(path, trial):
    records = list(read_journal(path))
    i = next(i for i, r in enumerate(records) if r["event"] == "study_resume")
    return [r for r in records[i:] if r["event"] == "trial_start" and r["trial"] == trial]


def _named(said, line, *words):
    return any(f"line {line} " in m and all(w in m for w in words) for m in said)


# 7 ------------------------------------------------------------------------------------------------
def test_a_second_trial_create_for_an_existing_id_is_skipped_not_rerun(client, tmp_path, finished):
    lines = list(finished[0])
    first = json.loads(lines[_line(lines, "trial_create", 0)])
    forged = {**first, "config": {"x": 0.99, "epochs": 2}}
    at = _line(lines, "trial_end", 0) + 1
    lines.insert(at, json.dumps(forged) + "\n")
    path = _write(tmp_path, finished, lines)
    again, said = _resume(path, client, n_trials=N)
    assert _named(said, at + 1, "trial_create", "trial 0"), said
    assert again.trials[0].config == first["config"] and again.trials[0].status is TrialStatus.COMPLETED
    again.run(progress=False)
    assert again.state == "finished" and _starts_after_resume(path, 0) == []  # never run again


def test_a_trial_end_before_its_trial_start_does_not_rerun_a_finished_trial(client, tmp_path, finished):
    lines = list(finished[0])
    start = lines.pop(_line(lines, "trial_start", 1))
    at = _line(lines, "trial_end", 1) + 1
    lines.insert(at, start)  # the trial's start now follows its end
    path = _write(tmp_path, finished, lines)
    again, said = _resume(path, client, n_trials=N)
    assert _named(said, at + 1, "trial_start", "trial 1", "COMPLETED"), said
    assert again.trials[1].status is TrialStatus.COMPLETED
    again.run(progress=False)
    assert again.state == "finished" and _starts_after_resume(path, 1) == []


def test_a_config_outside_the_space_is_refused_with_its_trial(client, tmp_path, finished):
    lines = list(finished[0])
    at = _line(lines, "trial_create", 0)
    rec = json.loads(lines[at])
    lines[at] = json.dumps({**rec, "config": {"x": 5.0, "epochs": 2}}) + "\n"
    path = _write(tmp_path, finished, lines)
    again, said = _resume(path, client, n_trials=N)
    assert _named(said, at + 1, "trial_create", "x=5.0"), said
    assert 0 not in again.trials and sorted(again.trials) == [1, 2]
    assert any("trial 0" in m and "its trial_create was skipped" in m for m in said), said  # its other lines
    again.run(progress=False)
    assert all(Real(0.0, 1.0).contains(r["config"]["x"]) for r in read_journal(path)
               if r["event"] == "trial_create" and r["trial"] != 0)
    assert _starts_after_resume(path, 0) == []


@pytest.mark.parametrize("forged_id", [2 ** 62, -5, True, "3"])
def test_implausible_trial_ids_are_refused(client, tmp_path, finished, forged_id):
    lines = list(finished[0])
    rec = json.loads(lines[_line(lines, "trial_create", 2)])
    at = _line(lines, "trial_end", 2) + 1
    lines.insert(at, json.dumps({**rec, "trial": forged_id}) + "\n")
    path = _write(tmp_path, finished, lines)
    again, said = _resume(path, client, n_trials=N + 1)
    assert _named(said, at + 1, "trial_create"), said
    assert sorted(again.trials) == [0, 1, 2] and again.ledger.next_id() == 3
    again.run(progress=False)
    assert sorted(again.trials) == [0, 1, 2, 3]


def test_a_report_after_the_end_does_not_change_a_finished_trials_score(client, tmp_path, finished):
    lines = list(finished[0])
    rep = json.loads(lines[_line(lines, "report", 2)])
    at = _line(lines, "trial_end", 2) + 1
    lines.insert(at, json.dumps({**rep, "epoch": 9, "metrics": {"loss": -100.0}}) + "\n")
    path = _write(tmp_path, finished, lines)
    again, said = _resume(path, client, n_trials=N)
    assert _named(said, at + 1, "report", "trial 2"), said
    assert again.trials[2].epochs == 2 and again.trials[2].score(again.goal) > 0
    again.run(progress=False)


def test_an_untouched_journal_resumes_without_a_warning(client, tmp_path, finished):
    path = _write(tmp_path, finished, finished[0])
    again, said = _resume(path, client, n_trials=N + 1)
    assert said == []
    again.run(progress=False)
    assert again.state == "finished" and len(again.trials) == N + 1


def test_the_audit_and_the_fold_agree_record_by_record():
    """Pure: the audit (no cluster) skips what the fold could not apply, so their views of a trial never part."""
    from hpo_kit.engine.audit import audited
    from hpo_kit.engine.replay import replay_numbered

    space = {"x": {"type": "real", "low": 0.0, "high": 1.0, "log": False}}
    records = [{"t": 0, "event": "study_start", "space": space, "goal": {"metric": "loss"}},
               {"t": 1, "event": "trial_create", "trial": 0, "config": {"x": 0.5}},
               {"t": 2, "event": "trial_start", "trial": 0, "attempt": 0},
               {"t": 3, "event": "report", "trial": 0, "epoch": 1, "metrics": {"loss": 1.0}},
               {"event": "trial_end", "trial": 0, "status": "COMPLETED"},  # no time: the fold cannot apply it
               {"t": 4, "event": "report", "trial": 0, "epoch": 2, "metrics": {"loss": 0.5}},  # still RUNNING
               {"t": 5, "event": "trial_end", "trial": 0, "status": "COMPLETED"},
               {"t": 6, "event": "trial_start", "trial": 0, "attempt": 1},  # revives a finished trial
               {"t": 7, "event": "trial_create", "trial": 1, "config": {"x": 2.0}},  # outside the space
               {"t": 8, "event": "trial_start", "trial": 1, "attempt": 0},
               {"t": 9, "event": "report", "trial": 1, "epoch": 1, "metrics": {"loss": 0.0}},
               {"t": 10, "event": "trial_warmup", "trial": 0, "seconds": 1.0}]  # events it does not know pass
    damaged: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = replay_numbered(audited(enumerate(records, 1), "j", damaged), "j", damaged=damaged)
    said = [str(w.message) for w in caught if issubclass(w.category, JournalWarning)]
    assert rep.damaged == [5, 8, 9] and len(said) == 4, said
    assert _named(said, 5, "'t'") and _named(said, 8, "COMPLETED") and _named(said, 9, "x=2.0")
    assert _named(said, 10, "trial 1", "lines 10, 11")  # one warning for the lines of the refused trial
    (t,) = rep.trials.values()
    assert t.status is TrialStatus.COMPLETED and t.epochs == 2


# 9 ------------------------------------------------------------------------------------------------
BIG = 10 * 2 ** 20


def raise_big(config, reporter):
    """Reports one metric with a 1-MB name, then fails with a 10-MB message."""
    reporter.report(epoch=1, loss=config["x"], **{"m" * 2 ** 20: 1.0})
    raise RuntimeError("E" * BIG)


def test_long_errors_and_metric_names_are_shortened_in_the_journal_and_kept_beside_it(client, tmp_path):
    path = tmp_path / "long.jsonl"
    study = Study(raise_big, {"x": Real(0.0, 1.0)}, n_trials=2, cluster=client, journal=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.run(progress=False)
    assert all(t.status is TrialStatus.FAILED for t in study.trials.values())
    assert os.path.getsize(path) < 200_000, f"{os.path.getsize(path):,} bytes for 2 trials"
    assert all(len(t.error) > BIG for t in study.trials.values())  # in memory: whole
    ends = [r for r in read_journal(path) if r["event"] == "trial_end"]
    marker = re.compile(r"\[hpo_kit: ([\d,]+) of ([\d,]+) characters cut; full text in (\S+)\]")
    for end in ends:
        found = marker.search(end["error"])
        assert found, end["error"][-300:]
        assert len(end["error"]) < 25_000
        kept = os.path.join(os.path.dirname(path), found.group(3))
        with open(kept, encoding="utf-8") as f:
            full = f.read()
        assert len(full) == int(found.group(2).replace(",", "")) and full.endswith("E" * 100)
        assert "E" * BIG in full
    names = [k for r in read_journal(path) if r["event"] == "report" for k in r["metrics"]]
    assert all(len(k) < 2_000 for k in names), [len(k) for k in names]


def test_journal_write_keeps_short_strings_and_configs_whole(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.write("trial_create", trial=0, config={"name": "c" * 50_000}, budget=None, parent=None, info={})
        j.write("trial_end", trial=0, status="FAILED", error="short", traceback="t" * 30_000)
    create, end = list(read_journal(path))
    assert create["config"]["name"] == "c" * 50_000  # configs must round-trip for resume
    assert end["error"] == "short" and len(end["traceback"]) < 25_000 and "characters cut" in end["traceback"]


def test_a_directory_given_as_journal_is_named_as_such(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(IsADirectoryError, match=r"is a directory.*file path"):
        Journal(tmp_path / "runs")
    with pytest.raises(IsADirectoryError, match=r"is a directory.*file path"):
        Study.resume(tmp_path / "runs")
    assert not (tmp_path / "runs.lock").exists()
