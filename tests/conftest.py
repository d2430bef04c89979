"""Shared fixtures: one real 2-worker LocalCluster for the tests that only need a cluster."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def client():
    from distributed import Client

    from hpo_kit.engine.cluster import local_cluster

    cluster = local_cluster(n_workers=2)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def journal(tmp_path):
    return tmp_path / "study.jsonl"
