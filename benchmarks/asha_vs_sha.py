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
2. *ASHA by T*: ASHA with the same workers starts and promotes nothing once the virtual
   clock passes ``T``; the steps running at ``T`` then finish (the "drain"), and its
   utilisation counts the drain: busy / (workers x its whole run).
3. *ASHA, SHA's configs*: ASHA capped at SHA's number of configurations
   (``n_configs``), run to its natural end (it promotes until nothing is promotable).

A zero-delay simulator with an uncapped ASHA flatters it: its utilisation up to ``T`` is
near 100% by construction (a free worker always gets a new configuration), while it has
started many more configurations than SHA. So every utilisation below includes the
drain, and each policy's started configurations are shown beside it. The simulator counts
the policies' own CPU time on the virtual clock when it can (``decision_time=True``).

Columns (medians over seeds):

- *util*: busy worker time / (workers x the run's wall time, drain included); for SHA its
  whole run ``T``. *to T*: ASHA's busy time before ``T`` / (workers x T).
- *wall/T*: a run's wall time over SHA's.
- *configs*: configurations started; *at R*: configurations trained to R by the end.
- *first R*: when the first configuration reached R, in units of one full training
  (R epochs of a median-speed configuration); *best at R*: the best loss at R epochs.
- *SHA idle*: SHA's idle worker time split into *barrier* (workers waiting for the rung's
  slowest trial while the rung had at least as many configurations as workers) and
  *narrow* (rungs with fewer configurations than workers), as shares of workers x T.

Goal: ASHA-by-T util, drain included, >= 95% (the seed: "near 100% resource efficiency").

Usage::

    python benchmarks/asha_vs_sha.py            # 10 seeds
    python benchmarks/asha_vs_sha.py --quick    # 3 seeds (seconds)
    python benchmarks/asha_vs_sha.py --seeds 1  # a smoke run
    python benchmarks/asha_vs_sha.py --real     # also SHA and ASHA (9 configurations each) on a real
                                                # Study with 2 local workers (about a minute)
