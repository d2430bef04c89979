"""Worker utilisation of ASHA beside synchronous SHA, on trials of uneven duration (seed ``asha.md``).

What it measures
----------------
Both policies play the seed's two tables on the simulator (:func:`hpo_kit.engine.simulator.simulate`,
a virtual clock, so 16 workers cost nothing): *table 1* is eta=3, 27 configurations,
rungs 1/3/9/27 epochs; *table 2* is eta=4, 256 configurations, rungs 1/4/.../256 epochs
(R = 256). A configuration's epoch takes 0.5 to 2 s (log-uniform, fixed per configuration),
so trials are uneven. Its loss is ``q + a / sqrt(epoch)`` with ``q`` and ``a`` drawn per
configuration, so learning curves cross.

For each table, worker count (4 and 16) and seed:

1. SHA runs its bracket to the end; its wall time is ``T``.
2. ASHA runs with the same workers and the same wall-clock budget ``T`` (it starts nothing
   after ``T``; the steps running at ``T`` then finish, the "drain").

Columns (medians over seeds):

- *util*: busy worker time / (workers x T). For SHA that is its whole run.
- *util+drain*: ASHA's utilisation over its whole run, the drain after ``T`` included.
- *configs*: configurations started; *at R*: configurations trained to R by the end.
- *first R*: when the first configuration reached R, in units of one full training
  (R epochs of a median-speed configuration); *best at R*: the best loss at R epochs.
- *SHA idle*: SHA's idle worker time split into *barrier* (workers waiting for the rung's
  slowest trial while the rung had at least as many configurations as workers) and
  *narrow* (rungs with fewer configurations than workers), as shares of workers x T.

Goal: ASHA util >= 95% (the seed: "near 100% resource efficiency").

Usage::

    python benchmarks/asha_vs_sha.py            # 10 seeds
    python benchmarks/asha_vs_sha.py --quick    # 3 seeds (seconds)
    python benchmarks/asha_vs_sha.py --real     # also SHA and ASHA (9 configurations each) on a real
                                                # Study with 2 local workers (about a minute)
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import defaultdict
from typing import Any

from hpo_kit import Goal, Real, Space, Study, Trainable
from hpo_kit.engine.simulator import SimResult, simulate
from hpo_kit.optimizers import ASHA, Optimizer, SuccessiveHalving

UTIL_GOAL = 0.95
TABLES = {"table 1 (eta=3, 27 cfg, R=27)": (3, 27, 27), "table 2 (eta=4, 256 cfg, R=256)": (4, 256, 256)}
SPACE = Space({"q": Real(0.0, 1.0), "a": Real(0.1, 2.0), "secs": Real(0.5, 2.0, log=True)})
GOAL = Goal("loss", "min")


def curve(config: dict[str, Any], epoch: int) -> float:
    return config["q"] + config["a"] / math.sqrt(epoch)


def epoch_time(config: dict[str, Any]) -> float:
    return config["secs"]


def busy_until(res: SimResult, horizon: float) -> float:
    return sum(max(0.0, min(end, horizon) - start) for _, _, start, end in res.timeline)


def first_at(res: SimResult, r_max: int) -> float:
    return min((t.reports[r_max - 1]["t"] for t in res.trials.values() if t.epochs >= r_max), default=math.nan)


def best_at(res: SimResult, r_max: int) -> float:
    """The best loss of a configuration trained to R (what the user gets)."""
    return min((t.reports[r_max - 1]["metrics"]["loss"] for t in res.trials.values() if t.epochs >= r_max),
               default=math.nan)


def sha_idle(res: SimResult, workers: int) -> tuple[float, float]:
    """SHA's idle worker time (barrier, narrow) per rung phase; a trial's i-th step is its rung i."""
    steps: dict[int, list[tuple[float, float]]] = defaultdict(list)
    seen: dict[int, int] = defaultdict(int)
    for _, tid, start, end in sorted(res.timeline, key=lambda s: s[2]):
        steps[seen[tid]].append((start, end))
        seen[tid] += 1
    barrier = narrow = 0.0
    for segs in steps.values():
        span = max(e for _, e in segs) - min(s for s, _ in segs)
        idle = workers * span - sum(e - s for s, e in segs)
        cut = max(0, workers - len(segs)) * span
        narrow += min(idle, cut)
        barrier += max(0.0, idle - cut)
    return barrier, narrow


def one(eta: int, n: int, r_max: int, workers: int, seed: int) -> dict[str, float]:
    sha = simulate(SuccessiveHalving(n_configs=n, r_min=1, eta=eta, seed=seed), SPACE, GOAL, curve, epoch_time,
                   n_workers=workers, max_epochs=r_max)
    horizon = sha.wall
    asha = simulate(ASHA(r_min=1, eta=eta, seed=seed), SPACE, GOAL, curve, epoch_time, n_workers=workers,
                    max_epochs=r_max, time_budget=horizon)
    unit = r_max * 1.0  # median epoch time of log-uniform [0.5, 2] is 1 s
    barrier, narrow = sha_idle(sha, workers)
    return {"sha_util": sha.utilisation, "asha_util": busy_until(asha, horizon) / (workers * horizon),
            "asha_drain": asha.utilisation, "sha_cfg": len(sha.trials), "asha_cfg": len(asha.trials),
            "sha_R": sum(t.epochs >= r_max for t in sha.trials.values()),
            "asha_R": sum(t.epochs >= r_max for t in asha.trials.values()),
            "sha_first": first_at(sha, r_max) / unit, "asha_first": first_at(asha, r_max) / unit,
            "sha_best": best_at(sha, r_max), "asha_best": best_at(asha, r_max),
            "barrier": barrier / (workers * horizon), "narrow": narrow / (workers * horizon), "T": horizon}


def table(seeds: int) -> list[tuple[str, int, dict[str, float]]]:
    rows = []
    for name, (eta, n, r_max) in TABLES.items():
        for workers in (4, 16):
            runs = [one(eta, n, r_max, workers, seed) for seed in range(seeds)]
            rows.append((name, workers, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    return rows


def show(rows: list[tuple[str, int, dict[str, float]]], seeds: int) -> None:
    head = (f"{'workload':32} {'wk':>3} | {'SHA util':>8} {'ASHA util':>9} {'+drain':>7} | {'configs':>9} "
            f"{'at R':>7} | {'first R':>11} | {'best at R':>11} | {'SHA idle: barrier':>17} {'narrow':>6}")
    print(f"ASHA vs synchronous SHA on the simulator, medians of {seeds} seeds (same workers, same wall T)")
    print(head)
    print("-" * len(head))
    for name, workers, m in rows:
        print(f"{name:32} {workers:>3} | {m['sha_util']:>8.1%} {m['asha_util']:>9.1%} {m['asha_drain']:>7.1%} | "
              f"{m['sha_cfg']:>4.0f}/{m['asha_cfg']:<4.0f} {m['sha_R']:>3.0f}/{m['asha_R']:<3.0f} | "
              f"{m['sha_first']:>5.2f}/{m['asha_first']:<5.2f} | {m['sha_best']:>5.3f}/{m['asha_best']:<5.3f} | {m['barrier']:>17.1%} {m['narrow']:>6.1%}")
    worst = min(m["asha_util"] for _, _, m in rows)
    print(f"\ngoal ASHA util >= {UTIL_GOAL:.0%}: {'met' if worst >= UTIL_GOAL else 'MISSED'} (lowest {worst:.1%})")
    print("(configs .. best at R: SHA/ASHA; first R in units of one full training of R epochs)")
    print("""
