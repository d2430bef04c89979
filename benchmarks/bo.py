"""Benchmarks of TimeAwareBO (issue 4, section 1); prints tables.

    python benchmarks/bo.py --quick        # about 4 minutes on 2 shared cores
    python benchmarks/bo.py                # more trials per run
    python benchmarks/bo.py --real         # adds the real torch task on a 2-worker Study

1. Decision latency on the loop's critical path: ``suggest`` timed on the caller thread
   while the background refit runs, at 10/100/200/400 observations, next to that refit's
   duration (what a worker would wait if ``suggest`` refitted itself).
2. Search quality: async BO without prediction (4 simulated workers, b = 0) against plain
   sequential skopt (ask/tell, same GP/EI settings, same trial budget) on Branin, with
   simulated trial times; 10 paired seeds, median best, ratio and Wilcoxon signed-rank p.
   The issue's goal is stated at 200 trials (``--trials 200``: hours on 2 shared cores,
   since every model-based trial is one GP refit); ``--quick`` uses 30, the default 100.
3. The seed's claim on the simulator: time-aware (b > 0, switch after two thirds of the
   trials) against standard BO on a space whose ``width`` sets the trial time; paired
   ratios of total tuning time and best error with bootstrap 95% intervals.
4. ``--real``: the same comparison on ``digits_mlp`` with a real Study on 2 Dask workers
   (background refits, as in real use; the journal's suggestion sources are counted). The
   workers are warmed first by an untimed 4-trial study, the arms alternate which runs first
   (odd seeds: time-aware first), and each run prints its wall time and the load average.
   ``--real --sections none`` runs only this one.
6. ``--sections 6``: time to reach a target loss with 1/2/4/8 simulated workers (Branin,
   1-2 s trials) and with 1/2 real workers (digits MLP, val_loss <= 0.12).
5. ``--sections 5``: worker utilisation of BO (background refits) on a real Study with 4
   workers and 1-second trials, beside random search on the same cluster (goal >= 95%).
7. ``--sections 7``: the issue's three numbers for the default ``TimeAwareBO()`` (b = 0,
   background refits) with 4 workers, 1-second trials and 80 trials on the embedded
   LocalCluster: the share of suggestions after the initial points that came from the
   surrogate (goal >= 90%, with the counts behind it), worker utilisation (goal >= 95%) and
   the decision latency p99 at 400 observations (goal <= 20 ms).

Refits in 2, 3 and 6a run synchronously (``background=False``) so the seeded runs are
reproducible; 1, 4, 5, 6b and 7 use background refits, as a real study does. Every figure
states its mode and prints beside it its suggestion sources (``initial`` / ``surrogate`` /
``random`` / ``duplicate``, from ``Start.info["source"]``: counted at ``ask`` on the
simulator, read from the journal's ``trial_create`` records on a real Study).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np
from scipy.stats import wilcoxon
from threadpoolctl import threadpool_limits

from hpo_kit import Categorical, Goal, Integer, Observation, Real, Space, Trial, TrialStatus
from hpo_kit.engine.simulator import simulate
from hpo_kit.optimizers import TimeAwareBO

GOAL = Goal("loss", "min")
BRANIN = Space({"x1": Real(-5.0, 10.0), "x2": Real(0.0, 15.0)})
BRANIN_MIN = 0.397887


def branin(c: dict) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(_fmt(v) for v in row) + " |")
    sys.stdout.flush()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


SYNC = "synchronous refits (background=False)"
BACKGROUND = "background refits (background=True)"


def count_sources(searcher: object) -> Counter:
    """Count ``Start.info["source"]`` of every suggestion ``searcher`` makes from now on.

    The simulator builds its ledger inside ``simulate``, so the instance's ``ask`` is wrapped
    (a scheduler asks only for a Start it will create).
    """
    counts: Counter = Counter()
    ask = searcher.ask

    def counted(trial_id: int):
        start = ask(trial_id)
        if start is not None:
            counts[str(start.info.get("source", "?"))] += 1
        return start

    searcher.ask = counted
    return counts


def journal_sources(path: object) -> Counter:
    """Sources of a real Study's suggestions, from its journal's ``trial_create`` records."""
    from hpo_kit import read_journal

    return Counter(str(rec.get("info", {}).get("source", "?")) for rec in read_journal(path)
                   if rec.get("event") == "trial_create")


def sources_text(counts: Counter) -> str:
    order = ["initial", "surrogate", "random", "duplicate"]
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return " ".join(f"{k}={counts[k]}" for k in keys) or "-"


def bootstrap_ci(values: list[float], n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean of ``values``."""
    x = np.asarray(values, dtype=float)
    means = x[np.random.default_rng(seed).integers(0, len(x), (n, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


# -- 1. latency ---------------------------------------------------------------------------------
def latency(sizes: list[int], b: float = 0.1, label: str = "1.") -> dict[int, float]:
    """Suggest latency while the background refit runs; returns the p99 in ms per size."""
    space = Space({"lr": Real(1e-4, 1.0, log=True), "width": Integer(16, 256, log=True), "depth": Integer(1, 3),
                   "activation": Categorical(["relu", "tanh"])})
    rows, p99 = [], {}
    for n in sizes:
        opt = TimeAwareBO(b=b, seed=0)
        opt.setup(space, GOAL, 4)
        rng = np.random.default_rng(n)
        trials = [Trial(i, space.sample(rng), status=TrialStatus.COMPLETED) for i in range(n)]
        obs = [Observation(t.id, t.config, float(rng.random()), t.status, 1, float(rng.uniform(1, 5)), True)
               for t in trials]
        time.sleep(3)  # let the thread finish importing skopt: this times refits, not imports
        opt.restore(trials, obs)  # wakes the refit thread
        waits, tid, during = [], n, Counter()
        while opt.state()["last_refit"] is None:  # suggest as a busy loop would, while the refit runs
            t0 = time.perf_counter()
            start = opt.ask(tid)
            waits.append(time.perf_counter() - t0)
            during[start.info["source"]] += 1
            tid += 1
            time.sleep(0.005)
        t0 = time.perf_counter()
        s = opt.ask(tid)
        ready = time.perf_counter() - t0
        opt.close()
        w = np.array(waits) * 1e3 if waits else np.array([math.nan])
        p99[n] = float(np.percentile(w, 99))
        rows.append([n, len(waits), float(np.median(w)), p99[n], float(w.max()), ready * 1e3,
                     sources_text(during), s.info["source"], opt.state()["last_refit"]["seconds"]])
    table(f"{label} Decision latency on the critical path (ask while the refit runs; TimeAwareBO(b={b:g}), "
          f"{BACKGROUND})",
          ["observations", "asks during refit", "p50 ms", "p99 ms", "max ms", "ask after refit ms",
           "sources during refit", "source after refit", "refit s (off the path)"], rows)
    return p99


# -- 2. quality ----------------------------------------------------------------------------------
def branin_seconds(c: dict) -> float:
    return 1.0 + (c["x1"] + 5.0) / 15.0  # 1-2 s, so the 4 workers de-synchronise


def async_bo_best(seed: int, n_trials: int, sources: Counter | None = None) -> float:
    opt = TimeAwareBO(seed=seed, background=False)
    counts = count_sources(opt)
    res = simulate(opt, BRANIN, GOAL, lambda c, e: branin(c),
                   epoch_time=branin_seconds, n_workers=4, n_trials=n_trials, max_epochs=1)
    if sources is not None:
        sources.update(counts)
    return min(t.score(GOAL) for t in res.trials.values())


def sequential_skopt_best(seed: int, n_trials: int) -> float:
    from skopt import Optimizer as SkOptimizer

    opt = SkOptimizer([(-5.0, 10.0), (0.0, 15.0)], "GP", n_initial_points=10, acq_func="EI", random_state=seed)
    best = math.inf
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_trials):
            x = opt.ask()
            y = branin({"x1": x[0], "x2": x[1]})
            opt.tell(x, y)
            best = min(best, y)
    return best


def quality(seeds: int, n_trials: int) -> None:
    sources: Counter = Counter()
    ours = [async_bo_best(s, n_trials, sources) for s in range(seeds)]
    seq = [sequential_skopt_best(s, n_trials) for s in range(seeds)]
    med_ours, med_seq = statistics.median(ours), statistics.median(seq)
    diff = np.array(ours) - np.array(seq)
    p = wilcoxon(ours, seq).pvalue if np.any(diff != 0) else 1.0
    rows = [["async BO, no prediction, 4 workers", med_ours, med_ours - BRANIN_MIN],
            ["sequential skopt, 1 worker", med_seq, med_seq - BRANIN_MIN]]
    table(f"2. Search quality on Branin (min {BRANIN_MIN}), {seeds} paired seeds, best after {n_trials} trials "
          f"(async BO: {SYNC})", ["method", "median best", "median regret"], rows)
    print(f"suggestion sources, async BO over {seeds} seeds: {sources_text(sources)}; sequential skopt: "
          f"initial={10 * seeds} model={max(0, n_trials - 10) * seeds} (its own ask/tell, 10 initial points)")
    print(f"\nratio of medians (async / sequential) = {med_ours / med_seq:.4f}; "
          f"regret ratio = {(med_ours - BRANIN_MIN) / (med_seq - BRANIN_MIN):.3g}; Wilcoxon signed-rank p = {p:.3g}")
    print("per seed (async, sequential): " + ", ".join(f"({a:.3f}, {b:.3f})" for a, b in zip(ours, seq)))


# -- 3. time-aware vs standard on the simulator -----------------------------------------------------
TIMED = Space({"x1": Real(-5.0, 10.0), "x2": Real(0.0, 15.0), "width": Integer(16, 256, log=True)})


def timed_error(c: dict) -> float:
    # An error-rate-like loss in ~[0.05, 1.1]: Branin/300 on top of a 0.05 floor, plus up to 0.05
    # for a narrow model - width helps a little and costs a lot of time.
    return 0.05 + branin(c) / 300.0 + 0.05 * math.log2(256 / c["width"]) / 4


def timed_seconds(c: dict) -> float:
    return 0.25 + c["width"] / 64.0  # 0.5 s at width 16, 4.25 s at width 256


def compare(run: Callable[[int, float], tuple[float, float]], seeds: int, b: float, title: str,
            best_label: str, alternate: bool = False) -> None:
    """Run both arms per seed; with ``alternate`` odd seeds run the time-aware arm first (no order bias)."""
    rows, time_ratios, best_ratios = [], [], []
    for s in range(seeds):
        if alternate and s % 2:
            t1, l1 = run(s, b)
            t0, l0 = run(s, 0.0)
        else:
            t0, l0 = run(s, 0.0)
            t1, l1 = run(s, b)
        time_ratios.append(t1 / t0)
        best_ratios.append(l1 / l0)
        rows.append([s, t0, t1, t1 / t0, l0, l1, l1 / l0])
    table(title, ["seed", "time standard", "time time-aware", "time ratio", f"{best_label} standard",
                  f"{best_label} time-aware", f"{best_label} ratio"], rows)
    lo, hi = bootstrap_ci(time_ratios)
    print(f"\ntotal time ratio (time-aware / standard): mean {np.mean(time_ratios):.3f}, 95% CI [{lo:.3f}, {hi:.3f}]")
    lo, hi = bootstrap_ci(best_ratios)
    print(f"{best_label} ratio (time-aware / standard): mean {np.mean(best_ratios):.3f}, 95% CI [{lo:.3f}, {hi:.3f}]")


def time_aware_sim(seeds: int, n_trials: int, b: float) -> None:
    switch = 2 * n_trials // 3  # after 4 random starts, most model-based trials see the time cost
    sources: dict[str, Counter] = {"standard": Counter(), "time-aware": Counter()}

    def run(seed: int, b_: float) -> tuple[float, float]:
        opt = TimeAwareBO(b=b_, switch_after_trials=switch, n_initial_points=4, seed=seed, background=False)
        counts = count_sources(opt)
        res = simulate(opt, TIMED, GOAL, lambda c, e: timed_error(c), epoch_time=timed_seconds, n_workers=4,
                       n_trials=n_trials, max_epochs=1)
        sources["time-aware" if b_ > 0 else "standard"].update(counts)
        return res.wall, min(t.score(GOAL) for t in res.trials.values())

    compare(run, seeds, b, f"3. Time-aware (b={b}, T in median trials, switch after {switch}) vs standard BO, "
            f"simulator, 4 workers, {n_trials} trials (virtual seconds; {SYNC})", "best error")
    print("suggestion sources over all seeds: " + "; ".join(f"{k}: {sources_text(v)}" for k, v in sources.items()))


# -- 4. real torch task ---------------------------------------------------------------------------
def time_aware_real(seeds: int, n_trials: int, b: float, max_epochs: int) -> None:
    import os
    import tempfile

    from distributed import Client

    from hpo_kit import Study
    from hpo_kit.engine.cluster import local_cluster
    from hpo_kit.examples.data import digits
    from hpo_kit.examples.objectives import digits_mlp, digits_space

    from hpo_kit import RandomSearch

    sources: dict[str, Counter] = {"standard": Counter(), "time-aware": Counter()}
    with local_cluster(2) as cluster, Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        # Warm the workers first (imports, data, torch's first kernels), untimed, so neither arm
        # pays the cold start; the arms then alternate which runs first (compare(alternate=True)).
        client.run(lambda: __import__("torch") and None)
        Study(digits_mlp, digits_space(), metric="val_loss", mode="min", optimizer=RandomSearch(seed=99),
              n_trials=4, max_epochs=2, cluster=client, data=digits,
              journal=os.path.join(tmp, "warm-up.jsonl")).run(progress=False)
        print(f"\n(real task: workers warmed; load average {_load()})")

        def run(seed: int, b_: float) -> tuple[float, float]:
            opt = TimeAwareBO(b=b_, switch_after_trials=2 * n_trials // 3, n_initial_points=4, seed=seed)
            study = Study(digits_mlp, digits_space(), metric="val_loss", mode="min", optimizer=opt,
                          n_trials=n_trials, max_epochs=max_epochs, cluster=client, data=digits,
                          journal=os.path.join(tmp, f"s{seed}-b{b_}.jsonl"))
            t0 = time.perf_counter()
            study.run(progress=False)
            wall = time.perf_counter() - t0
            opt.close()
            acc = max((max(t.values("val_acc"), default=0.0) for t in study.trials.values()), default=0.0)
            sources["time-aware" if b_ > 0 else "standard"].update(journal_sources(study.journal_path))
            print(f"  seed {seed} {'time-aware' if b_ > 0 else 'standard'}: {wall:.1f} s, best val_acc {acc:.4f}, "
                  f"load average {_load()}", flush=True)
            return wall, acc

        compare(run, seeds, b, f"4. Real task: digits_mlp, Study on 2 warmed Dask workers, {n_trials} trials x "
                f"{max_epochs} epochs, time-aware b={b} (T in median trials, switch after {2 * n_trials // 3}, "
                f"4 initial points) vs standard, arms alternating ({BACKGROUND})", "best val_acc", alternate=True)
    print("suggestion sources over all real studies (journal): "
          + "; ".join(f"{k}: {sources_text(v)}" for k, v in sources.items()))


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def time_to_target_sim(workers: list[int], seeds: int, n_trials: int, target: float) -> None:
    """6a. Virtual time until a trial reaches ``target`` on Branin (trials of 1-2 s), 1/2/4/8 workers."""
    rows = []
    for n in workers:
        times, sources = [], Counter()
        for seed in range(seeds):
            opt = TimeAwareBO(seed=seed, background=False)
            counts = count_sources(opt)
            res = simulate(opt, BRANIN, GOAL, lambda c, e: branin(c),
                           epoch_time=branin_seconds, n_workers=n, n_trials=n_trials, max_epochs=1)
            sources.update(counts)
            hits = [t.ended for t in res.trials.values() if t.score(GOAL) is not None and t.score(GOAL) <= target]
            times.append(min(hits) if hits else math.inf)
        med = statistics.median(times)
        rows.append([n, f"{med:.1f}", f"{sum(math.isfinite(t) for t in times)}/{seeds}", sources_text(sources)])
    base = float(rows[0][1])
    for row in rows:
        row.insert(3, f"{base / float(row[1]):.2f}x" if math.isfinite(float(row[1])) else "-")
    table(f"6a. Time to reach Branin loss <= {target} (simulated 1-2 s trials, {n_trials} trials max, {seeds} seeds; "
          f"{SYNC}, decision time not on the virtual clock)",
          ["workers", "median virtual s", "reached", "speed-up vs 1", "suggestion sources"], rows)


def time_to_target_real(workers: list[int], seeds: int, n_trials: int, target: float) -> None:
    """6b. Wall time until a trial reaches val_loss <= ``target`` on the real digits MLP, 1 and 2 workers."""
    import tempfile

    from distributed import Client

    from hpo_kit import Study
    from hpo_kit.engine.cluster import local_cluster
    from hpo_kit.examples import digits, digits_mlp, digits_space

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in workers:
            with local_cluster(n) as lc, Client(lc) as client:
                client.run(lambda: __import__("torch") and None)
                times, sources = [], Counter()
                for seed in range(seeds):
                    study = Study(digits_mlp, digits_space(), metric="val_loss", n_trials=n_trials, max_epochs=10,
                                  cluster=client, data=digits, optimizer=TimeAwareBO(seed=seed),
                                  journal=f"{tmp}/w{n}-s{seed}.jsonl")
                    study.run(progress=False)
                    sources.update(journal_sources(study.journal_path))
                    t0 = min(t.created for t in study.trials.values())
                    hits = [t.ended - t0 for t in study.trials.values()
                            if t.score(study.goal) is not None and t.score(study.goal) <= target]
                    times.append(min(hits) if hits else math.inf)
                rows.append([n, f"{statistics.median(times):.1f}", f"{sum(math.isfinite(t) for t in times)}/{seeds}",
                             sources_text(sources)])
    table(f"6b. Time to reach val_loss <= {target} on the digits MLP (real training, {n_trials} trials max, "
          f"{seeds} seeds; {BACKGROUND})", ["workers", "median wall s", "reached", "suggestion sources"], rows)


def sleepy_branin(config: dict, reporter: object) -> None:
    """A trial that takes ``seconds`` of wall time (sleeping, so 4 workers fit on 2 cores)."""
    start = time.perf_counter()
    time.sleep(config.get("seconds", 1.0))
    reporter.report(epoch=1, loss=branin(config), busy=time.perf_counter() - start)


def utilisation(n_trials: int, n_workers: int = 4, seconds: float = 1.0) -> None:
    """5. Worker utilisation of BO on a real Dask study: 4 workers, 1-second trials, background refits."""
    import tempfile

    from distributed import Client

    from hpo_kit import Categorical, RandomSearch, Study
    from hpo_kit.engine.cluster import local_cluster

    space = Space({**{k: BRANIN[k] for k in BRANIN}, "seconds": Categorical([seconds])})
    rows = []
    with tempfile.TemporaryDirectory() as tmp, local_cluster(n_workers) as lc, Client(lc) as client:
        client.run(lambda: None)
        for name, opt in (("random", RandomSearch(seed=0)), ("bo (GP, EI, background)", TimeAwareBO(seed=0))):
            study = Study(sleepy_branin, space, metric="loss", n_trials=n_trials, cluster=client, optimizer=opt,
                          journal=f"{tmp}/{name[:2]}.jsonl")
            t0 = time.perf_counter()
            study.run(progress=False)
            wall = time.perf_counter() - t0
            busy = sum(r["metrics"]["busy"] for t in study.trials.values() for r in t.reports)
            best = study.best_trial.score(study.goal)
            rows.append([name, n_trials, f"{wall:.1f}", f"{100 * busy / (n_workers * wall):.1f}%", f"{best:.3f}",
                         sources_text(journal_sources(study.journal_path))])
    table(f"5. Utilisation on a real Study: {n_workers} workers, {seconds:g}-second trials (goal >= 95%; BO: "
          f"{BACKGROUND})", ["optimizer", "trials", "wall s", "utilisation", "best", "suggestion sources"], rows)


def issue_numbers(n_trials: int = 80, n_workers: int = 4, seconds: float = 1.0) -> None:
    """7. The issue's three numbers for the default ``TimeAwareBO()`` on the embedded LocalCluster."""
    import tempfile

    from hpo_kit import Study

    space = Space({**{k: BRANIN[k] for k in BRANIN}, "seconds": Categorical([seconds])})
    with tempfile.TemporaryDirectory() as tmp:
        opt = TimeAwareBO()  # the library default: b = 0 (standard BO), GP/EI, 10 initial points, background refits
        study = Study(sleepy_branin, space, metric="loss", n_trials=n_trials, n_workers=n_workers, optimizer=opt,
                      journal=f"{tmp}/default-bo.jsonl")
        t0 = time.perf_counter()
        study.run(progress=False)
        wall = time.perf_counter() - t0
        sources = journal_sources(study.journal_path)
        trials = list(study.trials.values())
        busy = sum(r["metrics"]["busy"] for t in trials for r in t.reports)
        span = max(t.ended for t in trials if t.ended) - min(t.started for t in trials if t.started)
        refits = opt.state()["refits"]
    total = sum(sources.values())
    after = total - sources["initial"]
    share = sources["surrogate"] / after if after else math.nan
    util = busy / (n_workers * span)
    p99 = latency([400], b=0.0, label="7c.")[400]
    rows = [["7a. suggestions after the initial points from the surrogate",
             f"{sources['surrogate']}/{after} = {100 * share:.1f}%", ">= 90%", "yes" if share >= 0.9 else "no",
             f"{total} trials: {sources_text(sources)}; {refits} refits"],
            ["7b. worker utilisation (busy / workers x span of the trials)", f"{100 * util:.1f}%", ">= 95%",
             "yes" if util >= 0.95 else "no",
             f"busy {busy:.1f} s over {n_workers} x {span:.1f} s; with the cluster's start-up "
             f"(study.run wall {wall:.1f} s): {100 * busy / (n_workers * wall):.1f}%"],
            ["7c. decision latency p99 at 400 observations", f"{p99:.3g} ms", "<= 20 ms",
             "yes" if p99 <= 20 else "no", "ask timed on the caller's thread while the refit at 400 runs"]]
    table(f"7. The issue's numbers: default TimeAwareBO() ({BACKGROUND}), {n_workers} workers, {seconds:g}-second "
          f"trials, {n_trials} trials on the embedded LocalCluster", ["measure", "value", "goal", "met", "behind it"],
          rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (about 4 minutes on 2 shared cores)")
    ap.add_argument("--real", action="store_true", help="also run the real torch task on a 2-worker Study")
    ap.add_argument("--trials", type=int, default=None, help="trials per run in sections 2-3")
    ap.add_argument("--b", type=float, default=0.1, help="time penalty of the time-aware runs")
    ap.add_argument("--sections", default="123", help="which of sections 1-3 (5: utilisation on a real 4-worker "
                    "study; 6: time to target; 7: the issue's three numbers for the default TimeAwareBO) to run")
    args = ap.parse_args()
    n_trials = args.trials or (30 if args.quick else 100)
    t0 = time.perf_counter()
    if "1" in args.sections:
        latency([10, 100, 200, 400])
    if "2" in args.sections:
        quality(10, n_trials)
    if "3" in args.sections:
        time_aware_sim(5 if args.quick else 10, n_trials, args.b)
    if "6" in args.sections:
        time_to_target_sim([1, 2, 4, 8], 3, 40 if args.quick else 80, 0.5)
        time_to_target_real([1, 2], 2 if args.quick else 3, 24, 0.12)
    if "5" in args.sections:
        utilisation(args.trials or (60 if args.quick else 200))
    if "7" in args.sections:
        issue_numbers()
    if args.real:
        time_aware_real(5, 16 if args.quick else 24, args.b, 10 if args.quick else 20)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
