"""Scale (issue 11): real Dask at width, and the policies' decision rate on the simulator.

What it measures
----------------
**real**: a :class:`~hpo_kit.Study` on a LocalCluster of W single-threaded worker processes
(:func:`hpo_kit.engine.cluster.local_cluster`, default W = 32 and 64) on this machine,
running trials that sleep a seeded uniform 1-2 s (sleeping costs no CPU, so many workers fit
on a few cores); ``--per-worker`` trials per worker (default 20), random search, the study's
default concurrency (W) and prefetch.

- *util* = busy / (W x wall): busy measured in the trials around ``time.sleep``; wall is the
  whole ``Study.run()``.
- *ceiling*: the same durations list-scheduled in trial order with no dispatch cost; the
  tail (the last trials ending at different times) caps utilisation below 100%.
- *driver CPU ms/trial*: CPU of this process during the run, per trial. The LocalCluster's
  scheduler runs in this process too, so this is the engine's whole cost outside the workers.
- *startup s*: starting the cluster until all W workers are up and have imported hpo_kit.
- ``--bare`` adds a bare ``as_completed`` loop over the same durations queuing as deep as
  hpo_kit (2 W): what the machine allows with no engine.

Memory is checked first (``MemAvailable`` against ``--mb-per-worker``, default 150 MB per
worker process); a width that does not fit is skipped with a message.

**sim**: each policy plays 10,000 trials on the simulator (:func:`hpo_kit.engine.simulator.simulate`,
a virtual clock) with 25, 100 and 500 workers: random search (FIFO), ASHA (eta=3), Hyperband
(eta=3, all brackets) and BO inside ASHA (``ASHA(searcher=TimeAwareBO())``, background
refits as in a study). Trials are the curves of ``asha_vs_sha.py`` (``q + a/sqrt(epoch)``,
epochs of 0.5-2 s), ``max_epochs`` 27 (rungs 1/3/9/27). A *decision* is one
``suggest`` (a free worker asks what to run); the policy's time is what it spends in
``suggest``, ``on_report`` and ``on_result``, timed around each call.

- *decisions/s CPU*: decisions / the policy's CPU seconds (the loop thread's, ``time.thread_time``:
  steady on a shared machine); *wall*: the same over wall seconds in the policy; *end to
  end*: decisions / the whole ``simulate`` call (the simulator's and the ledger's work included).
- *us/decision at 1k, 5k, 10k*: the policy's CPU time per decision while the study held
  1,000-1,999, 5,000-5,999 and 9,000-9,999 trials (the decisions after the last trial started,
  drain only, are not in a window), the median over the window's 100-trial buckets; *growth* =
  10k / 1k (flat: <= 1.5x). Each setting runs ``--reps`` times (default 3), interleaved, the
  same seeded study each time; the table shows the medians, and each repetition's growth.
- When the simulator has ``decision_time=True`` (policy CPU time counted on the virtual
  clock) it is used, and its ``decision_seconds`` and the utilisation it leaves are shown.

``--profile POLICY`` runs that policy once more under cProfile (the widest, longest setting)
and prints the top 15 functions by own time.

Usage::

    python benchmarks/scale.py real                     # 32 and 64 workers, 20 trials each
    python benchmarks/scale.py real --workers 64 --bare
    python benchmarks/scale.py sim                      # 25/100/500 workers, 10,000 trials, 4 policies
    python benchmarks/scale.py sim --policies asha --workers 500 --profile asha
    python benchmarks/scale.py --smoke                  # tiniest sizes of both (the CI smoke test)
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from hpo_kit import Goal, Real, Reporter, Space
from scale_sim import POLICIES, _grid, load_text, profile, sim  # part (b), run from this command

REAL_GOAL = 0.95  # utilisation of 64 real workers on 1-2 s trials
GOAL = Goal("loss", "min")


def mem_available_mb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# -- (a) real Dask at width ------------------------------------------------------------------------
def _sleep(seconds: float) -> float:
    t0 = time.perf_counter()
    if seconds > 0:
        time.sleep(seconds)
    return time.perf_counter() - t0


def sleep_objective(config: dict, reporter: Reporter) -> None:
    reporter.report(epoch=1, loss=config["seconds"], busy=_sleep(config["seconds"]))


def durations(space: Space, seed: int, n: int) -> list[float]:
    """The seconds random search draws for trials 0..n-1 (asked of RandomSearch itself)."""
    from hpo_kit import RandomSearch

    searcher = RandomSearch(seed=seed)
    searcher.setup(space, GOAL)
    return [float(searcher.ask(i).config["seconds"]) for i in range(n)]


def list_schedule_ceiling(durs: Sequence[float], workers: int) -> float:
    """Utilisation of ``durs`` run in order on ``workers`` with no dispatch cost."""
    import heapq

    free = [0.0] * workers
    for d in durs:
        heapq.heappush(free, heapq.heappop(free) + d)
    return sum(durs) / (workers * max(free))


def quiet(client: Any, timeout: float = 60.0) -> None:
    """Wait until no task runs on the cluster: the arm before must not slow the next."""
    deadline = time.monotonic() + timeout
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)


def real_one(workers: int, per_worker: int, low: float, high: float, seed: int, bare: bool, tasks: bool,
             log: Callable[[str], None]) -> dict[str, Any]:
    import dask
    from distributed import Client, as_completed

    from hpo_kit import RandomSearch, Study
    from hpo_kit.engine.cluster import local_cluster

    n = workers * per_worker
    space = Space({"seconds": Real(low, high)})
    durs = durations(space, seed, n)
    row: dict[str, Any] = {"workers": workers, "trials": n, "ceiling": list_schedule_ceiling(durs, workers),
                           "load_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    # Many worker processes on few cores connect slowly while they start: Dask's default connect
    # timeout (30 s) fails a broadcast to 64 of them on a busy machine. Close-time errors of
    # workers losing the scheduler are silenced.
    with dask.config.set({"distributed.comm.timeouts.connect": "180s"}), \
            local_cluster(workers, silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client, \
            tempfile.TemporaryDirectory(prefix="hpo-kit-scale-") as tmp:
        client.wait_for_workers(workers, timeout=600)
        client.run(lambda: __import__("hpo_kit.engine.worker.step"))
        row["startup_s"] = time.perf_counter() - t0
        log(f"  {workers} workers up in {row['startup_s']:.1f} s ({load_text()})")
        if True:
            tag = ""
            quiet(client)
            study = Study(sleep_objective, space, optimizer=RandomSearch(seed=seed), n_trials=n, cluster=client,
                          journal=os.path.join(tmp, f"j{tag}.jsonl"), seed=0)
            t1, w1, cpu1 = time.perf_counter(), time.time(), time.process_time()
            study.run(progress=False)
            wall, cpu = time.perf_counter() - t1, time.process_time() - cpu1
            trials = list(study.trials.values())
            busy = sum(t.reports[-1]["metrics"]["busy"] for t in trials if t.reports)
            first = min((t.started for t in trials if t.started), default=w1) - w1
            util, cpu_ms = busy / (workers * wall), 1e3 * cpu / n
            row.update({f"{tag}wall_s": wall, f"{tag}util": util, f"{tag}cpu_ms": cpu_ms,
                        f"{tag}first_s": first, f"{tag}done": sum(1 for t in trials if t.reports),
                        f"{tag}queue": getattr(study._driver, "capacity", None)})
            log(f"  hpo_kit {workers} workers: util {util:.1%} "
                f"(ceiling {row['ceiling']:.1%}) wall {wall:.1f} s driver CPU {cpu_ms:.2f} ms/trial, "
                f"first trial started after {first:.2f} s")
        if bare:
            quiet(client)
            depth = row["queue"] or 2 * workers
            todo = iter(durs)
            t1, cpu1 = time.perf_counter(), time.process_time()
            ac = as_completed([client.submit(_sleep, d, pure=False) for d in itertools.islice(todo, depth)],
                              with_results=True)
            bbusy = 0.0
            for _, got in ac:
                bbusy += got
                d = next(todo, None)
                if d is not None:
                    ac.add(client.submit(_sleep, d, pure=False))
            bwall, bcpu = time.perf_counter() - t1, time.process_time() - cpu1
            row.update(bare_util=bbusy / (workers * bwall), bare_cpu_ms=1e3 * bcpu / n, bare_queue=depth)
            log(f"  bare    {workers} workers: util {row['bare_util']:.1%} driver CPU {row['bare_cpu_ms']:.2f} ms/trial")
    row["load_after"] = os.getloadavg()[0]
    return row


def real(widths: Sequence[int], per_worker: int, low: float, high: float, seed: int, bare: bool, tasks: bool,
         mb_per_worker: float, log: Callable[[str], None]) -> str:
    rows, notes = [], []
    load0 = load_text()
    for w in widths:
        avail = mem_available_mb()
        need = w * mb_per_worker
        if avail is not None and need > 0.8 * avail:
            notes.append(f"{w} workers: skipped, they need about {need / 1024:.1f} GiB ({mb_per_worker:.0f} MB each) "
                         f"and {avail / 1024:.1f} GiB is available")
            log("  " + notes[-1])
            continue
        rows.append(real_one(w, per_worker, low, high, seed, bare, tasks, log))
    head = ["workers", "trials", "util", "ceiling", "util / ceiling", "driver CPU ms/trial", "wall s", "startup s",
            "in flight", "load 1-min before/after"]
    if bare:
        head[5:5] = ["bare util", "bare CPU ms/trial"]
    table = []
    for r in rows:
        line = [str(r["workers"]), f"{r['done']}/{r['trials']}", f"{r['util']:.1%}", f"{r['ceiling']:.1%}",
                f"{r['util'] / r['ceiling']:.1%}", f"{r['cpu_ms']:.2f}", f"{r['wall_s']:.1f}",
                f"{r['startup_s']:.1f}", str(r["queue"]), f"{r['load_before']:.1f}/{r['load_after']:.1f}"]
        if bare:
            line[5:5] = [f"{r['bare_util']:.1%}", f"{r['bare_cpu_ms']:.2f}"]
        table.append(line)
    out = [f"real Dask at width: trials sleep uniform {low:g}-{high:g} s, {per_worker} per worker, random search, "
           f"one single-threaded worker process each", _grid(head, table), "", f"before: {load0}; after: {load_text()}"]
    for r in rows:
        if r["workers"] == max(widths):
            out.append(f"goal: {r['workers']} workers util >= {REAL_GOAL:.0%}: "
                       f"{'PASS' if r['util'] >= REAL_GOAL else 'FAIL'} ({r['util']:.1%})")
    return "\n".join(out + notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["real", "sim", "both"], default="both")
    parser.add_argument("--workers", default=None, help="comma-separated widths (real: 32,64; sim: 25,100,500)")
    parser.add_argument("--per-worker", type=int, default=20, help="real: trials per worker")
    parser.add_argument("--low", type=float, default=1.0, help="real: shortest trial, seconds")
    parser.add_argument("--high", type=float, default=2.0, help="real: longest trial, seconds")
    parser.add_argument("--bare", action="store_true", help="real: also a bare as_completed loop as deep as hpo_kit")
    parser.add_argument("--mb-per-worker", type=float, default=150.0, help="real: memory a worker process needs")
    parser.add_argument("--trials", type=int, default=10_000, help="sim: trials per run")
    parser.add_argument("--max-epochs", type=int, default=27, help="sim: epochs of a full trial")
    parser.add_argument("--policies", default=",".join(POLICIES), help=f"sim: comma-separated, of {POLICIES}")
    parser.add_argument("--reps", type=int, default=3, help="sim: interleaved repetitions of each setting")
    parser.add_argument("--profile", choices=POLICIES, help="sim: cProfile this policy at the widest setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiniest sizes of both parts (CI)")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def widths(default: str) -> list[int]:
        return [int(w) for w in (args.workers or default).split(",") if w.strip()]

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for p in policies:
        if p not in POLICIES:
            parser.error(f"policy {p!r}: choose from {POLICIES}")
    t0 = time.perf_counter()
    if args.smoke:
        print(real([1], 3, 0.01, 0.02, args.seed, False, False, args.mb_per_worker, log))
        print()
        print(sim(["random", "asha"], [4], 60, 9, args.seed, log, reps=1))
        return 0
    if args.part in ("real", "both"):
        print(real(widths("32,64"), args.per_worker, args.low, args.high, args.seed, args.bare, False,
                   args.mb_per_worker, log))
        print()
    if args.part in ("sim", "both"):
        print(sim(policies, widths("25,100,500"), args.trials, args.max_epochs, args.seed, log, args.reps))
        if args.profile:
            print()
            print(profile(args.profile, max(widths("25,100,500")), args.trials, args.max_epochs, args.seed))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
