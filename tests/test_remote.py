"""Real clusters: a study by address against `dask scheduler` / `dask worker` processes, and GPU resources."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hpo_kit import Categorical, Real, Study
from hpo_kit.testing import pid_and_sleep



def test_study_by_scheduler_address(remote_cluster, journal):
    from distributed import Client

    with Client(remote_cluster, timeout=60) as c:
        c.wait_for_workers(2, timeout=90)
    space = {"x": Real(0, 1), "sleep": Categorical([0.05]), "epochs": Categorical([2])}
    study = Study(pid_and_sleep, space, metric="loss", n_trials=8, cluster=remote_cluster, journal=journal)
    study.run(progress=False)
    df = study.results
    assert (df.status == "COMPLETED").all() and len(df) == 8
    assert df.worker.nunique() == 2
    pids = {t.reports[0]["metrics"]["pid"] for t in study.trials.values()}
    assert os.getpid() not in pids and len(pids) == 2


def test_gpu_fraction_caps_trials_per_worker(journal):
    """A worker declaring one GPU runs at most 4 trials at once at 0.25 GPU per trial."""
    from distributed import Client

    from hpo_kit.engine.cluster import local_cluster

    with local_cluster(n_workers=1, resources={"GPU": 1}, threads_per_worker=8) as cluster, Client(cluster) as c:
        space = {"x": Real(0, 1), "sleep": Categorical([0.4]), "epochs": Categorical([1])}
        study = Study(pid_and_sleep, space, metric="loss", n_trials=12, cluster=c, journal=journal,
                      resources={"GPU": 0.25})
        study.run(progress=False)
    spans = [(r["metrics"]["t0"], r["metrics"]["t1"]) for t in study.trials.values() for r in t.reports]
    overlap = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert len(spans) == 12
    assert 2 <= overlap <= 4, f"{overlap} trials overlapped on one GPU"


def test_a_worker_killed_on_a_cluster_by_address_loses_only_its_steps(remote_cluster, journal):
    """That scheduler re-runs tasks of a dead worker (allowed-failures 3): a step it re-runs elsewhere is
    counted as a retry (its start arrives from another worker) and the study completes every trial."""
    from distributed import Client

    with Client(remote_cluster, timeout=60) as c:
        c.wait_for_workers(2, timeout=90)
        pids = c.run(os.getpid)
    space = {"x": Real(0, 1), "sleep": Categorical([0.2]), "epochs": Categorical([3])}
    study = Study(pid_and_sleep, space, metric="loss", n_trials=16, cluster=remote_cluster, journal=journal)
    study.start()
    victim = sorted(pids)[0]
    deadline = time.time() + 60
    while time.time() < deadline and not any(t.worker == victim and t.status.value == "RUNNING"
                                             for t in study.trials.values()):
        time.sleep(0.05)
    os.kill(pids[victim], signal.SIGKILL)  # its nanny starts a new worker process, at a new address
    assert study.wait(120), "a step of the dead worker never settled"
    df = study.results
    assert len(df) == 16 and (df.status == "COMPLETED").all(), df[["status", "error"]]
    assert any(t.worker != victim for t in study.trials.values())


_DRIVER = '''
import os, sys, time
from hpo_kit import Categorical, Real, Study


def objective(config, reporter):
    for epoch in range(1, reporter.max_epochs + 1):
        open(os.path.join(config["dir"], f"{reporter.trial_id}-{reporter.spec.study}-{time.time():.3f}"), "w").close()
        time.sleep(0.3)
        reporter.report(epoch=epoch, loss=config["x"] + 1 / epoch)


if __name__ == "__main__":
    Study(objective, {"x": Real(0, 1), "dir": Categorical([sys.argv[3]])}, n_trials=4, max_epochs=40,
          cluster=sys.argv[1], journal=sys.argv[2]).run(progress=False)
'''


def test_after_a_driver_sigkill_a_resume_trains_no_trial_beside_its_older_attempt(remote_cluster, tmp_path):
    import signal
    import subprocess
    import sys

    from hpo_kit import Study, TrialStatus, read_journal

    marks, journal, script = tmp_path / "marks", tmp_path / "j.jsonl", tmp_path / "driver.py"
    marks.mkdir()
    script.write_text(_DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(remote_cluster), str(journal), str(marks)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len({name.split("-")[0] for name in os.listdir(marks)}) < 2:  # both workers train a trial
        assert time.monotonic() < deadline and driver.poll() is None, "the driver's trials never ran"
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    study = Study.resume(journal, cluster=str(remote_cluster))
    study.start()
    resumed = time.time()  # start() fenced the earlier run before any step of this one
    assert study.wait(180)
    assert all(t.status is TrialStatus.COMPLETED for t in study.trials.values())
    killed_run = next(r["run"] for r in read_journal(journal) if r["event"] == "study_start")
    old = [name for name in os.listdir(marks) if name.split("-")[1] == killed_run]
    assert old, "the killed driver's run left no mark: the test shows nothing"
    late = [name for name in old if float(name.split("-")[2]) > resumed + 0.5]
    assert not late, f"{len(late)} epoch(s) of the killed driver's attempts started after the resume"
