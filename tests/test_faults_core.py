"""Faults outside the trial: a lost scheduler, a lost journal, resources nobody has, the __main__ guard, locks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.testing import pid_and_sleep, quadratic

SPACE = {"x": Real(0, 1), "sleep": Categorical([0.2]), "epochs": Categorical([2])}


def _end(path):
    return [r for r in read_journal(path) if r["event"] == "study_end"]


def test_a_dead_scheduler_ends_a_study_by_address_failed(remote_cluster, journal):
    study = Study(pid_and_sleep, SPACE, metric="loss", n_trials=200, cluster=remote_cluster, journal=journal)
    study.start()
    deadline = time.time() + 60
    while sum(t.status is TrialStatus.COMPLETED for t in study.trials.values()) < 2 and time.time() < deadline:
        time.sleep(0.1)
    received = {t.id: len(t.reports) for t in study.trials.values() if t.status.is_terminal}
    assert received, "no trial finished before the scheduler was killed"
    os.killpg(remote_cluster.procs[0].pid, signal.SIGKILL)  # the scheduler
    t0 = time.time()
    with pytest.raises(Exception, match="scheduler"):
        assert study.wait(90), "the study hung after its scheduler died"
    assert time.time() - t0 < 60
    assert study.state == "failed"
    end = _end(journal)
    assert end and end[-1]["state"] == "failed" and "scheduler" in end[-1]["error"]
    journalled = {r["trial"] for r in read_journal(journal) if r["event"] == "trial_end"}
    assert set(received) <= journalled, "a result the driver had received is missing from the journal"


def test_a_deleted_journal_ends_the_study_failed_and_results_can_be_saved(client, journal, tmp_path):
    study = Study(pid_and_sleep, SPACE, metric="loss", n_trials=40, cluster=client, journal=journal).start()
    deadline = time.time() + 60
    while not any(t.status.is_terminal for t in study.trials.values()) and time.time() < deadline:
        time.sleep(0.05)
    os.remove(journal)
    with pytest.raises(OSError, match="deleted"):
        study.wait(60)
    assert study.state == "failed"
    done = [t for t in study.trials.values() if t.status.is_terminal]
    saved = tmp_path / "saved.jsonl"
    study.save(saved)
    ends = {r["trial"] for r in read_journal(saved) if r["event"] == "trial_end"}
    assert {t.id for t in done} <= ends
    again = Study.resume(saved, objective=pid_and_sleep)  # the lock of the lost journal was released too
    assert len(again.trials) == len(study.trials)
    again._journal.close()


def test_resources_no_worker_has_raise_naming_them(client, journal):
    study = Study(quadratic, {"x": Real(0, 1)}, n_trials=1, cluster=client, journal=journal,
                  resources={"GPU": 1}, resource_wait=1.0)
    with pytest.raises(ValueError, match="GPU"):
        study.run(progress=False)
    assert study.state == "created"  # nothing ran; the journal's lock is free again
    Study(quadratic, {"x": Real(0, 1)}, n_trials=1, cluster=client, journal=journal).run(progress=False)


def test_a_tls_address_without_security_is_a_named_error(journal):
    study = Study(quadratic, {"x": Real(0, 1)}, n_trials=1, cluster="tls://127.0.0.1:1", journal=journal)
    with pytest.raises(ValueError, match="security"):
        study.run(progress=False)


def test_resume_takes_the_lock_at_once(client, journal):
    Study(quadratic, {"x": Real(0, 1)}, n_trials=2, cluster=client, journal=journal).run(progress=False)
    first = Study.resume(journal, n_trials=4)
    from hpo_kit.engine.journal import JournalLocked

    with pytest.raises(JournalLocked):
        Study.resume(journal, n_trials=4)
    first.cluster = client
    first.run(progress=False)
    assert len(first.trials) == 4


def test_a_script_without_the_main_guard_gets_one_short_error(tmp_path):
    script = tmp_path / "noguard.py"
    script.write_text(textwrap.dedent(f"""
        from hpo_kit import Real, Study
        from hpo_kit.testing import quadratic
        Study(quadratic, {{"x": Real(0, 1)}}, n_trials=1, n_workers=1, journal=r"{tmp_path}/j.jsonl").run(progress=False)
        print("DONE")
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert "__main__" in out.stderr, out.stderr[-2000:]
    assert "bootstrapping phase" not in out.stderr


def test_a_study_by_tls_address_runs_with_security_and_is_refused_without(journal, tmp_path):
    from distributed import LocalCluster
    from distributed.security import Security

    sec = Security.temporary()  # needs `cryptography` (the dev extra)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls", security=sec,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with pytest.raises(ValueError, match="security="):
            Study(quadratic, {"x": Real(0, 1)}, n_trials=1, cluster=address, journal=tmp_path / "no.jsonl").run(
                progress=False)
        study = Study(quadratic, {"x": Real(0, 1)}, n_trials=3, cluster=address, security=sec, journal=journal)
        study.run(progress=False)
    assert study.state == "finished"
    assert [t.status for t in study.trials.values()] == [TrialStatus.COMPLETED] * 3
    assert _end(journal)[-1]["state"] == "finished"
