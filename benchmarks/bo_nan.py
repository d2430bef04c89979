"""TimeAwareBO with NaN in half the space (issue 26, item 5); prints a table.

    python benchmarks/bo_nan.py                 # 10 seeds, 24 trials, 2 simulated workers (about a minute)
    python benchmarks/bo_nan.py --seeds 3 --trials 16

The objective: ``loss = (x - 0.55)**2 + (y - 0.5)**2`` on the unit square, NaN wherever
``x > 0.5`` (a learning rate past which training diverges). Its unconstrained minimum lies
in the NaN region, so the best finite loss sits on the boundary and a model that cannot tell
NaN from "a bit worse" keeps proposing points past it. Per seed: the suggestions the
surrogate made (after the random initial points), how many of them landed in the NaN
region, and the best finite loss (the optimum is 0.0025, at ``x = 0.5, y = 0.5``);
``--optimum inside`` moves the bowl's centre to ``x = 0.35`` (optimum 0 there). Refits
are synchronous (``background=False``), so every run is reproducible; the simulator applies
the engine's told-loss rule (:mod:`hpo_kit.trial`).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bo_common's table

from bo_common import table  # noqa: E402
from hpo_kit import Goal, Real, Space  # noqa: E402
from hpo_kit.engine.simulator import simulate  # noqa: E402
from hpo_kit.optimizers import TimeAwareBO  # noqa: E402

SPACE = Space({"x": Real(0.0, 1.0), "y": Real(0.0, 1.0)})
GOAL = Goal("loss", "min")
#: Where the unconstrained minimum lies: past the NaN boundary (the finite optimum on it), or inside.
CENTRES = {"edge": 0.55, "inside": 0.35}


def nan_half(c: dict, centre: float = CENTRES["edge"]) -> float:
    """NaN for ``x > 0.5``, else a bowl around ``(centre, 0.5)``."""
    return math.nan if c["x"] > 0.5 else (c["x"] - centre) ** 2 + (c["y"] - 0.5) ** 2


def run(seed: int, n_trials: int, workers: int, centre: float = CENTRES["edge"]) -> tuple[int, int, int, float]:
    """One seeded BO run: (surrogate suggestions, of them in the NaN region, NaN trials in all, best finite)."""
    opt = TimeAwareBO(seed=seed, background=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skopt's "point already evaluated" notes
        res = simulate(opt, SPACE, GOAL, lambda c, e: nan_half(c, centre), epoch_time=1.0, n_workers=workers,
                       n_trials=n_trials, max_epochs=1)
    model = [t for t in res.trials.values() if t.info.get("source") != "initial"]
    in_nan = sum(t.config["x"] > 0.5 for t in model)
    nan_all = sum(t.config["x"] > 0.5 for t in res.trials.values())
    best = min((s for t in res.trials.values() if (s := t.score(GOAL)) is not None), default=math.nan)
    return len(model), in_nan, nan_all, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--optimum", choices=sorted(CENTRES), default="edge",
                    help="edge: the bowl's centre past the NaN boundary (x=0.55); inside: at x=0.35")
    args = ap.parse_args()
    centre = CENTRES[args.optimum]
    optimum = max(0.0, centre - 0.5) ** 2
    rows = [[seed, *run(seed, args.trials, args.workers, centre)] for seed in range(args.seeds)]
    table(f"TimeAwareBO, NaN for x > 0.5, bowl centre x={centre}: {args.trials} trials, {args.workers} simulated "
          f"workers, synchronous refits", ["seed", "model suggestions", "in NaN region", "NaN trials (all)",
                                  "best finite loss"], rows)
    share = sum(r[2] for r in rows) / max(1, sum(r[1] for r in rows))
    print(f"\nmedians over {args.seeds} seeds: model suggestions in the NaN region "
          f"{statistics.median(r[2] for r in rows):g} of {statistics.median(r[1] for r in rows):g} "
          f"({share:.0%} of all), NaN trials {statistics.median(r[3] for r in rows):g} of {args.trials}, "
          f"best finite loss {statistics.median(r[4] for r in rows):.4g} (optimum {optimum:g})")


if __name__ == "__main__":
    main()
