"""The parent side of ``benchmarks/loop_peers.py`` (issue 11): the workloads and goals, the loop
that runs each measurement in a fresh process, interleaved, and the printed table.

``loop_peers.py`` holds what runs inside a measurement (each system's trials); its docstring
says what each system is.

What it measures
----------------
Three workloads, every trial's duration drawn from one seeded table keyed by trial number
(hpo_kit's trial id, Optuna's ``trial.number``, Ray's grid index), so every system runs the
same trials; a trial's loss is ``x_i + 1/epoch`` with ``x_i`` from a second seeded table, so
successive halving keeps the same trials everywhere:

- **W1** 1,000 no-op trials, 2 at a time: the loop's cost per trial.
- **W2** 200 trials sleeping uniform 50-300 ms, 4 at a time, one report each.
- **W3** 200 trials of 5 steps, each step sleeping duration/5, 4 at a time, successive halving
  eta=3, r_min=1, r_max=5 (hpo_kit's ASHA, Optuna's ``SuccessiveHalvingPruner``, Ray's
  ``ASHAScheduler``).

Columns (medians over repetitions; *min-max* of utilisation beside it)
---------------------------------------------------------------------
- *util* = useful sleep / (C x wall): sleep measured inside the trials around
  ``time.sleep``, of epochs that count (not retrained); *util all* counts every sleep.
- *overhead ms/trial* = (wall - useful sleep / C) / trials: for W1 the whole cost per trial.
- *startup s*: importing the system and starting its cluster (or ``ray.init``), up to the first trial.
- *wall s*: the run, first trial asked to last result (cluster start and close excluded).
- *driver CPU ms/trial*: CPU of the measuring process during the run, per trial. For hpo_kit,
  bare and Optuna-on-Dask that is the client and the LocalCluster's scheduler (both in this
  process); for Optuna threads it includes the trials; for Ray only its driver (Ray's
  own daemons are other processes): comparable between the first three only.
- *epochs*: epochs trained in all (retrained included); *retrained*: epochs trained again
  after a promotion; *stopped*: trials that ended before r_max; *queue*: steps in flight at most
  (hpo_kit and bare).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WORKLOADS = {  # trials, at a time, sleeping?, steps
    "W1": dict(n=1000, c=2, sleep=False, steps=1, what="no-op trials"),
    "W2": dict(n=200, c=4, sleep=True, steps=1, what="one report, uniform 50-300 ms"),
    "W3": dict(n=200, c=4, sleep=True, steps=5, what="5 steps of duration/5, SHA eta=3, r_min=1, r_max=5"),
}
SYSTEMS = ("hpo_kit", "hpo_kit_nokeep", "hpo_kit_trainable", "bare", "optuna_dask", "optuna_threads", "ray")
NEEDS = {"optuna_dask": ("optuna", "optuna_integration"), "optuna_threads": ("optuna",), "ray": ("ray",)}
ONLY = {"hpo_kit_trainable": ("W3",), "hpo_kit_nokeep": ("W3",), "bare": ("W1", "W2")}
ETA, R_MIN = 3, 1
DUR_SEED, LOSS_SEED = 12345, 777
GOALS = {"W1_ratio": 1.10, "W2_util": 0.97, "W3_util": 0.90, "W3_vs_optuna_dask": 1.3}


def tables(n: int, sleep: bool) -> tuple[list[float], list[float]]:
    """Seeded durations (seconds per trial) and loss offsets, indexed by trial number."""
    dur = np.random.default_rng(DUR_SEED).uniform(0.05, 0.3, n).tolist() if sleep else [0.0] * n
    return dur, np.random.default_rng(LOSS_SEED).uniform(0, 1, n).tolist()


def zero_overhead_ceiling(wl: str, n: int) -> float | None:
    """Utilisation of the same trials with no dispatch cost: W2 list-scheduled in trial order; W3 under the
    same ASHA on hpo_kit's simulator (zero-delay virtual clock, no retraining), so ASHA's own tail is counted."""
    spec = WORKLOADS[wl]
    if not spec["sleep"]:
        return None
    dur, xs = tables(n, True)
    if spec["steps"] == 1:
        free = [0.0] * spec["c"]
        for d in dur:
            k = min(range(len(free)), key=free.__getitem__)
            free[k] += d
        return sum(dur) / (spec["c"] * max(free))
    from hpo_kit import ASHA, Goal, Integer, RandomSearch, Space, Start
    from hpo_kit.engine.simulator import simulate

    class ByNumber(RandomSearch):
        def ask(self, trial_id: int) -> Any:
            return Start({"i": trial_id})

    steps = spec["steps"]
    sim = simulate(ASHA(r_min=R_MIN, eta=ETA, r_max=steps, searcher=ByNumber()), Space({"i": Integer(0, n - 1)}),
                   Goal("loss"), lambda c, e: xs[c["i"]] + 1.0 / e, epoch_time=lambda c, e: dur[c["i"]] / steps,
                   n_workers=spec["c"], n_trials=n, max_epochs=steps)
    return sim.utilisation


def bare_depth(workers: int) -> int:
    """hpo_kit's in-flight cap with its defaults (concurrency = the cluster's threads, prefetch = concurrency)."""
    from types import SimpleNamespace

    from hpo_kit.engine.driver.handler import Driver

    study = SimpleNamespace(concurrency=workers, prefetch=workers)
    return int(Driver.capacity.fget(SimpleNamespace(study=study, slots=workers)))


def _med(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _fmt(v: float | None, spec: str, dash: str = "-") -> str:
    return dash if v is None else format(v, spec)


def render(results: list[dict], workloads: Sequence[str], systems: Sequence[str], sizes: dict[str, int],
           reps: int, markdown: bool, load: str, notes: list[str]) -> str:
    head = ["workload", "system", "util", "(min-max)", "util all", "overhead ms/trial", "startup s", "wall s",
            "driver CPU ms/trial", "epochs", "retrained", "stopped", "queue", "trials"]
    rows: list[list[str]] = []
    med: dict[tuple[str, str], dict[str, float | None]] = {}
    for wl in workloads:
        for system in systems:
            got = [r for r in results if r["wl"] == wl and r["system"] == system and "error" not in r]
            if not got:
                continue
            m = {k: _med(got, k) for k in ("util", "util_all", "overhead_ms", "startup_s", "wall_s",
                                           "driver_cpu_ms", "epochs", "retrained_epochs", "stopped", "queue",
                                           "n_done")}
            med[(wl, system)] = m
            utils = [r["util"] for r in got if r.get("util") is not None]
            span = f"({min(utils):.1%}-{max(utils):.1%})" if utils else "-"
            rows.append([wl, system, _fmt(m["util"], ".1%"), span, _fmt(m["util_all"], ".1%"),
                         _fmt(m["overhead_ms"], ".2f"), _fmt(m["startup_s"], ".1f"), _fmt(m["wall_s"], ".2f"),
                         _fmt(m["driver_cpu_ms"], ".2f"), _fmt(m["epochs"], ".0f"),
                         _fmt(m["retrained_epochs"], ".0f"), _fmt(m["stopped"], ".0f"), _fmt(m["queue"], ".0f"),
                         f"{_fmt(m['n_done'], '.0f')}/{sizes[wl]}"])
    goals = _goals(results, med)
    lines: list[str] = []
    title = (f"loop_peers: medians of {reps} interleaved repetitions, each measurement a fresh process; "
             + "; ".join(f"{wl} = {sizes[wl]} trials, {WORKLOADS[wl]['c']} at a time, {WORKLOADS[wl]['what']}"
                         for wl in workloads))
    if markdown:
        lines += [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += ["", load, "", "| goal | measured | |", "|---|---|---|"]
        lines += [f"| {g} | {v} | {ok} |" for g, v, ok in goals]
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines += [title, "", fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r) for r in rows]
        lines += ["", load, "", "goals (issue 11):"] + [f"  [{ok}] {g}: {v}" for g, v, ok in goals]
    for wl in workloads:
        ceiling = zero_overhead_ceiling(wl, sizes[wl])
        if ceiling is not None:
            how = "in trial order" if WORKLOADS[wl]["steps"] == 1 else "under the same ASHA (simulator)"
            lines.append(f"{wl}: a zero-overhead loop over these durations, {how}, reaches {ceiling:.1%} "
                         f"(the tail's limit)")
    lines += notes
    errors = [r for r in results if "error" in r]
    lines += [f"error: {r['system']} {r['wl']} rep {r['rep']}: {r['error']}" for r in errors]
    return "\n".join(lines)


def _goals(results: list[dict], med: dict) -> list[tuple[str, str, str]]:
    goals = []
    h, b = med.get(("W1", "hpo_kit")), med.get(("W1", "bare"))
    if h and b and h["overhead_ms"] and b["overhead_ms"]:
        paired = []
        for r in results:
            if r["wl"] == "W1" and r["system"] == "hpo_kit" and "error" not in r:
                mate = [x for x in results if x["wl"] == "W1" and x["system"] == "bare" and x["rep"] == r["rep"]
                        and "error" not in x]
                if mate:
                    paired.append(r["overhead_ms"] / mate[0]["overhead_ms"])
        ratio = h["overhead_ms"] / b["overhead_ms"]
        span = f" (paired {min(paired):.2f}-{max(paired):.2f})" if paired else ""
        goals.append((f"W1: hpo_kit overhead per trial <= {GOALS['W1_ratio']:.2f}x the bare loop queuing as deep "
                      f"({_fmt(h['queue'], '.0f')} / {_fmt(b['queue'], '.0f')} in flight)", f"{ratio:.2f}x{span}",
                      "PASS" if ratio <= GOALS["W1_ratio"] else "FAIL"))
    else:
        goals.append((f"W1: hpo_kit overhead <= {GOALS['W1_ratio']:.2f}x bare", "not run", "n/a"))
    h = med.get(("W2", "hpo_kit"))
    if h and h["util"] is not None:
        goals.append((f"W2: hpo_kit utilisation >= {GOALS['W2_util']:.0%}", f"{h['util']:.1%}",
                      "PASS" if h["util"] >= GOALS["W2_util"] else "FAIL"))
    else:
        goals.append((f"W2: hpo_kit utilisation >= {GOALS['W2_util']:.0%}", "not run", "n/a"))
    h, o = med.get(("W3", "hpo_kit")), med.get(("W3", "optuna_dask"))
    if h and h["util"] is not None:
        goals.append((f"W3: hpo_kit utilisation (useful sleep) >= {GOALS['W3_util']:.0%}", f"{h['util']:.1%}",
                      "PASS" if h["util"] >= GOALS["W3_util"] else "FAIL"))
        if o and o["util"]:
            x = h["util"] / o["util"]
            goals.append((f"W3: hpo_kit >= {GOALS['W3_vs_optuna_dask']}x Optuna-on-Dask's utilisation",
                          f"{x:.2f}x ({h['util']:.1%} / {o['util']:.1%})",
                          "PASS" if x >= GOALS["W3_vs_optuna_dask"] else "FAIL"))
        else:
            goals.append((f"W3: hpo_kit >= {GOALS['W3_vs_optuna_dask']}x Optuna-on-Dask's", "optuna_dask not run",
                          "n/a"))
    else:
        goals.append((f"W3: hpo_kit utilisation >= {GOALS['W3_util']:.0%}", "not run", "n/a"))
    return goals


# -- the parent: interleave fresh processes, tabulate -----------------------------------------
def available(system: str) -> str | None:
    """None if the system can run here, else why not."""
    missing = [m for m in NEEDS.get(system, ()) if importlib.util.find_spec(m) is None]
    if missing:
        return (f"{system}: skipped, {', '.join(missing)} not installed (the bench extra: pip install "
                f"optuna==5.0.0 optuna-integration==5.0.0 'ray[tune]==2.60.0')")
    return None


def run_child(script: str, system: str, wl: str, rep: int, n: int, depth: int | None,
              timeout: float) -> dict[str, Any]:
    """One measurement: ``script --one ...`` in a fresh process; its JSON line, or the error."""
    cmd = [sys.executable, script, "--one", system, wl, str(rep), "--n", str(n)]
    if depth:
        cmd += ["--bare-depth", str(depth)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"system": system, "wl": wl, "rep": rep, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
    return {"system": system, "wl": wl, "rep": rep, "error": f"exit {proc.returncode}: " + " | ".join(tail)}


def main(argv: Sequence[str] | None, script: str, doc: str, measure_one: Callable[..., dict[str, Any]]) -> int:
    """The command line of ``script`` (``loop_peers.py``), whose ``measure_one`` runs a measurement."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog=doc.split("Usage::")[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=3, metavar=("SYSTEM", "WORKLOAD", "REP"),
                        help="run one measurement in this process and print it as a JSON line")
    parser.add_argument("--n", type=int, help="trials of the workload (with --one)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --quick/--smoke)")
    parser.add_argument("--workloads", default="W1,W2,W3", help="comma-separated, of W1,W2,W3")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {','.join(SYSTEMS)}")
    parser.add_argument("--trials", default=None,
                        help="trials per workload, e.g. 'W1=300,W2=100' or one number for all")
    parser.add_argument("--bare-depth", type=int, default=None,
                        help="steps the bare loop keeps in flight (default: hpo_kit's cap, read from its driver)")
    parser.add_argument("--quick", action="store_true", help="W1 300, W2/W3 100 trials, 1 repetition")
    parser.add_argument("--smoke", action="store_true", help="tiniest sizes, hpo_kit and bare only (CI)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement before it is killed")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    if args.one:
        system, wl, rep = args.one
        if wl not in WORKLOADS:
            parser.error(f"workload {wl!r}: choose from {list(WORKLOADS)}")
        print(json.dumps(measure_one(system, wl, int(rep), args.n or WORKLOADS[wl]["n"], args.bare_depth)),
              flush=True)
        return 0

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"workload {w!r}: choose from {list(WORKLOADS)}")
    for s in systems:
        if s not in SYSTEMS:
            parser.error(f"system {s!r}: choose from {list(SYSTEMS)}")
    sizes = {w: WORKLOADS[w]["n"] for w in WORKLOADS}
    if args.quick:
        sizes.update(W1=300, W2=100, W3=100)
    if args.smoke:
        sizes.update(W1=20, W2=8, W3=9)
        if args.systems == ",".join(SYSTEMS):
            systems = ["hpo_kit", "bare"]
    if args.trials:
        if "=" in args.trials:
            for part in args.trials.split(","):
                k, v = part.split("=")
                sizes[k.strip()] = int(v)
        else:
            sizes = {w: int(args.trials) for w in sizes}
    reps = args.reps or (1 if args.quick or args.smoke else 3)
    notes = []
    for s in list(systems):
        why = available(s)
        if why:
            notes.append(why)
            print(why, file=sys.stderr, flush=True)
            systems.remove(s)

    t0, load0 = time.perf_counter(), os.getloadavg()
    results = []
    for rep in range(reps):
        order = systems[rep % len(systems):] + systems[: rep % len(systems)] if systems else []
        for wl in workloads:
            for system in order:
                if wl not in ONLY.get(system, (wl,)):
                    continue
                r = run_child(script, system, wl, rep, sizes[wl], args.bare_depth, args.timeout)
                results.append(r)
                if "error" in r:
                    print(f"  rep {rep + 1}/{reps} {wl} {system:18}: ERROR {r['error']}", file=sys.stderr, flush=True)
                else:
                    print(f"  rep {rep + 1}/{reps} {wl} {system:18}: util {_fmt(r['util'], '6.1%')} overhead "
                          f"{r['overhead_ms']:7.2f} ms/trial wall {r['wall_s']:6.2f} s startup {r['startup_s']:5.1f} s "
                          f"load {r['load1']:.1f}", file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    load = (f"{os.cpu_count()} cores; load average (1/5/15 min) {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} "
            f"before, {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} after; {time.perf_counter() - t0:.0f} s in all")
    print(render(results, workloads, systems, sizes, reps, args.markdown, load, notes))
    return 0
