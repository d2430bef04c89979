"""Warm start: does TimeAwareBO reach a target in fewer trials when told a previous study's results?

    python benchmarks/warm_start.py            # 8 paired seeds, about 3 minutes on 2 shared cores
    python benchmarks/warm_start.py --seeds 4 --previous 10

Task: Branin on its usual box (minimum 0.398), target loss <= 0.5, at most ``--budget`` trials.
For each seed, a *previous study* of ``--previous`` random-search trials (its own seed) is kept
as a ``study.results``-like DataFrame; then, asked and told one trial at a time (sequential,
``background=False``, so every run is reproducible):

* cold: ``TimeAwareBO(seed=s)`` from nothing;
* warm: the same searcher, first told the previous study's rows through the code path a Study
  uses (:func:`hpo_kit.warm_start.load_warm_start` then :func:`~hpo_kit.warm_start.tell_warm`).

Printed: trials to the target per seed (``budget + 1`` when not reached), the medians and the
paired ratio warm/cold. Only this study's trials are counted, not the previous study's: the
question is what a user who already has a journal saves by passing it.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import pandas as pd

from hpo_kit import Real, Space, TimeAwareBO
from hpo_kit.goal import Goal
from hpo_kit.trial import Observation, TrialStatus
from hpo_kit.warm_start import load_warm_start, tell_warm

SPACE = Space({"x1": Real(-5.0, 10.0), "x2": Real(0.0, 15.0)})
GOAL = Goal("loss")


def branin(c: dict) -> float:
    x1, x2 = c["x1"], c["x2"]
    a, b, r, s, t = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1 ** 2 + r * x1 - 6) ** 2 + s * (1 - t) * math.cos(x1) + s


def previous_study(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 99])
    rows = [SPACE.sample(rng) for _ in range(n)]
    return pd.DataFrame({"config.x1": [r["x1"] for r in rows], "config.x2": [r["x2"] for r in rows],
                         "score": [branin(r) for r in rows], "last.loss": [branin(r) for r in rows],
                         "status": "COMPLETED", "epochs": 1, "busy": 1.0})


def trials_to_target(seed: int, warm: pd.DataFrame | None, target: float, budget: int) -> int:
    bo = TimeAwareBO(n_initial_points=5, background=False, seed=seed)
    bo.setup(SPACE, GOAL, 1)
    if warm is not None:
        tell_warm(bo, load_warm_start([warm], SPACE, GOAL, 1))
    for tid in range(budget):
        config = bo.ask(tid).config
        loss = branin(config)
        if loss <= target:
            return tid + 1
        bo.tell(Observation(tid, config, loss, TrialStatus.COMPLETED, 1, 1.0, True))
    return budget + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--previous", type=int, default=20)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--target", type=float, default=0.5)
    args = ap.parse_args()
    t0 = time.time()
    cold, warm = [], []
    print(f"Branin, target loss <= {args.target}, budget {args.budget} trials, previous study: "
          f"{args.previous} random trials")
    print(f"{'seed':>4} {'cold':>5} {'warm':>5}")
    for seed in range(args.seeds):
        old = previous_study(seed, args.previous)
        cold.append(trials_to_target(seed, None, args.target, args.budget))
        warm.append(trials_to_target(seed, old, args.target, args.budget))
        print(f"{seed:>4} {cold[-1]:>5} {warm[-1]:>5}", flush=True)
    ratios = [w / c for w, c in zip(warm, cold)]
    print(f"median trials to target: cold {statistics.median(cold):g}, warm {statistics.median(warm):g}; "
          f"median paired ratio warm/cold {statistics.median(ratios):.2f}; warm fewer in "
          f"{sum(w < c for w, c in zip(warm, cold))}/{len(cold)} seeds, equal in "
          f"{sum(w == c for w, c in zip(warm, cold))} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
