"""The statistics and tables of ``benchmarks/tabular.py`` (its docstring says what they measure)."""
from __future__ import annotations

import math
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tabular_runs import (ASHA_ETA, ASHA_R, BO_ARMS, MODE, REFERENCE, Table, best_before, best_final,
                          format_sources, sim_options, time_to, trials_to)


# -- statistics -------------------------------------------------------------------------------------
def ratio_ci(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Ratio of medians ``median(a) / median(b)`` and its paired percentile bootstrap 95% interval.

    ``inf`` (a target not reached) is allowed; a resample whose medians are both ``inf`` is
    left out of the interval.
    """
    from scipy.stats import bootstrap

    a, b = np.asarray(a, float), np.asarray(b, float)

    def stat(x, y):
        mx, my = np.median(x), np.median(y)
        if math.isinf(mx) and math.isinf(my):
            return math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            return mx / my if my != 0 else (math.inf if mx > 0 else 1.0)

    point = stat(a, b)
    if len(a) < 2:
        return point, math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        res = bootstrap((a, b), stat, paired=True, vectorized=False, n_resamples=2000, method="percentile",
                        random_state=np.random.default_rng(0))
    lo, hi = res.confidence_interval
    if math.isnan(lo) or math.isnan(hi):  # some resamples had both medians inf: leave those out
        dist = np.sort(np.asarray(res.bootstrap_distribution, float))
        dist = dist[~np.isnan(dist)]
        # order statistics, not np.percentile: interpolating between inf values gives nan
        lo, hi = ((dist[int(0.025 * (dist.size - 1))], dist[int(math.ceil(0.975 * (dist.size - 1)))])
                  if dist.size else (math.nan, math.nan))
    return point, float(lo), float(hi)


def wilcoxon_p(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 2 or np.all(a[keep] == b[keep]):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(wilcoxon(a[keep], b[keep]).pvalue)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf"
        return f"{v:.4g}"
    return str(v)


def fmt_ratio(r: tuple[float, float, float]) -> str:
    return f"{fmt(r[0])} [{fmt(r[1])}, {fmt(r[2])}]"


def table_md(title: str, header: list[str], rows: list[list[Any]], cell: Callable[[Any], str] = fmt) -> None:
    """Print a Markdown table under a ``###`` title, each cell written by ``cell`` (also ``benchmarks/bo*.py``'s)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")
    sys.stdout.flush()


def median(xs: Sequence[float]) -> float:
    return float(np.median(np.asarray(xs, float))) if len(xs) else math.nan


# -- the report --------------------------------------------------------------------------------------
def side_by_side(runs: list[dict], table: Table, workers: int, arms: Sequence[str], seeds: Sequence[int],
                 n_trials: int) -> dict[str, Any]:
    horizon = n_trials * table.mean_seconds / workers / 2
    target = table.quantile(0.01)
    by = {(r["arm"], r["seed"]): r for r in runs if r["table"] == table.name and r["workers"] == workers
          and not r["asha"]}
    ref = REFERENCE if REFERENCE in arms else arms[0]
    ref_best = [best_before(by[(ref, s)], horizon) for s in seeds]
    ref_ttt = [time_to(by[(ref, s)], target) for s in seeds]
    ref_wall = [by[(ref, s)]["wall"] for s in seeds]
    rows, out = [], {"horizon": horizon, "target": target}
    for arm in arms:
        rs = [by[(arm, s)] for s in seeds]
        best = [best_before(r, horizon) for r in rs]
        ttt = [time_to(r, target) for r in rs]
        wall = [r["wall"] for r in rs]
        src = Counter()
        for r in rs:
            src.update(r["sources"])
        dec = [r["decision_seconds"] for r in rs if r["decision_seconds"] is not None]
        out[arm] = {"best": best, "ttt": ttt, "wall": wall, "final": [best_final(r) for r in rs]}
        rows.append([arm, median(best), fmt_ratio(ratio_ci(best, ref_best)), fmt(wilcoxon_p(best, ref_best)),
                     f"{sum(math.isfinite(t) for t in ttt)}/{len(seeds)}", median(ttt),
                     fmt_ratio(ratio_ci(ttt, ref_ttt)), median(wall), fmt_ratio(ratio_ci(wall, ref_wall)),
                     median(dec) if dec else "n/a", format_sources(src)])
    table_md(f"{table.name}, {workers} workers, {len(seeds)} paired seeds, {n_trials} trials "
             f"(fixed time {horizon:.0f} s, target {table.loss_label} <= {target:.4g} = 1% quantile)",
             ["arm", f"median best {table.loss_label} @ fixed time", f"ratio vs {ref} [95% CI]", "Wilcoxon p",
              "reached target", "median time to target s", f"ratio vs {ref} [95% CI]",
              f"median total s ({n_trials} trials)", f"ratio vs {ref} [95% CI]", "median decision s (on clock)",
              "suggestion sources (all seeds)"], rows)
    return out


def report(runs: list[dict], tables: list[Table], workers: Sequence[int], arms: Sequence[str],
           seeds: Sequence[int], n_trials: int, b: float, switch: float) -> None:
    print(f"\n## 1. Side by side on the tables (FIFO; BO arms: {MODE}; "
          f"time-aware = b={b:g}, T in median trials, switch after {int(round(switch * n_trials))} trials)")
    if not sim_options():
        print("(this simulator has no decision_time: policy CPU time is NOT on the virtual clock in this run)")
    results = {(t.name, w): side_by_side(runs, t, w, arms, seeds, n_trials) for t in tables for w in workers}

    if "bo time-aware" in arms and REFERENCE in arms:
        rows, met = [], 0
        w = max(workers)
        for t in tables:
            r = results[(t.name, w)]
            ttt = ratio_ci(r["bo time-aware"]["ttt"], r[REFERENCE]["ttt"])
            best = ratio_ci(r["bo time-aware"]["best"], r[REFERENCE]["best"])
            p = wilcoxon_p(r["bo time-aware"]["best"], r[REFERENCE]["best"])
            ok = ttt[0] <= 0.8 and best[0] <= 1.0
            met += ok
            rows.append([t.name, fmt_ratio(ttt), fmt_ratio(best), fmt(p), "yes" if ok else "no"])
        table_md(f"2. Goal: time-aware BO vs Optuna TPE at {w} workers (time to target <= 0.8x, "
                 "best loss @ fixed time not worse)",
                 ["table", "time-to-target ratio [95% CI]", "best-loss ratio [95% CI]", "Wilcoxon p (best)",
                  "goal met"], rows)
        print(f"\ngoal met on {met}/{len(tables)} tables (issue: at least 3 of the 4 FCNet tables)")
        clock_or_search(runs, tables, w, seeds)

    if all(a in arms for a in BO_ARMS):
        rows = []
        pooled_t, pooled_l = [], []
        for t in tables:
            for w in workers:
                r = results[(t.name, w)]
                ta, st = r["bo time-aware"], r["bo b=0"]
                tr = ratio_ci(ta["wall"], st["wall"])
                lr = ratio_ci(ta["final"], st["final"])
                pooled_t += list(np.asarray(ta["wall"]) / np.asarray(st["wall"]))
                pooled_l += list(np.asarray(ta["final"]) / np.asarray(st["final"]))
                rows.append([t.name, w, fmt_ratio(tr), fmt(wilcoxon_p(ta["wall"], st["wall"])), fmt_ratio(lr),
                             fmt(wilcoxon_p(ta["final"], st["final"]))])
        table_md(f"3. The seed's claim: time-aware (b={b:g}) vs standard BO (b=0), same {n_trials} trials, "
                 f"{len(seeds)} paired seeds ({MODE})",
                 ["table", "workers", "total-time ratio [95% CI]", "Wilcoxon p (time)",
                  "best-loss ratio after all trials [95% CI]", "Wilcoxon p (loss)"], rows)
        from scipy.stats import bootstrap

        for label, xs in (("total-time", pooled_t), ("best-loss", pooled_l)):
            xs = np.asarray(xs, float)
            ci = bootstrap((xs,), np.median, n_resamples=2000, method="percentile",
                           random_state=np.random.default_rng(0)).confidence_interval
            print(f"pooled over tables and worker counts ({len(xs)} pairs): median per-pair {label} ratio "
                  f"{np.median(xs):.4g} [{ci.low:.4g}, {ci.high:.4g}]")
        print("(issue goal: total time <= 0.95x with the best-loss interval including 1)")


def clock_or_search(runs: list[dict], tables: list[Table], workers: int, seeds: Sequence[int]) -> None:
    """2b. Is time-aware BO's time to target limited by its refits on the clock, or by the search?

    Trials to the target counts finished trials (a clock-free measure of the search); the
    decision seconds are all the run's policy CPU time on the clock (an upper bound on what
    the refits delayed the target by).
    """
    rows = []
    for t in tables:
        target = t.quantile(0.01)
        by = {(r["arm"], r["seed"]): r for r in runs if r["table"] == t.name and r["workers"] == workers
              and not r["asha"]}
        row: list[Any] = [t.name]
        for arm in ("bo time-aware", REFERENCE):
            rs = [by[(arm, s)] for s in seeds]
            ttt = [time_to(r, target) for r in rs]
            dec = [r["decision_seconds"] or 0.0 for r in rs]
            share = [d / x for d, x in zip(dec, ttt) if math.isfinite(x)]
            row += [median([trials_to(r, target) for r in rs]), median(dec), median(share) if share else "n/a",
                    median([r["wall"] / r["n"] * workers for r in rs])]
        rows.append(row)
    table_md(f"2b. Clock or search? {workers} workers: trials finished when the target was reached, and the "
             "policy's CPU seconds on the clock",
             ["table", "TA trials to target", "TA decision s", "TA decision s / time to target",
              "TA s per trial per worker", "TPE trials to target", "TPE decision s", "TPE decision s / time to target",
              "TPE s per trial per worker"], rows)


def asha_report(runs: list[dict], tables: list[Table], seeds: Sequence[int], n_configs: int, workers: int) -> None:
    rows = []
    for t in tables:
        target = t.quantile(0.01)
        by = {(r["arm"], r["seed"]): r for r in runs if r["table"] == t.name and r["asha"]}
        rnd = [time_to(by[("random", s)], target) for s in seeds]
        bo = [time_to(by[("bo b=0", s)], target) for s in seeds]
        src = Counter()
        for s in seeds:
            src.update(by[("bo b=0", s)]["sources"])
        rows.append([t.name, f"{sum(map(math.isfinite, rnd))}/{len(seeds)}", median(rnd),
                     f"{sum(map(math.isfinite, bo))}/{len(seeds)}", median(bo), fmt_ratio(ratio_ci(bo, rnd)),
                     median([best_final(by[("random", s)]) for s in seeds]),
                     median([best_final(by[("bo b=0", s)]) for s in seeds]), format_sources(src)])
    table_md(f"4. BO inside ASHA (eta={ASHA_ETA}, R={ASHA_R} steps, synthetic power-law curves ending at the table's "
             f"value), {workers} workers, {n_configs} configurations, {len(seeds)} paired seeds; BO: {MODE}",
             ["table", "ASHA+random reached", "median time to target s", "ASHA+BO reached", "median time to target s",
              "ratio BO/random [95% CI]", "median best (random)", "median best (BO)", "BO suggestion sources"], rows)
