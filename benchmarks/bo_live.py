"""The sections of ``benchmarks/bo.py`` that run with background refits on real threads or a real Dask
cluster (1, 4, 5, 6b, 7); ``benchmarks/bo.py``'s docstring says what each measures."""
from __future__ import annotations

import math
import statistics
import time
from collections import Counter

import numpy as np

from bo_common import (BACKGROUND, BRANIN, GOAL, load_average, branin, compare, journal_sources, format_sources, table)
from hpo_kit import Categorical, Integer, Observation, Real, Space, Trial, TrialStatus
from hpo_kit.optimizers import TimeAwareBO


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
                     format_sources(during), s.info["source"], opt.state()["last_refit"]["seconds"]])
    table(f"{label} Decision latency on the critical path (ask while the refit runs; TimeAwareBO(b={b:g}), "
          f"{BACKGROUND})",
          ["observations", "asks during refit", "p50 ms", "p99 ms", "max ms", "ask after refit ms",
           "sources during refit", "source after refit", "refit s (off the path)"], rows)
    return p99


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
              journal=os.path.join(tmp, "warm-up.jsonl"), seed=0).run(progress=False)
        print(f"\n(real task: workers warmed; load average {load_average()})")

        def run(seed: int, b_: float) -> tuple[float, float]:
            opt = TimeAwareBO(b=b_, switch_after_trials=2 * n_trials // 3, n_initial_points=4, seed=seed)
            study = Study(digits_mlp, digits_space(), metric="val_loss", mode="min", optimizer=opt,
                          n_trials=n_trials, max_epochs=max_epochs, cluster=client, data=digits,
                          journal=os.path.join(tmp, f"s{seed}-b{b_}.jsonl"), seed=0)
            t0 = time.perf_counter()
            study.run(progress=False)
            wall = time.perf_counter() - t0
            opt.close()
            acc = max((max(t.values("val_acc"), default=0.0) for t in study.trials.values()), default=0.0)
            sources["time-aware" if b_ > 0 else "standard"].update(journal_sources(study.journal_path))
            print(f"  seed {seed} {'time-aware' if b_ > 0 else 'standard'}: {wall:.1f} s, best val_acc {acc:.4f}, "
                  f"load average {load_average()}", flush=True)
            return wall, acc

        compare(run, seeds, b, f"4. Real task: digits_mlp, Study on 2 warmed Dask workers, {n_trials} trials x "
                f"{max_epochs} epochs, time-aware b={b} (T in median trials, switch after {2 * n_trials // 3}, "
                f"4 initial points) vs standard, arms alternating ({BACKGROUND})", "best val_acc", alternate=True)
    print("suggestion sources over all real studies (journal): "
          + "; ".join(f"{k}: {format_sources(v)}" for k, v in sources.items()))


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
                                  journal=f"{tmp}/w{n}-s{seed}.jsonl", seed=0)
                    study.run(progress=False)
                    sources.update(journal_sources(study.journal_path))
                    t0 = min(t.created for t in study.trials.values())
                    hits = [t.ended - t0 for t in study.trials.values()
                            if t.score(study.goal) is not None and t.score(study.goal) <= target]
                    times.append(min(hits) if hits else math.inf)
                rows.append([n, f"{statistics.median(times):.1f}", f"{sum(math.isfinite(t) for t in times)}/{seeds}",
                             format_sources(sources)])
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
                          journal=f"{tmp}/{name[:2]}.jsonl", seed=0)
            t0 = time.perf_counter()
            study.run(progress=False)
            wall = time.perf_counter() - t0
            busy = sum(r["metrics"]["busy"] for t in study.trials.values() for r in t.reports)
            best = study.best_trial.score(study.goal)
            rows.append([name, n_trials, f"{wall:.1f}", f"{100 * busy / (n_workers * wall):.1f}%", f"{best:.3f}",
                         format_sources(journal_sources(study.journal_path))])
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
                      journal=f"{tmp}/default-bo.jsonl", seed=0)
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
             f"{total} trials: {format_sources(sources)}; {refits} refits"],
            ["7b. worker utilisation (busy / workers x span of the trials)", f"{100 * util:.1f}%", ">= 95%",
             "yes" if util >= 0.95 else "no",
             f"busy {busy:.1f} s over {n_workers} x {span:.1f} s; with the cluster's start-up "
             f"(study.run wall {wall:.1f} s): {100 * busy / (n_workers * wall):.1f}%"],
            ["7c. decision latency p99 at 400 observations", f"{p99:.3g} ms", "<= 20 ms",
             "yes" if p99 <= 20 else "no", "ask timed on the caller's thread while the refit at 400 runs"]]
    table(f"7. The issue's numbers: default TimeAwareBO() ({BACKGROUND}), {n_workers} workers, {seconds:g}-second "
          f"trials, {n_trials} trials on the embedded LocalCluster", ["measure", "value", "goal", "met", "behind it"],
          rows)


