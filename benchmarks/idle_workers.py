"""What idle Dask worker processes cost the machine: Dask's default background sampling against hpo_kit's.

For each width W (default 8 and 16) a LocalCluster of W single-threaded worker processes
(:func:`hpo_kit.engine.cluster.local_cluster`) is started twice, alternately: with
``lean=False`` (Dask's defaults: a statistical profiler sampling every thread 100 times a
second, event-loop ticks every 20 ms, system and memory polls every 0.5 s and 0.1 s) and
with ``lean=True`` (hpo_kit's embedded cluster, :data:`hpo_kit.engine.cluster.LEAN`). Once
the workers are up and have imported hpo_kit, the CPU time (user + system) of every worker
and nanny process, and of this process (the scheduler's), is read over ``--seconds`` of
idling. What it tells: how many worker processes a few cores can hold before the cluster's
own housekeeping takes the CPU that the driver and the scheduler need.

Usage::

    python benchmarks/idle_workers.py                 # W = 8, 16; 10 s each
    python benchmarks/idle_workers.py --workers 32 --seconds 20
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import psutil
from distributed import Client

from hpo_kit.engine.cluster import local_cluster


def idle_cpu(workers: int, lean: bool, seconds: float) -> tuple[float, float]:
    """(% of a core for all workers and nannies, % of a core for this process) while idle."""
    with local_cluster(workers, lean=lean, silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers, timeout=600)
        client.run(lambda: __import__("hpo_kit.engine.worker.step"))
        time.sleep(2.0)  # the workers' start-up work is over
        me = psutil.Process()
        kids = me.children(recursive=True)

        def cpu() -> tuple[float, float]:
            total = 0.0
            for p in kids:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
            t = me.cpu_times()
            return total, t.user + t.system

        k0, m0, t0 = *cpu(), time.perf_counter()
        time.sleep(seconds)
        k1, m1, dt = *cpu(), time.perf_counter() - t0
        return 100 * (k1 - k0) / dt, 100 * (m1 - m0) / dt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="8,16", help="comma-separated widths")
    parser.add_argument("--seconds", type=float, default=10.0, help="idle seconds measured per cluster")
    args = parser.parse_args(argv)
    la = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}")
    print("| workers | Dask defaults: workers+nannies, % of a core | per worker | scheduler process "
          "| hpo_kit (lean): workers+nannies | per worker | scheduler process |")
    print("|---|---|---|---|---|---|---|")
    for w in [int(x) for x in args.workers.split(",") if x.strip()]:
        (dk, dm), (lk, lm) = idle_cpu(w, False, args.seconds), idle_cpu(w, True, args.seconds)
        print(f"| {w} | {dk:.1f}% | {dk / w:.2f}% | {dm:.1f}% | {lk:.1f}% | {lk / w:.2f}% | {lm:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
