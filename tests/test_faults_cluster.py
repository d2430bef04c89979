"""A scheduler restarted on the same port (issue 26, item 2), with `dask scheduler` / `dask worker` processes.

The client reconnects by itself to the new, empty scheduler; its futures come back cancelled. The
study either fails within 60 s with :class:`~hpo_kit.errors.SchedulerRestarted` (no worker joined)
and ``Study.resume`` finishes it, or carries on when workers join (the lost steps resubmitted).
Nothing received before the restart is lost, nothing ended runs twice.

``test_a_scheduler_restarted_empty_fails_the_study_by_name`` hung past 120 s on 13cd186 (the study
waited for the steps it had requeued on the empty scheduler, without a word).
"""
from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.errors import SchedulerRestarted
from hpo_kit.testing import pid_and_sleep

pytestmark = pytest.mark.timeout(420)

SPACE = {"x": Real(0, 1), "sleep": Categorical([0.25]), "epochs": Categorical([8])}
N = 6


def _dask() -> str:
    return shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")


class Cluster:
    """A scheduler on a fixed port and worker processes, each in its own process group (killed at the end)."""

    def __init__(self, tmp_path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.tmp, self.procs, self.scheduler, self.n = tmp_path, [], None, 0

    def _start(self, *args: str) -> subprocess.Popen:
        p = subprocess.Popen([_dask(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def start_scheduler(self) -> None:
        self.n += 1
        sfile = self.tmp / f"scheduler-{self.n}.json"
        self.scheduler = self._start("scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sfile))
        deadline = time.monotonic() + 90
        while not sfile.exists():
            assert time.monotonic() < deadline and self.scheduler.poll() is None, "dask scheduler did not start"
            time.sleep(0.1)

    def start_workers(self, n: int = 2) -> subprocess.Popen:
        from distributed import Client

        p = self._start("worker", self.address, "--nworkers", str(n), "--nthreads", "1", "--host", "127.0.0.1",
                        "--no-dashboard")
        with Client(self.address, timeout=60) as c:
            c.wait_for_workers(n, timeout=120)
        return p

    def kill(self, p: subprocess.Popen) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(30)

    def close(self) -> None:
        for p in self.procs[::-1]:
            self.kill(p)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.start_scheduler()
    yield c
    c.close()


def _wait_for(cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(0.05)


def _running_and_done(study: Study) -> bool:
    statuses = [t.status for t in study.trials.values()]
    return TrialStatus.COMPLETED in statuses and TrialStatus.RUNNING in statuses


def _no_duplicates(journal) -> dict[int, int]:
    """Trial ends per trial: each trial ended COMPLETED at most once, and no id beyond the budget."""
    ends = collections.Counter(r["trial"] for r in read_journal(journal)
                               if r["event"] == "trial_end" and r["status"] == "COMPLETED")
    assert all(n == 1 for n in ends.values()), ends
    return ends


def test_a_scheduler_restarted_empty_fails_the_study_by_name(cluster, journal):
    workers = cluster.start_workers()
    study = Study(pid_and_sleep, SPACE, n_trials=N, cluster=cluster.address, journal=journal)
    study.start()
    _wait_for(lambda: _running_and_done(study), 120, "a completed trial beside a running one")
    done_before = {tid for tid, t in study.trials.items() if t.status is TrialStatus.COMPLETED}
    cluster.kill(cluster.scheduler)
    killed = time.monotonic()
    cluster.kill(workers)  # a machine restart: nothing of the old cluster rejoins
    cluster.start_scheduler()  # on the same port: the study's client reconnects to it
    with pytest.raises(SchedulerRestarted, match="restarted"):
        study.wait(120)
    took = time.monotonic() - killed
    assert took < 60, f"the study took {took:.0f} s to fail after its scheduler was restarted"
    assert study.state == "failed" and isinstance(study.error, SchedulerRestarted)
    records = list(read_journal(journal))
    assert any(r["event"] == "scheduler_restart" for r in records)
    assert records[-1]["event"] == "study_end" and records[-1]["state"] == "failed"
    assert records[-1]["error"].startswith("SchedulerRestarted")
    assert done_before <= set(_no_duplicates(journal))  # what was received before is in the journal

    cluster.start_workers()
    again = Study.resume(journal, cluster=cluster.address)
    assert {tid for tid, t in again.trials.items() if t.status is TrialStatus.COMPLETED} >= done_before
    again.run(progress=False)
    assert again.state == "finished" and len(again.trials) == N
    assert all(t.status is TrialStatus.COMPLETED for t in again.trials.values()), again.results[["status", "error"]]
    assert set(_no_duplicates(journal)) == set(range(N))
    records = list(read_journal(journal))
    resumed_at = max(i for i, r in enumerate(records) if r["event"] == "study_run")
    rerun = {r["trial"] for r in records[resumed_at:] if r["event"] == "trial_start"} & done_before
    assert not rerun, f"trials {rerun} completed before the restart and ran again after the resume"


def test_a_study_carries_on_when_workers_join_the_restarted_scheduler(cluster, journal):
    cluster.start_workers()
    study = Study(pid_and_sleep, SPACE, n_trials=N, cluster=cluster.address, journal=journal)
    study.start()
    _wait_for(lambda: _running_and_done(study), 120, "a completed trial beside a running one")
    cluster.kill(cluster.scheduler)  # its `dask worker` processes end by themselves
    seen = {tid: len(t.reports) for tid, t in study.trials.items()}
    cluster.start_scheduler()
    cluster.start_workers()
    # The run's event subscription was made again on the new scheduler: reports stream while steps run
    # (without it they arrive only with a step's result, as its trial ends).
    _wait_for(lambda: any(t.status is TrialStatus.RUNNING and len(t.reports) > seen.get(tid, 0)
                          for tid, t in study.trials.items()), 120, "a report streamed after the restart")
    assert study.wait(180), "the study did not carry on with the workers of the restarted scheduler"
    assert study.state == "finished" and study.error is None
    assert all(t.status is TrialStatus.COMPLETED for t in study.trials.values()), study.results[["status", "error"]]
    events = [r["event"] for r in read_journal(journal)]
    assert events.index("scheduler_restart") < events.index("workers_rejoined")
    assert set(_no_duplicates(journal)) == set(range(N))
