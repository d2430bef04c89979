"""A step's worker dies under it: the error says why (memory, exit status) and Dask re-runs nothing itself."""
from __future__ import annotations

import os
import time

from distributed import Client

from hpo_kit import Categorical, Study, TrialStatus
from hpo_kit.engine.cluster import local_cluster


def _mark(folder: str) -> None:
    with open(os.path.join(folder, f"run-{os.getpid()}-{time.time_ns()}"), "w"):
        pass


def hog(config, reporter):
    """Allocates 20 MiB every 20 ms (at most 600 MiB): the nanny of a 250 MiB worker kills it first."""
    _mark(config["dir"])
    chunks = []
    for _ in range(30):
        chunks.append(b"x" * (20 * 2 ** 20))  # bytes of b"x" are touched, so resident
        time.sleep(0.02)
    reporter.report(epoch=1, loss=1.0)


def exits(config, reporter):
    """Ends its worker process at once, as a C extension's abort or a stray os._exit would."""
    _mark(config["dir"])
    os._exit(3)


def _runs(folder) -> int:
    return sum(1 for p in os.listdir(folder) if p.startswith("run-"))


def test_a_worker_killed_for_its_memory_names_the_memory_limit(tmp_path):
    cluster = local_cluster(n_workers=1, memory_limit="250MiB")
    client = Client(cluster)
    try:
        study = Study(hog, {"dir": Categorical([str(tmp_path)])}, n_trials=1, cluster=client, max_retries=0,
                      journal=tmp_path / "j.jsonl")
        t0 = time.time()
        study.run(progress=False)
        assert time.time() - t0 < 60
    finally:
        client.close()
        cluster.close()
    t = study.trials[0]
    assert t.status is TrialStatus.FAILED
    assert "out of memory" in t.error and "memory_limit of 250 MiB" in t.error, t.error
    assert "KilledWorker" not in t.error and "KilledWorker" in t.traceback  # Dask's own words stay in the traceback
    assert _runs(tmp_path) == 1


def test_max_retries_means_what_it_says_when_the_objective_exits_its_process(tmp_path):
    # The embedded cluster: Dask's allowed-failures (3 re-runs by default) would multiply with max_retries.
    study = Study(exits, {"dir": Categorical([str(tmp_path)])}, n_trials=1, n_workers=1, max_retries=1,
                  journal=tmp_path / "j.jsonl")
    study.run(progress=False)
    t = study.trials[0]
    assert _runs(tmp_path) == 2, "max_retries=1 must mean one run and one retry"
    assert t.status is TrialStatus.FAILED
    assert "exited with status 3" in t.error and "max_retries=1" in t.error, t.error
