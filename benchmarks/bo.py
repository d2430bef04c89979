"""Benchmarks of TimeAwareBO (issue 4, section 1); prints tables.

    python benchmarks/bo.py --quick        # about 4 minutes on 2 shared cores
    python benchmarks/bo.py                # more trials per run
    python benchmarks/bo.py --real         # adds the real torch task on a 2-worker Study

1. Decision latency on the loop's critical path: ``suggest`` timed on the caller thread
   while the background refit runs, at 10/100/200/400 observations, next to that refit's
   duration (what a worker would wait if ``suggest`` refitted itself).
2. Search quality: async BO without prediction (4 simulated workers, b = 0) against plain
   sequential skopt (ask/tell, same GP/EI settings, same trial budget) on Branin, with
   simulated trial times; 10 paired seeds, median best, ratio and Wilcoxon signed-rank p.
   The issue's goal is stated at 200 trials (``--trials 200``: hours on 2 shared cores,
   since every model-based trial is one GP refit); ``--quick`` uses 30, the default 100.
3. The seed's claim on the simulator: time-aware (b > 0, switch after two thirds of the
   trials) against standard BO on a space whose ``width`` sets the trial time; paired
   ratios of total tuning time and best error with bootstrap 95% intervals.
4. ``--real``: the same comparison on ``digits_mlp`` with a real Study on 2 Dask workers
   (background refits, as in real use; the journal's suggestion sources are counted). The
   workers are warmed first by an untimed 4-trial study, the arms alternate which runs first
   (odd seeds: time-aware first), and each run prints its wall time and the load average.
   ``--real --sections none`` runs only this one.
6. ``--sections 6``: time to reach a target loss with 1/2/4/8 simulated workers (Branin,
   1-2 s trials) and with 1/2 real workers (digits MLP, val_loss <= 0.12).
5. ``--sections 5``: worker utilisation of BO (background refits) on a real Study with 4
   workers and 1-second trials, beside random search on the same cluster (goal >= 95%).
7. ``--sections 7``: the issue's three numbers for the default ``TimeAwareBO()`` (b = 0,
   background refits) with 4 workers, 1-second trials and 80 trials on the embedded
   LocalCluster: the share of suggestions after the initial points that came from the
   surrogate (goal >= 90%, with the counts behind it), worker utilisation (goal >= 95%) and
   the decision latency p99 at 400 observations (goal <= 20 ms).
8. ``--sections 8 [--epochs 6]``: a new user's small CNN on digits (2 workers on the embedded
   LocalCluster, the default ``TimeAwareBO()``, 10 initial points + 12): per run the journal's
   suggestion sources, the surrogate's share after the initial points with its counts, the
   initial points beyond the 10 asked for (those asked before the first model landed), trial
   busy times and the load average (issue 24: no random point once a model exists).

Layout: this file holds the simulator sections (2, 3, 6a) and the command line;
``bo_live.py`` the sections on real threads and clusters (1, 4, 5, 6b, 7); ``bo_common.py``
the helpers both use.

Refits in 2, 3 and 6a run synchronously (``background=False``) so the seeded runs are
reproducible; 1, 4, 5, 6b and 7 use background refits, as a real study does. Every figure
states its mode and prints beside it its suggestion sources (``initial`` / ``surrogate`` /
``random`` / ``duplicate``, from ``Start.info["source"]``: counted at ``ask`` on the
simulator, read from the journal's ``trial_create`` records on a real Study).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from collections import Counter

import numpy as np
from scipy.stats import wilcoxon
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its two sibling modules

from bo_common import (BRANIN, BRANIN_MIN, GOAL, SYNC, branin, compare, count_sources,  # noqa: E402
                       format_sources, table)
from bo_live import (issue_numbers, latency, new_user_cnn, time_aware_real, time_to_target_real,  # noqa: E402
                     utilisation)
from hpo_kit import Integer, Real, Space  # noqa: E402
from hpo_kit.engine.simulator import simulate  # noqa: E402
from hpo_kit.optimizers import TimeAwareBO  # noqa: E402


# -- 2. quality ----------------------------------------------------------------------------------
def branin_seconds(c: dict) -> float:
    return 1.0 + (c["x1"] + 5.0) / 15.0  # 1-2 s, so the 4 workers de-synchronise


def async_bo_best(seed: int, n_trials: int, sources: Counter | None = None) -> float:
    opt = TimeAwareBO(seed=seed, background=False)
    counts = count_sources(opt)
    res = simulate(opt, BRANIN, GOAL, lambda c, e: branin(c),
                   epoch_time=branin_seconds, n_workers=4, n_trials=n_trials, max_epochs=1)
    if sources is not None:
        sources.update(counts)
    return min(t.score(GOAL) for t in res.trials.values())


def sequential_skopt_best(seed: int, n_trials: int) -> float:
    from skopt import Optimizer as SkOptimizer

    opt = SkOptimizer([(-5.0, 10.0), (0.0, 15.0)], "GP", n_initial_points=10, acq_func="EI", random_state=seed)
    best = math.inf
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_trials):
            x = opt.ask()
            y = branin({"x1": x[0], "x2": x[1]})
            opt.tell(x, y)
            best = min(best, y)
    return best


def quality(seeds: int, n_trials: int) -> None:
    sources: Counter = Counter()
    ours = [async_bo_best(s, n_trials, sources) for s in range(seeds)]
    seq = [sequential_skopt_best(s, n_trials) for s in range(seeds)]
    med_ours, med_seq = statistics.median(ours), statistics.median(seq)
    diff = np.array(ours) - np.array(seq)
    p = wilcoxon(ours, seq).pvalue if np.any(diff != 0) else 1.0
    rows = [["async BO, no prediction, 4 workers", med_ours, med_ours - BRANIN_MIN],
            ["sequential skopt, 1 worker", med_seq, med_seq - BRANIN_MIN]]
    table(f"2. Search quality on Branin (min {BRANIN_MIN}), {seeds} paired seeds, best after {n_trials} trials "
          f"(async BO: {SYNC})", ["method", "median best", "median regret"], rows)
    print(f"suggestion sources, async BO over {seeds} seeds: {format_sources(sources)}; sequential skopt: "
          f"initial={10 * seeds} model={max(0, n_trials - 10) * seeds} (its own ask/tell, 10 initial points)")
    print(f"\nratio of medians (async / sequential) = {med_ours / med_seq:.4f}; "
          f"regret ratio = {(med_ours - BRANIN_MIN) / (med_seq - BRANIN_MIN):.3g}; Wilcoxon signed-rank p = {p:.3g}")
    print("per seed (async, sequential): " + ", ".join(f"({a:.3f}, {b:.3f})" for a, b in zip(ours, seq)))


# -- 3. time-aware vs standard on the simulator -----------------------------------------------------
TIMED = Space({"x1": Real(-5.0, 10.0), "x2": Real(0.0, 15.0), "width": Integer(16, 256, log=True)})


def timed_error(c: dict) -> float:
    # An error-rate-like loss in ~[0.05, 1.1]: Branin/300 on top of a 0.05 floor, plus up to 0.05
    # for a narrow model - width helps a little and costs a lot of time.
    return 0.05 + branin(c) / 300.0 + 0.05 * math.log2(256 / c["width"]) / 4


def timed_seconds(c: dict) -> float:
    return 0.25 + c["width"] / 64.0  # 0.5 s at width 16, 4.25 s at width 256


def time_aware_sim(seeds: int, n_trials: int, b: float) -> None:
    switch = 2 * n_trials // 3  # after 4 random starts, most model-based trials see the time cost
    sources: dict[str, Counter] = {"standard": Counter(), "time-aware": Counter()}

    def run(seed: int, b_: float) -> tuple[float, float]:
        opt = TimeAwareBO(b=b_, switch_after_trials=switch, n_initial_points=4, seed=seed, background=False)
        counts = count_sources(opt)
        res = simulate(opt, TIMED, GOAL, lambda c, e: timed_error(c), epoch_time=timed_seconds, n_workers=4,
                       n_trials=n_trials, max_epochs=1)
        sources["time-aware" if b_ > 0 else "standard"].update(counts)
        return res.wall, min(t.score(GOAL) for t in res.trials.values())

    compare(run, seeds, b, f"3. Time-aware (b={b}, T in median trials, switch after {switch}) vs standard BO, "
            f"simulator, 4 workers, {n_trials} trials (virtual seconds; {SYNC})", "best error")
    print("suggestion sources over all seeds: " + "; ".join(f"{k}: {format_sources(v)}" for k, v in sources.items()))


def time_to_target_sim(workers: list[int], seeds: int, n_trials: int, target: float) -> None:
    """6a. Virtual time until a trial reaches ``target`` on Branin (trials of 1-2 s), 1/2/4/8 workers."""
    rows = []
    for n in workers:
        times, sources = [], Counter()
        for seed in range(seeds):
            opt = TimeAwareBO(seed=seed, background=False)
            counts = count_sources(opt)
            res = simulate(opt, BRANIN, GOAL, lambda c, e: branin(c),
                           epoch_time=branin_seconds, n_workers=n, n_trials=n_trials, max_epochs=1)
            sources.update(counts)
            hits = [t.ended for t in res.trials.values() if t.score(GOAL) is not None and t.score(GOAL) <= target]
            times.append(min(hits) if hits else math.inf)
        med = statistics.median(times)
        rows.append([n, f"{med:.1f}", f"{sum(math.isfinite(t) for t in times)}/{seeds}", format_sources(sources)])
    base = float(rows[0][1])
    for row in rows:
        row.insert(3, f"{base / float(row[1]):.2f}x" if math.isfinite(float(row[1])) else "-")
    table(f"6a. Time to reach Branin loss <= {target} (simulated 1-2 s trials, {n_trials} trials max, {seeds} seeds; "
          f"{SYNC}, decision time not on the virtual clock)",
          ["workers", "median virtual s", "reached", "speed-up vs 1", "suggestion sources"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (about 4 minutes on 2 shared cores)")
    ap.add_argument("--real", action="store_true", help="also run the real torch task on a 2-worker Study")
    ap.add_argument("--trials", type=int, default=None, help="trials per run in sections 2-3")
    ap.add_argument("--b", type=float, default=0.1, help="time penalty of the time-aware runs")
    ap.add_argument("--epochs", type=int, default=6, help="epochs a trial in section 8 (6: trials of about 1-3 s)")
    ap.add_argument("--sections", default="123", help="which of sections 1-3 (5: utilisation on a real 4-worker "
                    "study; 6: time to target; 7: the issue's three numbers for the default TimeAwareBO; 8: a new user's small "
                    "CNN on digits, suggestion sources) to run")
    args = ap.parse_args()
    n_trials = args.trials or (30 if args.quick else 100)
    t0 = time.perf_counter()
    if "1" in args.sections:
        latency([10, 100, 200, 400])
    if "2" in args.sections:
        quality(10, n_trials)
    if "3" in args.sections:
        time_aware_sim(5 if args.quick else 10, n_trials, args.b)
    if "6" in args.sections:
        time_to_target_sim([1, 2, 4, 8], 3, 40 if args.quick else 80, 0.5)
        time_to_target_real([1, 2], 2 if args.quick else 3, 24, 0.12)
    if "5" in args.sections:
        utilisation(args.trials or (60 if args.quick else 200))
    if "7" in args.sections:
        issue_numbers()
    if "8" in args.sections:
        new_user_cnn(2 if args.quick else 5, args.epochs)
    if args.real:
        time_aware_real(5, 16 if args.quick else 24, args.b, 10 if args.quick else 20)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
