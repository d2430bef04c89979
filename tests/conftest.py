"""Shared fixtures: one real 2-worker LocalCluster for the tests that only need a cluster."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def cluster_client(n_workers: int):
    """A Client on a real LocalCluster of ``n_workers`` single-threaded worker processes; closes both after."""
    from distributed import Client

    from hpo_kit.engine.cluster import local_cluster

    cluster = local_cluster(n_workers=n_workers)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="session")
def client():
    yield from cluster_client(2)


@pytest.fixture
def kernel(tmp_path):
    """A Python kernel started as JupyterLab starts one; yields ``(manager, client)``."""
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture
def journal(tmp_path):
    return tmp_path / "study.jsonl"


class _Address(str):
    procs: list


def _start(args, **kw):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **kw)


@pytest.fixture
def remote_cluster(tmp_path):
    """A scheduler and two single-threaded worker processes on 127.0.0.1, started like a user would.

    Yields the address (a ``str``) with ``.procs``: the scheduler's and the workers' processes,
    for tests that kill one of them."""
    sfile = tmp_path / "scheduler.json"
    bindir = os.path.dirname(sys.executable)
    dask = shutil.which("dask", path=bindir) or shutil.which("dask")
    procs = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0",
                     "--scheduler-file", str(sfile)])]
    deadline = time.time() + 60
    while not sfile.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert sfile.exists(), "dask scheduler did not start"
    time.sleep(0.3)
    address = _Address(json.loads(sfile.read_text())["address"])
    address.procs = procs
    procs.append(_start([dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                         "--no-dashboard"]))
    yield address
    for p in procs[::-1]:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs[::-1]:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
