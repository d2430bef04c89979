"""Sweep monitor settings on recorded tables: replayed random search, each beside its random-flag control.

How the 2026-12 ``LearningCurve`` defaults were chosen (``docs/diagnosis.md``). A spec file maps a
name to ``{"diag": {...Diagnosis kwargs} | absent, "curve": {...LearningCurve kwargs} | absent}``
(both present: ``AnyOf(Diagnosis(...), LearningCurve(...))``):

    echo '{"both": {"diag": {}, "curve": {}}, "both k20 p.01": {"diag": {}, "curve": {"k": 20, "p_min": 0.01}}}' > s.json
    python benchmarks/monitor_sweep.py s.json --tables digits_mlp,mnist5k_mlp,digits_cnn --seeds 10
    python benchmarks/monitor_sweep.py --seeds 10        # the sweep of docs/diagnosis.md (SWEEP)

Per table and setting: median TSBA [95% interval] and its control's, flag-stopped trials of the
top-half configurations (issue 27's "good") and of those ending >= 0.9 x best, summed over seeds,
top-10 hit and gain. Random search, 8 workers, the time of ~100 full trials per arm, no decision time
(so runs are exactly repeatable; ``benchmarks/replay.py --part curve`` counts it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hpo_kit import Diagnosis  # noqa: E402
from hpo_kit.bench import Table  # noqa: E402
from hpo_kit.bench.quality import interval, paired, truth  # noqa: E402
from hpo_kit.bench.replay import full_trial_seconds  # noqa: E402
from hpo_kit.diagnosis import AnyOf, LearningCurve  # noqa: E402
from hpo_kit.optimizers import FIFO, RandomSearch  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
#: The 2026-12-07 sweep (``docs/diagnosis.md``), run when no spec file is given.
SWEEP: dict[str, Any] = {
    "diagnosis": {"diag": {}},
    "diagnosis max_zero=0.9": {"diag": {"max_zero": 0.9}},
    "both, k=10 p_min=0.05 (old)": {"diag": {}, "curve": {"k": 10, "p_min": 0.05}},
    "both, k=10 p_min=0.01": {"diag": {}, "curve": {"k": 10, "p_min": 0.01}},
    "both, k=15 p_min=0.01": {"diag": {}, "curve": {"k": 15, "p_min": 0.01}},
    "both, k=20 p_min=0.05": {"diag": {}, "curve": {"k": 20, "p_min": 0.05}},
    "both, k=20 p_min=0.01 (new)": {"diag": {}, "curve": {"k": 20, "p_min": 0.01}},
    "both, k=40 p_min=0.05": {"diag": {}, "curve": {"k": 40, "p_min": 0.05}}}


def make(spec: dict[str, Any], table: Table) -> Any:
    """The monitor of one spec (see the module docstring)."""
    ms = [Diagnosis(**spec["diag"])] if "diag" in spec else []
    ms += [LearningCurve(table.metric, table.mode, **spec["curve"])] if "curve" in spec else []
    return ms[0] if len(ms) == 1 else AnyOf(*ms)


def job(name: str, specs: dict[str, Any], seed: int) -> dict[str, Any]:
    """One seed of every spec on table ``name`` (one shared baseline arm)."""
    table = Table.load(os.path.join(DATA, f"{name}.jsonl.gz")).complete()
    kw = {"n_workers": 8, "time_budget": 100 * full_trial_seconds(table) / 8, "decision_time": False}
    labels, cache = truth(table), {}
    return {k: paired(table, lambda s: FIFO(RandomSearch(seed=s)), lambda spec=spec: make(spec, table), [seed],
                      labels, cache=cache, control=True, **kw)[0] for k, spec in specs.items()}


def pct(v: float) -> str:
    return "never" if v == -math.inf else f"{v:+.0%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="?", help="JSON file: name -> {diag: {...}, curve: {...}}; default: SWEEP")
    ap.add_argument("--tables", default="digits_mlp,mnist5k_mlp,digits_cnn")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    specs = SWEEP
    if args.specs:
        with open(args.specs) as f:
            specs = json.load(f)
    for name in args.tables.split(","):
        with ProcessPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(job, [name] * args.seeds, [specs] * args.seeds, range(args.seeds)))
        print(f"\n== {name}: random search, 8 workers, {args.seeds} paired seeds")
        for k in specs:
            rs = [r[k] for r in runs]
            count = lambda arm, key: sum(r[arm][key] for r in rs)  # noqa: E731
            top, top_n = count("diag", "flag_stopped_top_half"), count("diag", "top_half")
            good, good_n = count("diag", "flag_stopped_good"), count("diag", "good")
            ctrl = count("control", "flag_stopped_top_half") / max(count("control", "top_half"), 1)
            ts, cts = interval([r["tsba"] for r in rs]), interval([r["control_tsba"] for r in rs])
            print(f"{k:28s} TSBA {pct(ts[0])} [{pct(ts[1])}, {pct(ts[2])}] ctrl {pct(cts[0])}; top half stopped "
                  f"{top}/{top_n} = {top / max(top_n, 1):.1%} (ctrl {ctrl:.0%}); >= 0.9 best {good}/{good_n} = "
                  f"{good / max(good_n, 1):.1%}; top-10 hit {interval([r['hit'] for r in rs])[0]:.0%}, gain "
                  f"{pct(interval([r['gain'] for r in rs])[0])}", flush=True)


if __name__ == "__main__":
    main()
