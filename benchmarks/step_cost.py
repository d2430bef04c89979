"""A step's own cost on its worker: ``run_step`` of a one-report no-op trial, timed inside a real Dask worker.

Everything a step does around the user's objective (the event sender, the running-step mark
for the nanny, the reporter, the result and its ``"done"`` event) is paid once per step on a
worker slot that trains nothing meanwhile; with steps of tens of milliseconds (ASHA's first
rungs) it is lost utilisation. One task on a 1-worker LocalCluster calls ``run_step`` on a
freshly unpickled spec ``--n`` times (the spec pickled once, as Dask would deliver it) and
reports the median and mean per call over ``--reps`` rounds.

Usage::

    python benchmarks/step_cost.py
    PYTHONPATH=/path/to/other/checkout python benchmarks/step_cost.py   # the same on other code
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any


def objective(config: dict, reporter: Any) -> None:
    reporter.report(epoch=1, loss=0.1)


def rounds(n: int, reps: int) -> list[float]:
    """ms per ``run_step`` in each of ``reps`` rounds of ``n`` calls (runs on the worker)."""
    import dataclasses

    from distributed.protocol.pickle import dumps, loads

    from hpo_kit.engine.worker.step import StepSpec, run_step

    kw: dict[str, Any] = {}
    if "ship" in {f.name for f in dataclasses.fields(StepSpec)}:  # code that ships the objective once per run
        from hpo_kit.engine.shipping import Shipper

        kw["ship"] = Shipper()
    blob = dumps(StepSpec(study="step-cost", trial_id=1, attempt=0, config={}, objective=objective,
                          torch_threads=1, start=0, **kw))
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            run_step(loads(blob))
        out.append((time.perf_counter() - t0) / n * 1e3)
    return out


def main(argv: list[str] | None = None) -> int:
    import hpo_kit
    from distributed import Client

    from hpo_kit.engine.cluster import local_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="calls per round")
    parser.add_argument("--reps", type=int, default=5, help="rounds")
    args = parser.parse_args(argv)
    with local_cluster(1) as cluster, Client(cluster) as client:
        ms = client.submit(rounds, args.n, args.reps, pure=False).result()
    print(f"hpo_kit from {hpo_kit.__file__}")
    print(f"run_step, one report, no work: median {statistics.median(ms):.3f} ms per step "
          f"(rounds of {args.n}: {', '.join(f'{m:.3f}' for m in ms)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