Why SHA loses: a rung must finish before any promotion, so (barrier) workers that finished
their share of a rung wait for its slowest trials, and (narrow) upper rungs hold fewer
configurations than workers (table 2 with 16 workers: 4 and then 1 configuration), so the
other workers idle for the longest steps of all. ASHA never waits: a free worker promotes
what is already in the top 1/eta of its rung or starts a new configuration in the bottom
rung. Its only idle time is the drain after the budget T, when the last long steps finish
(util+drain), which any policy stopped at T pays.""")


# -- optional: the same comparison on a real Study -----------------------------------------------
class SleepTrial(Trainable):
    """A stateful trial whose epoch sleeps 0.1 x ``secs`` seconds and reports the benchmark's curve."""

    def setup(self, config: dict[str, Any], data: Any) -> None:
        self.config, self.epoch = config, 0

    def train_epoch(self, epoch: int) -> dict[str, float]:
        time.sleep(0.1 * self.config["secs"])
        self.epoch = epoch
        return {"loss": curve(self.config, epoch)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]


def real(workers: int = 2) -> None:
    """SHA and then ASHA over the same 9 configurations on a real Study: sleep-scaled epochs, stateful trials."""

    def run(opt: Optimizer) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            study = Study(SleepTrial, SPACE, metric="loss", optimizer=opt, max_epochs=9, n_workers=workers,
                          journal=f"{tmp}/j.jsonl")
            study.run(progress=False)
            trials = list(study.trials.values())
            # from the first trial's start to the last report: cluster start-up and close are not the policy's
            span = max(r["t"] for t in trials for r in t.reports) - min(t.started for t in trials if t.started)
            return sum(t.busy for t in trials) / (workers * span), span

    util_sha, span_sha = run(SuccessiveHalving(n_configs=9, r_min=1, eta=3))
    util_asha, span_asha = run(ASHA(r_min=1, eta=3, n_configs=9))
    print(f"\nreal Study, {workers} local workers, 9 configurations, eta=3, rungs 1/3/9, epochs sleep 0.05-0.2 s:")
    print(f"  SHA : util {util_sha:.1%} over {span_sha:.1f} s")
    print(f"  ASHA: util {util_asha:.1%} over {span_asha:.1f} s (same 9 configurations, its drain included)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds instead of 10")
    parser.add_argument("--real", action="store_true", help="also run a real Study on 2 local workers")
    args = parser.parse_args(argv)
    seeds = 3 if args.quick else 10
    t0 = time.perf_counter()
    show(table(seeds), seeds)
    if args.real:
        real()
    print(f"\n(benchmark took {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
