"""BO on a conditional space against random search (issue 25); prints a Markdown table.

    python benchmarks/conditional.py --quick     # 5 seeds x 30 trials
    python benchmarks/conditional.py             # 10 seeds x 50 trials
    python benchmarks/conditional.py --rf        # adds BO with the random-forest surrogate
    python benchmarks/conditional.py --arms "random,BO cond. RF"   # chosen arms only

The benchmark (synthetic, known optimum): ``branch`` picks one of three sub-problems, each with
its own conditional dimensions, and a shared log-scaled ``lr`` adds a small penalty:

* ``branin``: ``x1, x2`` active, loss ``branin(x1, x2) / 50`` (minimum 0.397887 / 50 = 0.00796);
* ``quadratic``: ``y`` active, loss ``0.2 + (y - 0.3)^2`` (minimum 0.2: an easy decoy);
* ``layers``: ``n_layers`` in 1..3 and ``width_i`` active when ``n_layers >= i`` (log integers
  8..256), loss ``0.1 + 0.1 |n_layers - 2| + sum_i (log2 width_i - 6)^2 / 20`` (minimum 0.1 at two
  layers of 64: nested conditions);
* plus ``0.05 (log10 lr + 2.5)^2`` for every branch (0 at ``lr = 10**-2.5``).

The known optimum ``F_STAR`` = 0.397887 / 50; the table gives the *regret* (best loss so far
minus ``F_STAR``) after the first ``k`` trials (in creation order), for each arm:

* ``random``: :class:`~hpo_kit.RandomSearch` on the conditional space (parents first);
* ``BO cond.``: :class:`~hpo_kit.TimeAwareBO` (GP, EI, 10 initial points, synchronous refits) on the
  conditional space: inactive dimensions out of range plus an indicator (``searchers/conditional.py``);
* ``BO flat``: the same BO on the *flat* space (every dimension always present; the objective
  ignores the unused ones): the usual workaround, where the model sees values that did nothing.

Every arm runs on the simulator with 2 virtual workers (1 s trials), seeds ``0..N-1``, paired
(the same seed per arm). Cells: median regret over seeds with a bootstrap 95% interval of the
median (10,000 resamples of the seeds), and how many seeds were within 0.05 of the optimum
(``hits``: only the branin branch gets there).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hpo_kit import Categorical, Goal, Integer, RandomSearch, Real, Space, TimeAwareBO  # noqa: E402
from hpo_kit.engine.simulator import simulate  # noqa: E402
from tabular_report import table_md  # noqa: E402

GOAL = Goal("loss", "min")
ARMS = ["random", "BO cond. GP", "BO flat GP", "BO cond. RF", "BO flat RF"]
F_STAR = 0.397887 / 50
HIT = 0.05


def make_space(conditional: bool = True) -> Space:
    """The benchmark's space; ``conditional=False``: the same dimensions, all always active."""
    w = lambda *c: c if conditional else None  # noqa: E731 - a condition, or none on the flat space
    return Space({
        "branch": Categorical(["branin", "quadratic", "layers"]),
        "x1": Real(-5.0, 10.0, when=w("branch", "branin")),
        "x2": Real(0.0, 15.0, when=w("branch", "branin")),
        "y": Real(0.0, 1.0, when=w("branch", "quadratic")),
        "n_layers": Integer(1, 3, when=w("branch", "layers")),
        "width_1": Integer(8, 256, log=True, when=w("branch", "layers")),
        "width_2": Integer(8, 256, log=True, when=w("n_layers", ">=", 2)),
        "width_3": Integer(8, 256, log=True, when=w("n_layers", ">=", 3)),
        "lr": Real(1e-4, 1e-1, log=True),
    })


def loss(c: dict) -> float:
    """The benchmark's objective (reads only the dimensions its branch uses)."""
    penalty = 0.05 * (math.log10(c["lr"]) + 2.5) ** 2
    if c["branch"] == "branin":
        x1, x2 = c["x1"], c["x2"]
        b, cc, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
        return ((x2 - b * x1 ** 2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10) / 50 + penalty
    if c["branch"] == "quadratic":
        return 0.2 + (c["y"] - 0.3) ** 2 + penalty
    n = c["n_layers"]
    widths = sum((math.log2(c[f"width_{i}"]) - 6) ** 2 for i in range(1, n + 1)) / 20
    return 0.1 + 0.1 * abs(n - 2) + widths + penalty


def run(arm: str, seed: int, trials: int) -> list[float]:
    """Best-so-far regret after each trial (creation order) of one run."""
    if arm == "random":
        policy, space = RandomSearch(seed=seed), make_space(True)
    else:
        estimator = "RF" if arm.endswith("RF") else "GP"
        policy = TimeAwareBO(n_initial_points=10, background=False, base_estimator=estimator, seed=seed)
        space = make_space(not arm.startswith("BO flat"))
    res = simulate(policy, space, GOAL, lambda c, epoch: loss(c), 1.0, n_workers=2, n_trials=trials, max_epochs=1)
    losses = [res.trials[i].reports[-1]["metrics"]["loss"] for i in sorted(res.trials)]
    return list(np.minimum.accumulate(losses) - F_STAR)


def median_ci(values: np.ndarray, n: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Median over seeds and a percentile-bootstrap 95% interval of it."""
    idx = np.random.default_rng(seed).integers(0, len(values), (n, len(values)))
    meds = np.median(values[idx], axis=1)
    return float(np.median(values)), float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 seeds x 30 trials")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--rf", action="store_true", help="add BO with the random-forest surrogate")
    ap.add_argument("--arms", default=None, help=f"comma-separated, of {ARMS}")
    args = ap.parse_args()
    seeds = args.seeds or (5 if args.quick else 10)
    trials = args.trials or (30 if args.quick else 50)
    arms = args.arms.split(",") if args.arms else ARMS[:3] + (ARMS[3:] if args.rf else [])
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        ap.error(f"--arms: unknown {unknown}; choose from {ARMS}")
    checkpoints = [k for k in (10, 20, 30, 40, 50, 75, 100, 150, 200) if k <= trials]
    curves: dict[str, np.ndarray] = {}
    for arm in arms:
        started = time.perf_counter()
        curves[arm] = np.array([run(arm, s, trials) for s in range(seeds)])
        print(f"{arm}: {seeds} seeds x {trials} trials in {time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for k in checkpoints:
        for arm in arms:
            at_k = curves[arm][:, k - 1]
            med, lo, hi = median_ci(at_k)
            rows.append([k, arm, f"{med:.4f}", f"[{lo:.4f}, {hi:.4f}]", f"{int((at_k <= HIT).sum())}/{seeds}"])
    table_md(f"Regret (best loss - optimum {F_STAR:.5f}) after k trials: median over {seeds} seeds, "
             f"bootstrap 95% CI, hits = seeds within {HIT}", ["k", "arm", "median regret", "95% CI", "hits"], rows,
             cell=str)
    if "random" in curves:  # paired by seed: the same seed's random run
        for arm in (a for a in arms if a != "random"):
            wins = [f"k={k}: {int((curves[arm][:, k - 1] < curves['random'][:, k - 1]).sum())}" for k in checkpoints]
            print(f"\n{arm} below random (paired seeds, of {seeds}; ties at k=10 are the shared initial points): "
                  + ", ".join(wins))


if __name__ == "__main__":
    main()