"""
from __future__ import annotations

import argparse
import inspect
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


class ASHAUntil(ASHA):
    """ASHA that starts and promotes nothing once the virtual clock passes ``until``.

    The clock is read from the reports (each carries the simulator's time); the steps
    running at ``until`` finish, and then the run ends (the drain).
    """

    def __init__(self, until: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.until, self.now = until, 0.0

    def on_report(self, trial_id: int, epoch: int, loss: float | None) -> Any:
        t = self.trials.get(trial_id)
        if t is not None and t.reports:
            self.now = max(self.now, float(t.reports[-1]["t"]))
        return super().on_report(trial_id, epoch, loss)

    def suggest(self, trial_id: int) -> Any:
        return None if self.now >= self.until else super().suggest(trial_id)


SIM_KW: dict[str, Any] = ({"decision_time": True} if "decision_time" in inspect.signature(simulate).parameters
                          else {})


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
                   n_workers=workers, max_epochs=r_max, **SIM_KW)
    horizon = sha.wall
    asha = simulate(ASHAUntil(horizon, r_min=1, eta=eta, seed=seed), SPACE, GOAL, curve, epoch_time,
                    n_workers=workers, max_epochs=r_max, **SIM_KW)
    capped = simulate(ASHA(r_min=1, eta=eta, n_configs=n, seed=seed), SPACE, GOAL, curve, epoch_time,
                      n_workers=workers, max_epochs=r_max, **SIM_KW)
    unit = r_max * 1.0  # median epoch time of log-uniform [0.5, 2] is 1 s
    barrier, narrow = sha_idle(sha, workers)
    at_r = {k: sum(t.epochs >= r_max for t in res.trials.values()) for k, res in
            (("sha", sha), ("asha", asha), ("cap", capped))}
    return {"sha_util": sha.utilisation, "asha_to_T": busy_until(asha, horizon) / (workers * horizon),
            "asha_util": asha.utilisation, "asha_wall": asha.wall / horizon, "cap_util": capped.utilisation,
            "cap_wall": capped.wall / horizon, "sha_cfg": len(sha.trials), "asha_cfg": len(asha.trials),
            "cap_cfg": len(capped.trials), "sha_R": at_r["sha"], "asha_R": at_r["asha"], "cap_R": at_r["cap"],
            "sha_first": first_at(sha, r_max) / unit, "asha_first": first_at(asha, r_max) / unit,
            "cap_first": first_at(capped, r_max) / unit, "sha_best": best_at(sha, r_max),
            "asha_best": best_at(asha, r_max), "cap_best": best_at(capped, r_max),
            "barrier": barrier / (workers * horizon), "narrow": narrow / (workers * horizon), "T": horizon}


def table(seeds: int) -> list[tuple[str, int, dict[str, float]]]:
    rows = []
    for name, (eta, n, r_max) in TABLES.items():
        for workers in (4, 16):
            runs = [one(eta, n, r_max, workers, seed) for seed in range(seeds)]
            rows.append((name, workers, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    return rows


def show(rows: list[tuple[str, int, dict[str, float]]], seeds: int) -> None:
    groups = (f"{'':36} | {'SHA':^20} | {'ASHA by T, then drain':^38} | {'ASHA, SHA configs':^27} |")
    head = (f"{'workload':32} {'wk':>3} | {'util':>6} {'configs':>7} {'at R':>4} | {'to T':>6} {'util':>6} "
            f"{'wall/T':>6} {'configs':>7} {'at R':>4} | {'util':>6} {'wall/T':>6} {'configs':>7} {'at R':>4} | "
            f"{'first R':>17} | {'best at R':>17} | {'SHA idle: barrier':>17} {'narrow':>6}")
    print(f"ASHA vs synchronous SHA on the simulator, medians of {seeds} seeds (same workers; T = SHA's wall time; "
          f"utilisation includes the drain" + ("; policy CPU on the virtual clock)" if SIM_KW else ")"))
    print(groups)
    print(head)
    print("-" * len(head))
    for name, workers, m in rows:
        print(f"{name:32} {workers:>3} | {m['sha_util']:>6.1%} {m['sha_cfg']:>7.0f} {m['sha_R']:>4.0f} | "
              f"{m['asha_to_T']:>6.1%} {m['asha_util']:>6.1%} {m['asha_wall']:>6.2f} {m['asha_cfg']:>7.0f} "
              f"{m['asha_R']:>4.0f} | {m['cap_util']:>6.1%} {m['cap_wall']:>6.2f} {m['cap_cfg']:>7.0f} "
              f"{m['cap_R']:>4.0f} | {m['sha_first']:>5.2f}/{m['asha_first']:.2f}/{m['cap_first']:<5.2f} | "
              f"{m['sha_best']:>5.3f}/{m['asha_best']:.3f}/{m['cap_best']:<5.3f} | {m['barrier']:>17.1%} "
              f"{m['narrow']:>6.1%}")
    worst = min(m["asha_util"] for _, _, m in rows)
    print(f"\ngoal ASHA-by-T util (drain included) >= {UTIL_GOAL:.0%}: {'met' if worst >= UTIL_GOAL else 'MISSED'} "
          f"(lowest {worst:.1%})")
    print("(first R and best at R: SHA/ASHA by T/ASHA with SHA's configs; first R in units of one full training "
          "of R epochs)")
    print("""
Why SHA loses: a rung must finish before any promotion, so (barrier) workers that finished
their share of a rung wait for its slowest trials, and (narrow) upper rungs hold fewer
configurations than workers (table 2 with 16 workers: 4 and then 1 configuration), so the
other workers idle for the longest steps of all. ASHA never waits while it may start new
configurations: a free worker promotes what is already in the top 1/eta of its rung or
starts a new configuration in the bottom rung, so it starts more configurations than SHA
in the same time. Its idle time is the drain after it stops starting (util vs to T), when
the last long steps finish; capped at SHA's configurations it drains like SHA's narrow
rungs, and that is where its utilisation goes.""")


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
                          journal=f"{tmp}/j.jsonl", seed=0)
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
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 10; 3 with --quick)")
    parser.add_argument("--real", action="store_true", help="also run a real Study on 2 local workers")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 10)
    t0 = time.perf_counter()
    show(table(seeds), seeds)
    if args.real:
        real()
    print(f"\n(benchmark took {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