# -- 8. a new user's small CNN on digits --------------------------------------------------------------
def digits_cnn(config: dict, reporter: object) -> None:
    """Two 3x3 conv layers on the 8x8 digits, ``epochs`` epochs of SGD (about 0.1-0.6 s each on one core)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, val = perm[:1300], perm[1300:]
    w, bs = int(config["width"]), int(config["batch_size"])
    model = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(w, w, 3, padding=1),
                          nn.ReLU(), nn.Flatten(), nn.Linear(w * 16, 10))
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    for epoch in range(1, int(config["epochs"]) + 1):
        for i in range(0, len(train), bs):
            idx = train[i:i + bs]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            loss = float(F.cross_entropy(model(x[val]), y[val]))
        reporter.report(epoch=epoch, val_loss=loss if math.isfinite(loss) else 1e9)


def new_user_cnn(runs: int, epochs: int, n_workers: int = 2, n_after: int = 12) -> None:
    """8. Where the default ``TimeAwareBO()``'s suggestions come from on a new user's small CNN on digits.

    ``n_after`` suggestions after the 10 initial points, on the embedded LocalCluster; each
    run's sources are read from the journal; trial seconds are busy times (warm-up apart).
    """
    import json
    import os
    import tempfile

    from hpo_kit import Study

    space = Space({"lr": Real(1e-3, 0.5, log=True), "width": Integer(4, 32, log=True),
                   "batch_size": Categorical([32, 64, 128]), "epochs": Categorical([epochs])})
    rows, total = [], Counter()
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            opt = TimeAwareBO(seed=run)  # the defaults: b = 0, GP/EI, 10 initial points, background refits
            load_before = load_average()
            study = Study(digits_cnn, space, metric="val_loss", n_trials=10 + n_after, n_workers=n_workers,
                          optimizer=opt, journal=os.path.join(tmp, "j.jsonl"), seed=0)
            study.run(progress=False)
            sources = journal_sources(study.journal_path)
            with open(study.journal_path) as f:
                lacked = [r["info"].get("lacked", 0) for r in map(json.loads, f) if r.get("event") == "trial_create"]
            busy = sorted(t.busy for t in study.trials.values() if t.busy)
            refits = opt.state()["refits"]
        total.update(sources)
        after = sum(sources.values()) - sources["initial"]
        rows.append([run, f"{statistics.median(busy):.2f} [{busy[0]:.2f}, {busy[-1]:.2f}]",
                     f"{load_before} / {load_average()}", format_sources(sources),
                     f"{sources['surrogate']}/{after}", sources["initial"] - 10, max(lacked, default=0), refits])
    after = sum(total.values()) - total["initial"]
    rows.append(["all", "", "", format_sources(total), f"{total['surrogate']}/{after} = "
                 f"{100 * total['surrogate'] / max(1, after):.0f}%", total["initial"] - 10 * runs, "", ""])
    table(f"8. A new user's small CNN on digits: default TimeAwareBO(), {n_workers} workers (embedded LocalCluster), "
          f"{epochs} epochs a trial, 10 initial points + {n_after} ({BACKGROUND}; goal: no random point once a model "
          f"exists, surrogate share >= 90% when trials last >= 1 s at load <= 4)",
          ["run", "trial busy s: median [min, max]", "load before / after", "sources (journal)",
           "surrogate / after initial", "initial beyond 10", "max lacked", "refits"], rows)
