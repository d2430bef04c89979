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
  drain only, are not in a window); *growth* = 10k / 1k (flat: <= 1.5x).
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
import cProfile
import inspect
import io
import itertools
import logging
import math
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from hpo_kit import Goal, Real, Reporter, Space

REAL_GOAL = 0.95  # utilisation of 64 real workers on 1-2 s trials
RATE_GOAL = 1000.0  # decisions per second, random and ASHA, 500 workers, 10,000 trials
FLAT_GOAL = 1.5  # time per decision at 10k trials over that at 1k
SIM_SPACE = Space({"q": Real(0.0, 1.0), "a": Real(0.1, 2.0), "secs": Real(0.5, 2.0, log=True)})
GOAL = Goal("loss", "min")


def load_text() -> str:
    la = os.getloadavg()
    return f"{os.cpu_count()} cores, load average (1/5/15 min) {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}"


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


def real_one(workers: int, per_worker: int, low: float, high: float, seed: int, bare: bool,
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
        client.run(lambda: __import__("hpo_kit.engine.worker"))
        row["startup_s"] = time.perf_counter() - t0
        log(f"  {workers} workers up in {row['startup_s']:.1f} s ({load_text()})")
        study = Study(sleep_objective, space, optimizer=RandomSearch(seed=seed), n_trials=n, cluster=client,
                      journal=os.path.join(tmp, "j.jsonl"))
        t1, cpu1 = time.perf_counter(), time.process_time()
        study.run(progress=False)
        wall, cpu = time.perf_counter() - t1, time.process_time() - cpu1
        trials = list(study.trials.values())
        busy = sum(t.reports[-1]["metrics"]["busy"] for t in trials if t.reports)
        row.update(wall_s=wall, busy_s=busy, util=busy / (workers * wall), cpu_ms=1e3 * cpu / n,
                   done=sum(1 for t in trials if t.reports), queue=getattr(study._driver, "capacity", None))
        log(f"  hpo_kit {workers} workers: util {row['util']:.1%} (ceiling {row['ceiling']:.1%}) wall {wall:.1f} s "
            f"driver CPU {row['cpu_ms']:.2f} ms/trial")
        if bare:
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


def real(widths: Sequence[int], per_worker: int, low: float, high: float, seed: int, bare: bool,
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
        rows.append(real_one(w, per_worker, low, high, seed, bare, log))
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


# -- (b) the simulator ---------------------------------------------------------------------------------
def sim_curve(config: dict[str, Any], epoch: int) -> float:
    return config["q"] + config["a"] / math.sqrt(epoch)


def sim_epoch_time(config: dict[str, Any]) -> float:
    return config["secs"]


def make(policy: str, seed: int) -> Any:
    from hpo_kit.optimizers import ASHA, FIFO, Hyperband, RandomSearch

    if policy == "random":
        return FIFO(RandomSearch(seed=seed))
    if policy == "asha":
        return ASHA(r_min=1, eta=3, seed=seed)
    if policy == "hyperband":
        return Hyperband(r_min=1, eta=3, seed=seed)
    if policy == "bo-asha":
        from hpo_kit.searchers.bo import TimeAwareBO

        return ASHA(r_min=1, eta=3, searcher=TimeAwareBO(seed=seed, background=True))
    raise ValueError(f"policy {policy!r}: choose from {POLICIES}")


POLICIES = ("random", "asha", "hyperband", "bo-asha")
#: Study sizes whose decisions are compared: while it grows (after its last trial, a
#: FIFO suggest returns None at once, which would flatter the last window).
WINDOWS = ((1000, 2000), (5000, 6000), (9000, 10_000))


class Timed:
    """Times a policy's suggest / on_report / on_result, attributing each to the study's size at the call.

    ``seconds`` is the calling thread's CPU time (steadier than wall time on a shared machine;
    a background refit thread's work is not the loop's); ``wall`` is wall time.
    """

    def __init__(self, policy: Any, bucket: int = 1000) -> None:
        self.policy, self.bucket = policy, bucket
        self.seconds: dict[int, float] = {}
        self.decisions: dict[int, int] = {}
        self.wall = 0.0
        for name in ("suggest", "on_report", "on_result"):
            setattr(policy, name, self._wrap(getattr(policy, name), name == "suggest"))

    def _wrap(self, fn: Callable, is_decision: bool) -> Callable:
        cpu, clock, seconds, decisions, bucket, policy = (time.thread_time, time.perf_counter, self.seconds,
                                                          self.decisions, self.bucket, self.policy)

        def timed(*args: Any) -> Any:
            t0, w0 = cpu(), clock()
            try:
                return fn(*args)
            finally:
                spent, k = cpu() - t0, len(policy.trials) // bucket
                self.wall += clock() - w0
                seconds[k] = seconds.get(k, 0.0) + spent
                if is_decision:
                    decisions[k] = decisions.get(k, 0) + 1

        return timed

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def total_decisions(self) -> int:
        return sum(self.decisions.values())

    def per_decision(self, lo: int, hi: int) -> float | None:
        """Mean policy seconds per decision while the study held ``lo <= trials < hi``."""
        ks = [k for k in self.decisions if lo <= k * self.bucket < hi]
        d = sum(self.decisions[k] for k in ks)
        return sum(self.seconds.get(k, 0.0) for k in ks) / d if d else None


def sim_one(policy_name: str, workers: int, trials: int, max_epochs: int, seed: int) -> dict[str, Any]:
    from hpo_kit.engine.simulator import simulate

    policy = make(policy_name, seed)
    timed = Timed(policy)
    kwargs: dict[str, Any] = {}
    if "decision_time" in inspect.signature(simulate).parameters:
        kwargs["decision_time"] = True
    t0 = time.perf_counter()
    try:
        res = simulate(policy, SIM_SPACE, GOAL, sim_curve, sim_epoch_time, n_workers=workers, n_trials=trials,
                       max_epochs=max_epochs, **kwargs)
    finally:
        wall = time.perf_counter() - t0
        policy.close()
    d, s = timed.total_decisions, timed.total_seconds
    per = {lo: timed.per_decision(lo, hi) for lo, hi in WINDOWS}
    first, last = per[WINDOWS[0][0]], per[WINDOWS[-1][0]]
    return {"policy": policy_name, "workers": workers, "trials": len(res.trials), "decisions": d,
            "rate": d / s if s else math.inf, "rate_wall": d / timed.wall if timed.wall else math.inf,
            "e2e": d / wall if wall else math.inf, "wall_s": wall,
            "per": per, "growth": (last / first) if first and last else None, "util": res.utilisation,
            "decision_seconds": getattr(res, "decision_seconds", None), "decision_time": bool(kwargs),
            "sim_decisions": getattr(res, "decisions", None)}


def sim(policies: Sequence[str], widths: Sequence[int], trials: int, max_epochs: int, seed: int,
        log: Callable[[str], None]) -> str:
    load0 = load_text()
    rows = []
    for p in policies:
        for w in widths:
            r = sim_one(p, w, trials, max_epochs, seed)
            rows.append(r)
            log(f"  {p:9} {w:4} workers: {r['rate']:9.0f} decisions/s CPU, {r['rate_wall']:9.0f} wall "
                f"(end to end {r['e2e']:7.0f}/s) "
                f"growth {_f(r['growth'], '.2f')}x, {r['wall_s']:.1f} s")
    dt = any(r["decision_time"] for r in rows)
    head = ["policy", "workers", "trials", "decisions", "decisions/s CPU", "wall", "end to end /s",
            "us/decision 1k", "5k", "10k",
            "growth 10k/1k", "sim util"] + (["decision s (sim)"] if dt else []) + ["run s"]
    table = []
    for r in rows:
        line = [r["policy"], str(r["workers"]), str(r["trials"]), str(r["decisions"]), f"{r['rate']:.0f}",
                f"{r['rate_wall']:.0f}", f"{r['e2e']:.0f}", *(_f(r["per"][lo] and 1e6 * r["per"][lo], ".0f") for lo, _ in WINDOWS),
                _f(r["growth"], ".2f"), f"{r['util']:.1%}"]
        if dt:
            line.append(_f(r["decision_seconds"], ".2f"))
        line.append(f"{r['wall_s']:.1f}")
        table.append(line)
    out = [f"policies on the simulator: {trials} trials, max_epochs {max_epochs}, eta 3; policy time = suggest + "
           f"on_report + on_result, a decision = one suggest"
           + ("; decision_time=True (policy CPU on the virtual clock)" if dt else "; simulator without decision_time"),
           _grid(head, table), "", f"before: {load0}; after: {load_text()}", "goals (the widest setting):"]
    widest = max(widths)
    for r in rows:
        if r["policy"] in ("random", "asha") and r["workers"] == widest:
            ok_rate = r["rate"] >= RATE_GOAL
            ok_flat = r["growth"] is not None and r["growth"] <= FLAT_GOAL
            out.append(f"  [{'PASS' if ok_rate else 'FAIL'}] {r['policy']} {widest} workers >= {RATE_GOAL:.0f} "
                       f"decisions/s: {r['rate']:.0f}")
            out.append(f"  [{'PASS' if ok_flat else 'FAIL' if r['growth'] is not None else 'n/a'}] {r['policy']} time "
                       f"per decision flat from 1k to 10k trials (<= {FLAT_GOAL}x): {_f(r['growth'], '.2f')}x")
    return "\n".join(out)


def profile(policy_name: str, workers: int, trials: int, max_epochs: int, seed: int, top: int = 15) -> str:
    from hpo_kit.engine.simulator import simulate

    policy = make(policy_name, seed)
    prof = cProfile.Profile()
    prof.enable()
    try:
        simulate(policy, SIM_SPACE, GOAL, sim_curve, sim_epoch_time, n_workers=workers, n_trials=trials,
                 max_epochs=max_epochs)
    finally:
        prof.disable()
        policy.close()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    start = text.find("   ncalls")
    return (f"cProfile of {policy_name}, {workers} workers, {trials} trials (top {top} by own time):\n"
            + (text[start:] if start >= 0 else text))


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _grid(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)])


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
        print(real([1], 3, 0.01, 0.02, args.seed, False, args.mb_per_worker, log))
        print()
        print(sim(["random", "asha"], [4], 60, 9, args.seed, log))
        return 0
    if args.part in ("real", "both"):
        print(real(widths("32,64"), args.per_worker, args.low, args.high, args.seed, args.bare, args.mb_per_worker,
                   log))
        print()
    if args.part in ("sim", "both"):
        print(sim(policies, widths("25,100,500"), args.trials, args.max_epochs, args.seed, log))
        if args.profile:
            print()
            print(profile(args.profile, max(widths("25,100,500")), args.trials, args.max_epochs, args.seed))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
