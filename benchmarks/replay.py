"""Diagnosis quality from ground truth, and replayed searches, on a recorded table (virtual clock).

    python benchmarks/replay.py --table tests/data/digits_mlp.jsonl.gz          # all parts
    python benchmarks/replay.py --table tests/data/mnist5k_mlp.jsonl.gz --part quality,tradeoff
    python benchmarks/replay.py --part search --search random --seeds 20 --workers 8

Parts (``--part``, comma list):

quality   per indicator and overall: configurations flagged (and how they end), precision and recall
          against "ends bad", the share of "ends good" configurations flagged, median first-flag epoch,
          share of the bad configurations' seconds saved (definitions: :mod:`hpo_kit.bench.quality`), for
          the defaults (``Diagnosis()``) and the authors' settings (``Diagnosis.authors()``).
tradeoff  overall quality, and TSBA / top-10 hit ratio in replayed random search, of candidate settings
          from the authors' to the defaults and beyond, one change at a time (how the defaults were chosen).
search    random search, time-aware BO and ASHA replayed with and without diagnosis (``on_flag="stop"``),
          ``--workers`` workers, the same virtual time budget per arm, ``--seeds`` paired seeds (both arms
          of a seed use the same policy seed): trials, completed, stopped, flag-stopped configurations that
          end good, top-10 hit ratio and gain, TSBA - medians with 95% bootstrap intervals - beside the
          paper's numbers.
asha      the ASHA paper's settings in simulation: 25 workers, and 500 workers with 10,000 trials.
curve     Diagnosis(), the learning-curve monitor (LearningCurve) and both (AnyOf): ground truth, then
          replayed random search (``--seeds``) and ASHA (``--curve-asha-seeds``), each beside its
          random-flag control (not in the default parts).

Every monitor's figures are printed beside its random-flag control (:mod:`hpo_kit.bench.control`):
the same number of stops at the same epochs on randomly chosen trials.

All times are virtual-clock seconds: the table's recorded per-epoch seconds, plus (unless
``--no-decision-time``) the thread CPU time of every policy and monitor call, so a slow policy
costs virtual time as it would cost a real driver. Seeds run in ``--jobs`` processes.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hpo_kit import Diagnosis  # noqa: E402
from hpo_kit.diagnosis import AnyOf, LearningCurve  # noqa: E402
from hpo_kit.diagnosis.curve import LCE  # noqa: E402
from hpo_kit.bench import Table  # noqa: E402
from hpo_kit.bench.control import random_flags  # noqa: E402
from hpo_kit.bench.quality import (  # noqa: E402
    BAD, GOOD, MID, first_flags, flag_quality, interval, paired, top_half, truth)
from hpo_kit.bench.replay import full_trial_seconds, replay  # noqa: E402
from hpo_kit.diagnosis.indicators import INDICATORS  # noqa: E402

PAPER_TSBA, PAPER_TOP10_GAIN = 0.4033, 0.445
DEFAULT_TABLE = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "digits_mlp.jsonl.gz")
_NO_NMG = tuple(i for i in INDICATORS if i != "NMG")
_BASE = ("AGV", "EAG", "ERG", "LAR", "PLC")

#: Candidate settings, from the authors' to the defaults and beyond, one change at a time.
CANDIDATES: dict[str, Any] = {
    "authors: Diagnosis.authors()": lambda: Diagnosis.authors(),
    "authors without NMG": lambda: Diagnosis.authors(indicators=_NO_NMG),
    "+ slow_ratio=2 (previous default)": lambda: Diagnosis.authors(indicators=_NO_NMG, slow_ratio=2.0),
    "+ without ULC": lambda: Diagnosis.authors(indicators=_BASE, slow_ratio=2.0),
    "+ max_zero=0.8": lambda: Diagnosis.authors(indicators=_BASE, slow_ratio=2.0, max_zero=0.8),
    "+ min_cv=1e-2 = defaults: Diagnosis()": lambda: Diagnosis(),
    "defaults, min_cv=2e-2": lambda: Diagnosis(min_cv=2e-2),
    "defaults, min_cv=5e-2": lambda: Diagnosis(min_cv=5e-2),
    "defaults, min_cv=2e-2, min_grad=1e-3": lambda: Diagnosis(min_cv=2e-2, min_grad=1e-3),
    "defaults, min_cv=0.1, max_zero=0.7": lambda: Diagnosis(min_cv=0.1, max_zero=0.7),
}
MONITORS: dict[str, Any] = {"defaults": lambda: Diagnosis(), "authors": lambda: Diagnosis.authors(), **CANDIDATES}
#: Monitors that read the table's goal (metric, mode): name -> factory of the table.
CURVES: dict[str, Any] = {
    "curve": lambda t: LearningCurve(t.metric, t.mode),
    "diagnosis+curve": lambda t: AnyOf(Diagnosis(), LearningCurve(t.metric, t.mode)),
}


def monitor_factory(name: str, table: Table) -> Any:
    """A zero-argument factory of the monitor named ``name`` (of :data:`MONITORS` or :data:`CURVES`)."""
    if name in CURVES:
        return lambda: CURVES[name](table)
    return MONITORS[name]


def make_search(name: str, seed: int) -> Any:
    from hpo_kit.optimizers import ASHA, FIFO, RandomSearch

    if name == "random":
        return FIFO(RandomSearch(seed=seed))
    if name == "bo":
        from hpo_kit.searchers.bo import TimeAwareBO

        return FIFO(TimeAwareBO(seed=seed, background=False))  # refits inside the calls: on the clock
    if name == "asha":
        return ASHA(r_min=1, eta=3, seed=seed)
    raise ValueError(f"unknown search {name!r}: random, bo or asha")


# -- output ---------------------------------------------------------------------------------------
def table_out(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def pct(v: float) -> str:
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "never" if v < 0 else "inf"
    return f"{v:.0%}"


def ci(values: list[float], signed: bool = False) -> str:
    med, lo, hi = interval(values)
    f = (lambda v: "never" if v == -math.inf else "inf" if v == math.inf else f"{v:+.0%}") if signed else pct
    return f"{f(med)} [{f(lo)}, {f(hi)}]"


# -- jobs (one per seed, in worker processes) -------------------------------------------------------
_TABLES: dict[str, Table] = {}


def _table(path: str) -> Table:
    if path not in _TABLES:
        _TABLES[path] = Table.load(path).complete()
    return _TABLES[path]


def _paired_job(path: str, search: str, settings: list[str], seed: int, kw: dict[str, Any]) -> dict[str, Any]:
    """One seed: the baseline once, then per setting a monitored arm and its random-flag control."""
    table = _table(path)
    labels, cache = truth(table), {}
    return {name: paired(table, lambda s: make_search(search, s), monitor_factory(name, table), [seed], labels,
                         cache=cache, control=True, **kw)[0] for name in settings}


def _run_jobs(jobs: int, fn: Any, arglists: list[tuple]) -> list[Any]:
    if jobs <= 1:
        return [fn(*a) for a in arglists]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(fn, *zip(*arglists)))


# -- quality --------------------------------------------------------------------------------------
QUALITY_HEADERS = ["indicator", "flagged", "bad", "middling", "good", "precision", "recall", "good flagged",
                   "median epoch", "bad secs saved"]


def quality_rows(table: Table, labels: dict[int, str], make: Any) -> list[list[Any]]:
    rows = []
    for name in [*make().indicators, "overall"]:
        def mk(name: str = name) -> Diagnosis:
            d = make()
            if name != "overall":
                d.indicators = (name,)
            return d
        flags = first_flags(table, mk)
        q = flag_quality(table, flags, labels, name)
        rows.append([name, q.flagged, q.flagged_bad, q.flagged_mid, q.flagged_good, pct(q.precision), pct(q.recall),
                     pct(q.good_flagged), q.median_epoch, pct(q.saved)])
    rows.append(control_row(table, labels, flags))
    return rows


def control_quality(table: Table, labels: dict[int, str], flags: dict[int, Any], draws: int = 200) -> dict[str, float]:
    """Mean ground-truth counts of the random-flag control of ``flags`` over ``draws`` deals."""
    keys = ("flagged", "flagged_bad", "flagged_mid", "flagged_good", "recall", "good_flagged", "saved")
    sums = dict.fromkeys(keys, 0.0)
    for seed in range(draws):
        q = flag_quality(table, random_flags(flags, seed), labels)
        for k in keys:
            sums[k] += getattr(q, k) / draws
    return sums


def control_row(table: Table, labels: dict[int, str], flags: dict[int, Any]) -> list[Any]:
    c = control_quality(table, labels, flags)
    precision = c["flagged_bad"] / c["flagged"] if c["flagged"] else math.nan
    return ["random-flag control (mean of 200 deals)", f"{c['flagged']:.0f}", f"{c['flagged_bad']:.1f}",
            f"{c['flagged_mid']:.1f}", f"{c['flagged_good']:.1f}", pct(precision), pct(c["recall"]),
            pct(c["good_flagged"]), "same", pct(c["saved"])]


def quality(table: Table, labels: dict[int, str]) -> None:
    n = {k: sum(v == k for v in labels.values()) for k in (GOOD, MID, BAD)}
    for title, make in (("defaults: Diagnosis()", MONITORS["defaults"]),
                        ("authors: Diagnosis.authors()", MONITORS["authors"])):
        table_out(f"quality of {title} on {len(labels)} configurations ({n[BAD]} end bad, {n[MID]} middling, "
                  f"{n[GOOD]} end good); first flag = when on_flag='stop' would stop it; one row per indicator alone",
                  QUALITY_HEADERS, quality_rows(table, labels, make))


def tradeoff(path: str, table: Table, labels: dict[int, str], seeds: int, jobs: int, kw: dict[str, Any]) -> None:
    names = list(CANDIDATES)
    per_seed = _run_jobs(jobs, _paired_job, [(path, "random", names, s, kw) for s in range(seeds)])
    n_notgood = sum(v != GOOD for v in labels.values())
    rows = []
    for name in names:
        q = flag_quality(table, first_flags(table, CANDIDATES[name]), labels, name)
        runs = [r[name] for r in per_seed]
        rows.append([name, f"{q.flagged_good}/{q.n_good} = {pct(q.good_flagged)}", pct(q.recall),
                     pct((q.flagged_bad + q.flagged_mid) / n_notgood), q.median_epoch, pct(q.saved),
                     ci([r["tsba"] for r in runs], signed=True), ci([r["control_tsba"] for r in runs], signed=True),
                     ci([r["hit"] for r in runs]), pct(interval([r["control_hit"] for r in runs])[0]),
                     f"{interval([r['diag']['flag_stopped_good'] for r in runs])[0]:.0f}",
                     f"{interval([r['control']['flag_stopped_good'] for r in runs])[0]:.0f}"])
    table_out(f"trade-off: candidate settings; ground truth on the table, and replayed random search "
              f"({kw['n_workers']} workers, {kw['time_budget']:.0f} virtual s per arm, {seeds} paired seeds; "
              f"medians [95% interval]); ctrl: the random-flag control of the same setting",
              ["setting", "good flagged", "recall (bad)", "not-good flagged", "median epoch", "bad secs saved",
               "TSBA (random)", "TSBA ctrl", "top-10 hit", "ctrl", "good stopped/arm", "ctrl"], rows)


# -- search ---------------------------------------------------------------------------------------
def search(path: str, table: Table, seeds: int, jobs: int, plan: dict[str, list[str]], kw: dict[str, Any]) -> None:
    rows, against = [], []
    for name, settings in plan.items():
        t0 = time.perf_counter()
        per_seed = _run_jobs(jobs, _paired_job, [(path, name, settings, s, kw) for s in range(seeds)])
        real = time.perf_counter() - t0
        for setting in settings:
            runs = [r[setting] for r in per_seed]
            med = lambda key, arm: interval([r[arm][key] for r in runs])[0]  # noqa: E731
            rows.append([name, setting, f"{med('trials', 'base'):.0f} / {med('trials', 'diag'):.0f}",
                         f"{med('completed', 'base'):.0f} / {med('completed', 'diag'):.0f}",
                         f"{med('stopped', 'base'):.0f} / {med('stopped', 'diag'):.0f}",
                         f"{med('flag_stopped', 'diag'):.0f} ({med('flag_stopped_good', 'diag'):.0f})",
                         ci([r["hit"] for r in runs]), ci([r["gain"] for r in runs], signed=True),
                         ci([r["tsba"] for r in runs], signed=True),
                         f"{med('best', 'base'):.4f} / {med('best', 'diag'):.4f}",
                         f"{interval([r['decision_seconds'][1] for r in runs])[0]:.2f}", f"{real:.0f}"])
            against.append(control_columns(name, setting, runs))
    per = full_trial_seconds(table)
    table_out(f"replayed search: {kw['n_workers']} workers, {kw['time_budget']:.0f} virtual s per arm (the time of "
              f"~{kw['time_budget'] * kw['n_workers'] / per:.0f} full trials), {seeds} paired seeds; medians "
              f"[95% bootstrap interval]; paper: top-10 gain +{PAPER_TOP10_GAIN:.1%}, TSBA {PAPER_TSBA:.2%}",
              ["search", "diagnosis", "trials base/diag", "completed", "stopped", "flag-stopped (good)", "top-10 hit",
               "top-10 gain", "TSBA", "best base/diag", "decision s (diag arm)", "real s"], rows)
    print("trials: started in the budget (those running at its end are cut there). flag-stopped (good): trials a "
          "finding stopped\n(of them, configurations that end good, by the table). top-10 hit: share of the pooled "
          "top-10 trials from the\ndiagnosis arm (0.5: a tie); top-10 gain: n_diag / n_base - 1 (the paper's "
          "+44.5%). TSBA: 1 - T_diag / T_base, T = virtual\ntime to reach the baseline arm's best; 'never': the "
          "diagnosis arm did not reach it. real s: wall time of the part. Both arms replay the same recorded\nseconds "
          "(recorded with the Watcher on, so the baseline carries the Watcher's small overhead too).")
    control_table(against, seeds, kw)


CONTROL_HEADERS = ["search", "monitor", "flag-stops mon / ctrl", "good stopped mon: top half; >= 0.9 best",
                   "good stopped ctrl",
                   "TSBA monitor", "TSBA control", "ratio", "top-10 hit mon / ctrl", "top-10 gain monitor",
                   "top-10 gain control"]


def control_columns(name: str, setting: str, runs: list[dict[str, Any]]) -> list[Any]:
    """One row of the monitor-against-control table (see :func:`control_table`)."""
    def stopped_good(arm: str) -> str:
        k = sum(r[arm]["flag_stopped_top_half"] for r in runs)
        n = sum(r[arm]["top_half"] for r in runs)
        g = sum(r[arm]["flag_stopped_good"] for r in runs)
        ng = sum(r[arm]["good"] for r in runs)
        return (f"{k}/{n} = {k / n:.1%}" if n else "-") + (f"; {g}/{ng} = {g / ng:.1%}" if ng else "")

    flag = lambda arm: interval([r[arm]["flag_stopped"] for r in runs])[0]  # noqa: E731
    t_mon, t_ctl = interval([r["tsba"] for r in runs])[0], interval([r["control_tsba"] for r in runs])[0]
    ratio = ("n/a" if not math.isfinite(t_mon) or abs(t_mon) < 0.01
             else "ctrl never" if t_ctl == -math.inf else "ctrl <= 0" if t_ctl < 0.01 else f"{t_mon / t_ctl:.1f}x")
    return [name, setting, f"{flag('diag'):.0f} / {flag('control'):.0f}", stopped_good("diag"),
            stopped_good("control"), ci([r["tsba"] for r in runs], signed=True),
            ci([r["control_tsba"] for r in runs], signed=True), ratio,
            f"{pct(interval([r['hit'] for r in runs])[0])} / {pct(interval([r['control_hit'] for r in runs])[0])}",
            ci([r["gain"] for r in runs], signed=True), ci([r["control_gain"] for r in runs], signed=True)]


def control_table(rows: list[list[Any]], seeds: int, kw: dict[str, Any]) -> None:
    table_out(f"against the random-flag control: the same policy and seed, as many stops at the same epochs on "
              f"randomly chosen trials ({kw['n_workers']} workers, {kw['time_budget']:.0f} virtual s per arm, {seeds} "
              f"paired seeds; medians [95% interval]); paper: top-10 gain +{PAPER_TOP10_GAIN:.1%}, "
              f"TSBA {PAPER_TSBA:.2%}", CONTROL_HEADERS, rows)
    print("flag-stops: trials stopped by a finding, median per arm (the control stops fewer when a chosen trial ends "
          "before its epoch).\ngood stopped: flag-stopped trials whose configuration ends in the top half of the table "
          "(final score), of the top-half\ntrials the arm started, summed over seeds; then the same for configurations "
          "that end good (>= 0.9 x the table's best;\nwhere most of a table is bad, its top half holds bad ones).\n"
          "ratio: median TSBA of the monitor / of the control (issue 27's goal: >= 2x); n/a: the monitor's is within 1% "
          "of 0;\n'ctrl <= 0': the control's is below 1%; 'ctrl never': the control's median arm never reached the "
          "baseline's best.\ntop-10 hit: share of the pooled top-10 from the arm (0.5: a tie); top-10 gain: "
          "n_arm / n_base - 1 (the paper's figure).")


# -- curve ----------------------------------------------------------------------------------------
CURVE_SETTINGS = ["defaults", "curve", "diagnosis+curve"]


def curve(path: str, table: Table, labels: dict[int, str], seeds: int, asha_seeds: int, jobs: int,
          kw: dict[str, Any]) -> None:
    """Diagnosis, the learning-curve monitor and both, each beside its random-flag control."""
    top = top_half(table)
    rows = []
    for name in CURVE_SETTINGS:
        flags = first_flags(table, monitor_factory(name, table))
        q = flag_quality(table, flags, labels, name)
        c = control_quality(table, labels, flags)
        k_top = sum(1 for rid, f in flags.items() if f is not None and rid in top)
        c_top = sum(control_top(flags, top, seed) for seed in range(200)) / 200
        lce = [(rid, f) for rid, f in flags.items() if f is not None and f["indicator"] == LCE]
        reached = sum(1 for rid, f in lce if _reaches(table, rid, f["values"]["threshold"]))
        rows.append([name, q.flagged, f"{reached}/{len(lce)}" if lce else "-",
                     f"{q.flagged_good}/{q.n_good}", f"{c['flagged_good']:.1f}/{q.n_good}",
                     f"{k_top}/{len(top)} = {k_top / len(top):.0%}", f"{c_top:.1f}/{len(top)} = {c_top / len(top):.0%}",
                     f"{q.flagged_bad}/{q.n_bad} = {pct(q.recall)}", f"{c['flagged_bad']:.1f}/{q.n_bad}",
                     q.median_epoch, pct(q.saved), pct(c["saved"])])
    table_out(f"curve: ground truth on {len(labels)} configurations; each monitor beside its random-flag control "
              f"(the same epochs dealt to random rows, mean of 200 deals)",
              ["monitor", "flagged", "LCE wrong", "good flagged", "ctrl", "top half flagged", "ctrl",
               "bad flagged (recall)", "ctrl",
               "median epoch", "bad secs saved", "ctrl"], rows)
    print("good: final score >= 0.9 x the table's best; top half: final score in the better half of the table; bad: "
          "< 0.5 x best.\nLCE wrong: curve findings on rows whose best would have reached the threshold the "
          "finding named (the k-th best of the\nrows before it), of all curve findings: the curve's own error.\n"
          "curve: LearningCurve(metric, mode) defaults (k=20, p_min=0.01); diagnosis+curve: "
          "AnyOf(Diagnosis(), LearningCurve(...)).")
    against = []
    for search_name, n in (("random", seeds), ("asha", asha_seeds)):
        per_seed = _run_jobs(jobs, _paired_job, [(path, search_name, CURVE_SETTINGS, s, kw) for s in range(n)])
        against += [control_columns(f"{search_name} ({n} seeds)", name, [r[name] for r in per_seed])
                    for name in CURVE_SETTINGS]
    control_table(against, seeds, kw)


def _reaches(table: Table, rid: int, threshold: float) -> bool:
    values = [v for v in next(r for r in table.rows if r.id == rid).values(table.metric)[:table.max_epochs]
              if math.isfinite(v)]
    if not values:
        return False
    return (max(values) >= threshold) if table.mode == "max" else (min(values) <= threshold)


def control_top(flags: dict[int, Any], top: set[int], seed: int) -> int:
    return sum(1 for rid, f in random_flags(flags, seed).items() if f is not None and rid in top)


# -- ASHA paper settings ----------------------------------------------------------------------------
def _asha_job(path: str, workers: int, n_trials: int | None, budget: float | None, setting: str, seed: int,
              decision_time: bool) -> list[Any]:
    table = _table(path)
    t0 = time.perf_counter()
    res = replay(table, make_search("asha", seed), monitor=MONITORS[setting]() if setting != "off" else None,
                 n_workers=workers, n_trials=n_trials, time_budget=budget, decision_time=decision_time)
    goal = table.goal
    scores = [s for s in (t.score(goal) for t in res.trials.values()) if s is not None]
    return [workers, n_trials or f"{budget:.0f} s", setting, seed, len(res.trials),
            sum(t.status.value == "COMPLETED" for t in res.trials.values()),
            sum(bool(t.flags) for t in res.trials.values()), max(scores) if scores else math.nan,
            f"{res.wall:.0f}", f"{res.utilisation:.0%}", f"{res.decision_seconds:.1f}",
            f"{time.perf_counter() - t0:.0f}"]


def asha_paper(path: str, table: Table, seeds: int, jobs: int, decision_time: bool) -> None:
    budget = 400 * full_trial_seconds(table) / 25
    args = [(path, w, n, b, setting, seed, decision_time) for w, n, b in ((25, None, budget), (500, 10_000, None))
            for setting in ("off", "defaults") for seed in range(seeds)]
    rows = _run_jobs(jobs, _asha_job, args)
    table_out("ASHA paper settings (r_min=1, eta=3, r_max=max_epochs) replayed: 25 workers for the time of 400 full "
              "trials, and 500 workers with 10,000 trials", ["workers", "trials/budget", "diagnosis", "seed", "trials",
                                                              "completed", "flagged", "best", "wall (virtual s)",
                                                              "busy", "decision s", "real s"], rows)
    print("busy: worker utilisation; decision s: the driver's CPU time in ASHA and the monitor, counted on the clock "
          "(at 500\nworkers it is what keeps workers idle).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", default=DEFAULT_TABLE)
    ap.add_argument("--part", default="quality,tradeoff,search,asha")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--budget-trials", type=float, default=100.0,
                    help="virtual time budget per search arm, as the time of this many full trials on all workers "
                         "(budget = this x mean full-trial seconds / workers)")
    ap.add_argument("--search", default="random:defaults+authors,bo:defaults,asha:defaults+authors",
                    help="search part: search:setting+setting,... (searches random, bo, asha; settings defaults, "
                         "authors)")
    ap.add_argument("--no-decision-time", action="store_true", help="decisions take no virtual time")
    ap.add_argument("--asha-seeds", type=int, default=1)
    ap.add_argument("--curve-asha-seeds", type=int, default=20, help="paired ASHA seeds of the curve part")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes for the seeds")
    args = ap.parse_args()
    parts = set(args.part.split(","))
    path = os.path.abspath(args.table)
    table = _table(path)
    labels = truth(table)
    per = full_trial_seconds(table)
    n = {k: sum(v == k for v in labels.values()) for k in (GOOD, MID, BAD)}
    print(f"table {os.path.basename(path)}: {len(table)} configurations x {table.max_epochs} epochs, goal "
          f"{table.metric} ({table.mode}), {table.meta.get('workload', '')}; a full trial takes {per:.2f} recorded s "
          f"on average; ends good {n[GOOD]}, middling {n[MID]}, bad {n[BAD]} ({n[BAD] / len(labels):.0%}).")
    print("All times are virtual-clock seconds (recorded epoch seconds"
          + ("" if args.no_decision_time else " + the policy's and monitor's thread CPU time") + ").")
    kw = {"n_workers": args.workers, "time_budget": args.budget_trials * per / args.workers,
          "decision_time": not args.no_decision_time}
    if "quality" in parts:
        quality(table, labels)
    if "tradeoff" in parts:
        tradeoff(path, table, labels, args.seeds, args.jobs, kw)
    if "search" in parts:
        plan = {}
        for item in args.search.split(","):
            name, _, settings = item.partition(":")
            plan[name] = settings.split("+") if settings else ["defaults"]
        search(path, table, args.seeds, args.jobs, plan, kw)
    if "curve" in parts:
        curve(path, table, labels, args.seeds, args.curve_asha_seeds, args.jobs, kw)
    if "asha" in parts:
        asha_paper(path, table, args.asha_seeds, args.jobs, not args.no_decision_time)


if __name__ == "__main__":
    main()
