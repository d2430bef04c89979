"""Constrained BO: modelling feasibility against ignoring the constraint, and random search.

    python benchmarks/constrained.py [--seeds 10] [--trials 30]

Minimise ``(x - 0.8)^2 + (y - 0.8)^2`` on the unit square subject to ``x + y <= 1`` (the optimum,
0.18, lies on the constraint's edge; the unconstrained optimum is infeasible), on the simulator's
virtual clock, 2 workers, BO with 8 initial points and synchronous refits (``background=False``,
a non-default mode, so that every seed replays exactly). Arms: TimeAwareBO told the constraint
(``reporter.report(..., constraints={"sum": x + y - 1})``: a GP on the constraint and EI times
P(feasible), :mod:`hpo_kit.searchers.feasibility`), TimeAwareBO not told it, random search.
Printed: the median regret of the best *feasible* trial (with the 2.5-97.5 % quantiles over
seeds) and the share of feasible proposals after the initial points, with its counts.
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from hpo_kit import Goal, Real, Space
from hpo_kit.engine.simulator import simulate
from hpo_kit.optimizers import FIFO
from hpo_kit.searchers import RandomSearch
from hpo_kit.searchers.bo import TimeAwareBO

XY = Space({"x": Real(0.0, 1.0), "y": Real(0.0, 1.0)})
OPTIMUM, INITIAL = 0.18, 8


def loss(c: dict) -> float:
    return (c["x"] - 0.8) ** 2 + (c["y"] - 0.8) ** 2


def run(arm: str, seed: int, n_trials: int) -> tuple[float, int, int]:
    told = arm != "bo, constraint not told"

    def curve(c: dict, epoch: int) -> dict:
        body = {"metrics": {"loss": loss(c)}}
        if told:
            body["constraints"] = {"sum": c["x"] + c["y"] - 1.0}
        return body

    searcher = RandomSearch(seed) if arm == "random" else TimeAwareBO(seed=seed, background=False,
                                                                       n_initial_points=INITIAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = simulate(FIFO(searcher), XY, Goal("loss"), curve, n_workers=2, n_trials=n_trials, max_epochs=1)
    configs = [t.config for t in res.trials.values()]
    ok = [c for c in configs if c["x"] + c["y"] <= 1.0]
    later = configs[INITIAL:]
    return (min(map(loss, ok)) - OPTIMUM if ok else float("inf"),
            sum(c["x"] + c["y"] <= 1.0 for c in later), len(later))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=30)
    args = ap.parse_args(argv)
    print(f"{args.trials} trials, 2 workers, seeds 0..{args.seeds - 1}; regret of the best feasible trial")
    print("| arm | median regret [2.5%, 97.5%] | feasible after the initial points |")
    print("|---|---|---|")
    for arm in ("bo, constraint modelled", "bo, constraint not told", "random"):
        runs = [run(arm, s, args.trials) for s in range(args.seeds)]
        regrets = np.array([r for r, _, _ in runs])
        n_ok, n = sum(k for _, k, _ in runs), sum(m for _, _, m in runs)
        print(f"| {arm} | {np.median(regrets):.4f} [{np.quantile(regrets, 0.025):.4f}, "
              f"{np.quantile(regrets, 0.975):.4f}] | {n_ok / n:.0%} ({n_ok} of {n}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
