"""Side by side: saved runs of ``benchmarks/tabular.py`` from several code versions or settings.

    python benchmarks/tabular_compare.py old=/tmp/tab_old.json new=/tmp/tab_new.json [--base "old:bo b=0"]

Each ``LABEL=FILE`` is a ``--save`` file of ``tabular.py``; its arms are shown as ``LABEL:arm``
(so the same arm from two commits, or ``bo time-aware`` run with ``--b 0 --strategy
constant_liar``, stand beside each other). Per table and worker count, over the seeds every
labelled arm has: median trials finished when the target (the table's 1% quantile) was
reached, median virtual time to it, median best loss at the fixed time (half the expected
wall of random search) and at the end, each with the ratio of medians against ``--base`` and
its paired percentile bootstrap 95% interval, Wilcoxon p for the best losses, and the
suggestion sources.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tabular_report import fmt, fmt_ratio, median, ratio_ci, table_md, wilcoxon_p  # noqa: E402
from tabular_runs import best_before, best_final, format_sources, load_table, time_to, trials_to  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="LABEL=FILE of tabular.py --save")
    ap.add_argument("--base", default=None, help="LABEL:arm the ratios are against (default: the first)")
    args = ap.parse_args(argv)
    runs = []
    for spec in args.files:
        label, path = spec.split("=", 1)
        with open(path) as f:
            for r in json.load(f):
                if not r.get("asha"):
                    r["done"] = [tuple(x) for x in r["done"]]
                    runs.append({**r, "arm": f"{label}:{r['arm']}"})
    arms = list(dict.fromkeys(r["arm"] for r in runs))
    base = args.base or arms[0]
    for name, workers, n_trials, encoding in sorted({(r["table"], r["workers"], r["n_trials"], r.get("encoding"))
                                                     for r in runs}):
        table = load_table(name, encoding or "ordinal")
        by = {(r["arm"], r["seed"]): r for r in runs if (r["table"], r["workers"], r["n_trials"]) ==
              (name, workers, n_trials)}
        here = [a for a in arms if any(k[0] == a for k in by)]
        seeds = sorted(s for s in {k[1] for k in by} if all((a, s) in by for a in here))
        if base not in here or not seeds:
            continue
        horizon, target = n_trials * table.mean_seconds / workers / 2, table.quantile(0.01)
        measures = {
            "trials to target": lambda r: trials_to(r, target),
            "time to target s": lambda r: time_to(r, target),
            "best @ fixed time": lambda r: best_before(r, horizon),
            "best @ end": best_final,
        }
        ref = {m: [f(by[(base, s)]) for s in seeds] for m, f in measures.items()}
        rows = []
        for arm in here:
            rs = [by[(arm, s)] for s in seeds]
            row = [arm, f"{sum(math.isfinite(trials_to(r, target)) for r in rs)}/{len(seeds)}"]
            for m, f in measures.items():
                vals = [f(r) for r in rs]
                row += [median(vals), fmt_ratio(ratio_ci(vals, ref[m]))]
                if m.startswith("best"):
                    row.append(fmt(wilcoxon_p(vals, ref[m])))
            src = Counter()
            for r in rs:
                src.update(r["sources"])
            rows.append(row + [format_sources(src)])
        header = ["arm", "reached"]
        for m in measures:
            header += [f"median {m}", f"ratio vs {base} [95% CI]"] + (["Wilcoxon p"] if m.startswith("best") else [])
        table_md(f"{name}, {workers} workers, {n_trials} trials, {len(seeds)} paired seeds {seeds} (target "
                 f"{table.loss_label} <= {target:.4g}; fixed time {horizon:.0f} virtual s)", header + ["sources"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
