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
