"""Benchmark of diagnosis-based early termination (BTTackler, ``METHODS.md`` §4).

(a) overhead   Watcher cost on the authors' small 4-conv CNN (cifar10cnn: 8/32/64/64 channels,
               batch norm, 3 linear layers), batch 128, synthetic CIFAR-shaped data: epoch time with
               no statistics, with naive per-layer reductions every batch (kept on the device, and
               with an ``.item()`` each), and with the Watcher every batch and at its default period.
               Goal: the default costs <= 5% of epoch time.
(b) search     The same random search (and time-aware BO, when ``hpo_kit.searchers.bo`` has it) with
               and without ``Diagnosis`` on a small CNN over sklearn's 8x8 digits, in a space with
               bad regions (activation incl. sigmoid, optimizer, lr over six decades, init scale),
               same time budget, paired seeds (both arms draw the same configurations in the same
               order and train them identically), and a third arm, the random-flag control (as many
               stops at the same epochs as the diagnosis arm, on random trials). Prints trials
               completed, the top-10 hit ratio and gain, TSBA, and stopped trials whose baseline twin
               was good, beside the paper's numbers.
(c) agreement  Default-period statistics against every-batch statistics on the same training runs
               (configurations drawn from (b)'s space): which trials each flags, by which indicator.
(d) record     A replayable table of (b)'s CNN (``--part record``, not in the default parts): ``--configs``
               random configurations of (b)'s space, each trained 20 epochs with a Watcher and
               ``Diagnosis()`` in shadow mode, written by :func:`hpo_kit.bench.record` (``--out``) for
               ``benchmarks/replay.py --table``: a third table, of another model, recorded after every
               default of ``Diagnosis`` and ``LearningCurve`` was fixed. ``--model digits-resnet`` (the residual
               MLP of :mod:`hpo_kit.bench.digits_resnet`) or ``mnist-cnn`` (:mod:`hpo_kit.bench.mnist_cnn`, a 2-conv
               CNN on MNIST 5k): over a plain user's space instead (the fourth table is the former).

Run ``python benchmarks/diagnosis.py --quick`` (CPU, a few minutes on 2 cores), or e.g.
``python benchmarks/diagnosis.py --part overhead --device cuda`` on a GPU.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import time
from typing import Any

import numpy as np

from hpo_kit import Categorical, Diagnosis, Real, Space, Study, Trial, TrialStatus, Watcher
from hpo_kit.bench.control import RandomFlags
from hpo_kit.diagnosis.watcher import DEFAULT_EVERY, DEFAULT_MIN_SAMPLES
from hpo_kit.examples.data import digits
from hpo_kit.metrics import top_k_gain, top_k_hit_ratio, tsba, worker_utilisation
from hpo_kit.optimizers import RandomSearch

from diagnosis_overhead import overhead, table

PAPER_TSBA, PAPER_TOP10_GAIN = 0.4033, 0.445
MAX_EPOCHS = 20


# -- (b) search ---------------------------------------------------------------------------------
def bench_space() -> Space:
    """A CNN search space with bad regions, as the paper's: activation, optimizer, lr, init scale."""
    return Space({"activation": Categorical(["relu", "tanh", "sigmoid"]),
                  "optimizer": Categorical(["sgd", "adam", "rmsprop"]), "lr": Real(1e-5, 10.0, log=True),
                  "init_scale": Real(0.01, 10.0, log=True), "channels": Categorical([4, 8, 16]),
                  "batch_size": Categorical([64, 128, 256])})


def small_cnn(config: dict[str, Any]) -> Any:
    """4 conv layers and a linear head for 1x8x8 digits; weights scaled by ``init_scale``."""
    import torch
    import torch.nn as nn

    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[config["activation"]]
    c = config["channels"]
    model = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), act(), nn.Conv2d(c, c, 3, padding=1), act(), nn.MaxPool2d(2),
                          nn.Conv2d(c, 2 * c, 3, padding=1), act(), nn.Conv2d(2 * c, 2 * c, 3, padding=1), act(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * c * 4, 10))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(config["init_scale"])
    return model


def train_cnn(config: dict[str, Any], data: Any, epochs: int, report: Any, on_model: Any = None) -> None:
    """Train ``config`` (seeded identically for every trial): ``on_model(model)`` once, then
    ``report(epoch, metrics)`` after every epoch."""
    import torch

    from hpo_kit.examples.objectives import evaluate, train_epoch

    x, y, xv, yv = data
    x, xv = x.view(-1, 1, 8, 8), xv.view(-1, 1, 8, 8)
    torch.manual_seed(0)
    model = small_cnn(config)
    make = {"sgd": functools.partial(torch.optim.SGD, momentum=0.9), "adam": torch.optim.Adam,
            "rmsprop": torch.optim.RMSprop}[config["optimizer"]]
    opt = make(model.parameters(), lr=config["lr"])
    if on_model is not None:
        on_model(model)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(1, epochs + 1):
        train_loss = train_epoch(model, opt, x, y, config["batch_size"], gen)
        val_loss, val_acc = evaluate(model, xv, yv)
        report(epoch, {"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc})


def cnn_objective(config: dict[str, Any], reporter: Any, watch: bool = False) -> None:
    """The study objective; ``watch=True`` adds the Watcher (the diagnosis arm's two lines)."""
    def on_model(model: Any) -> None:
        if watch:
            reporter.add_probe(Watcher(model).collect)

    train_cnn(config, reporter.data, reporter.max_epochs or MAX_EPOCHS,
              lambda epoch, metrics: reporter.report(epoch=epoch, **metrics), on_model)


def _optimizers() -> dict[str, Any]:
    out: dict[str, Any] = {"random": RandomSearch}
    try:
        from hpo_kit.searchers.bo import TimeAwareBO  # written by another engineer; may not exist yet
    except ImportError:
        print("\nnote: hpo_kit.searchers.bo.TimeAwareBO not found; BO arms skipped")
    else:
        out["bo"] = TimeAwareBO
    return out


def _run_arm(client: Any, make_opt: Any, seed: int, diagnose: bool, budget: float, tag: str,
             monitor: Any = None) -> Study:
    """One arm; ``diagnose``: the Watcher on and ``monitor`` (default ``Diagnosis()``) stopping trials."""
    study = Study(functools.partial(cnn_objective, watch=diagnose), bench_space(), metric="val_acc", mode="max",
                  optimizer=make_opt(seed=seed), time_budget=budget, max_epochs=MAX_EPOCHS, cluster=client,
                  data=digits, journal=f"hpo-runs/bench-diagnosis/{tag}.jsonl",
                  monitor=(monitor or Diagnosis()) if diagnose else None, on_flag="stop", name=tag, seed=0)
    return study.run(progress=False)


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _twin_report(diag: Study, base: Study) -> tuple[int, int, int, int]:
    """Stopped trials; with a baseline twin (the same configuration) that ran to the end; twin in the
    baseline's top 10; twin >= 0.9 acc.

    Twins are matched by configuration, not by trial id: under random search both arms draw the same
    configuration for the same id, but under BO the arms diverge after the first results, and the
    same id is another configuration. A stopped trial without a same-config baseline trial has no twin.
    """
    scores = sorted((t.score(base.goal) for t in base.trials.values() if t.score(base.goal) is not None),
                    reverse=True)
    top10 = scores[min(9, len(scores) - 1)] if scores else math.inf
    by_config = {_config_key(t.config): t for t in base.trials.values() if t.status is TrialStatus.COMPLETED}
    stopped = [t for t in diag.trials.values() if t.status is TrialStatus.STOPPED]
    twins = [by_config[_config_key(t.config)] for t in stopped if _config_key(t.config) in by_config]
    good = [tw for tw in twins if (tw.score(base.goal) or 0) >= top10]
    healthy = [tw for tw in twins if (tw.score(base.goal) or 0) >= 0.9]
    return len(stopped), len(twins), len(good), len(healthy)


def search(seeds: int, budget: float, n_workers: int) -> None:
    from distributed import Client

    from hpo_kit.engine.cluster import local_cluster

    with local_cluster(n_workers) as cluster, Client(cluster) as client:
        client.run(_warm_worker)  # torch import and data load before any arm's clock starts
        rows, twin_rows = [], []
        for name, make_opt in _optimizers().items():
            for seed in range(seeds):
                arms: dict[bool, Study] = {}
                for diagnose in ((False, True) if seed % 2 == 0 else (True, False)):  # alternate the order
                    arms[diagnose] = _run_arm(client, make_opt, seed, diagnose, budget,
                                              f"{name}-s{seed}-{'diag' if diagnose else 'base'}-{int(time.time())}")
                base, diag = arms[False], arms[True]
                # The random-flag control: as many stops at the same epochs as the diagnosis arm, on random
                # trial ids (hpo_kit.bench.control), the Watcher on as in the diagnosis arm.
                ctrl = _run_arm(client, make_opt, seed, True, budget, f"{name}-s{seed}-ctrl-{int(time.time())}",
                                monitor=RandomFlags.like(diag.trials, seed))
                for label, s in (("baseline", base), ("+diagnosis", diag), ("random-flag control", ctrl)):
                    done = sum(t.status is TrialStatus.COMPLETED for t in s.trials.values())
                    stopped = sum(t.status is TrialStatus.STOPPED for t in s.trials.values())
                    best = s.best_trial.score(s.goal) if s.best_trial else math.nan
                    util = worker_utilisation(s.trials, n_workers, start=s._t0)
                    rows.append([name, seed, label, len(s.trials), done, stopped, best, f"{util:.0%}",
                                 "" if s is base else f"{top_k_hit_ratio(s.results, base.results):.0%}",
                                 "" if s is base else f"{top_k_gain(s.results, base.results):+.0%}",
                                 "" if s is base else _pct(tsba(s.trials, base.trials, "val_acc",
                                                                method_start=s._t0, baseline_start=base._t0))])
                twin_rows.append([name, seed, *_twin_report(diag, base)])
        table(f"(b) search: {budget:.0f} s per arm, {n_workers} workers, digits CNN, max {MAX_EPOCHS} epochs "
              f"(paper: TSBA {PAPER_TSBA:.2%}, top-10 gain +{PAPER_TOP10_GAIN:.1%})",
              ["search", "seed", "arm", "trials", "completed", "stopped", "best acc", "busy", "top-10 hit",
               "top-10 gain", "TSBA"], rows)
        table("(b) stopped trials against their baseline twin (the baseline trial with the same configuration, "
              "trained identically; matched by configuration, not id)",
              ["search", "seed", "stopped", "same-config twin ran 20 ep.", "twin in base top-10", "twin acc >= 0.9"], twin_rows)


def _pct(v: float) -> str:
    return "never reached" if v == -math.inf else f"{v:+.1%}"


def _warm_worker(dataset: Any = digits) -> None:
    import torch  # noqa: F401

    from hpo_kit.engine.worker.step import load_data

    load_data(dataset)


# -- (c) agreement ------------------------------------------------------------------------------
def _verdict(history: list[dict]) -> tuple[str, int] | None:
    trial, diagnosis = Trial(id=0, config={}, budget=MAX_EPOCHS), Diagnosis()
    for r in history:
        trial.reports.append(r)
        f = diagnosis.check(trial, {0: trial}, MAX_EPOCHS)
        if f is not None:
            return f.indicator, f.epoch
    return None


def agreement(n_configs: int, seed: int) -> None:
    import torch

    torch.set_num_threads(1)
    data, space, rng = digits(), bench_space(), np.random.default_rng(seed)
    rows = []
    same = {"default": [0, 0], "sparse": [0, 0]}  # [same trials flagged, same indicator and epoch]
    for i in range(n_configs):
        config = space.sample(rng)
        watchers: list[Watcher] = []
        histories: list[list[dict]] = [[], [], []]

        def report(epoch: int, metrics: dict, watchers=watchers, histories=histories) -> None:
            for w, h in zip(watchers, histories):
                h.append({"epoch": epoch, "metrics": metrics, "diag": w.collect()})

        train_cnn(config, data, MAX_EPOCHS, report, lambda m, watchers=watchers: watchers.extend(
            [Watcher(m, every=1), Watcher(m), Watcher(m, every=DEFAULT_EVERY, min_samples=1)]))
        full, default, sparse = (_verdict(h) for h in histories)
        for name, v in (("default", default), ("sparse", sparse)):
            same[name][0] += (v is None) == (full is None)
            same[name][1] += v == full
        rows.append([i, config["activation"], config["optimizer"], f"{config['lr']:.1e}",
                     f"{config['init_scale']:.2g}", config["batch_size"], full or "-", default or "-", sparse or "-"])
    table(f"(c) verdicts on the same training runs: every batch; the default (every {DEFAULT_EVERY}th pass but >= "
          f"{DEFAULT_MIN_SAMPLES} per epoch, first epoch in full: on these short epochs mostly every pass); and every "
          f"{DEFAULT_EVERY}th pass after the first epoch whatever the epoch length (sparse); {n_configs} configurations "
          f"from (b)", ["#", "act", "opt", "lr", "init", "batch", "every=1", "default", "sparse"], rows)
    for name, (trials, verdicts) in same.items():
        print(f"{name}: same trials flagged as every=1 {trials}/{n_configs}; same indicator and epoch {verdicts}/{n_configs}")


# -- (d) record ----------------------------------------------------------------------------------
def _workload(model: str) -> tuple[Any, Space, Any, str]:
    """(objective, space, dataset, description) of a record part's ``--model``."""
    if model == "digits-cnn":
        return (functools.partial(cnn_objective, watch=True), bench_space(), digits,
                "benchmarks/diagnosis.py small_cnn: 4-conv CNN on sklearn digits (1348 train / 449 val)")
    mod = importlib.import_module(f"hpo_kit.bench.{model.replace('-', '_')}")  # digits_resnet, mnist_cnn
    return mod.objective, mod.space(), mod.DATA, mod.WORKLOAD


def record_table(configs: int, seed: int, workers: int, out: str, model: str = "digits-cnn",
                 epochs: int = MAX_EPOCHS) -> None:
    import os
    import platform
    import sys

    from distributed import Client

    from hpo_kit.bench import record
    from hpo_kit.engine.cluster import local_cluster

    objective, space, dataset, workload = _workload(model)
    journal = f"hpo-runs/record/{model}-s{seed}-{int(time.time())}.jsonl"
    os.makedirs(os.path.dirname(journal), exist_ok=True)
    t0 = time.time()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.run(_warm_worker, dataset)
        study = Study(objective, space, metric="val_acc", mode="max",
                      optimizer=RandomSearch(seed=seed), n_trials=configs, max_epochs=epochs, cluster=client,
                      data=dataset, journal=journal, monitor=Diagnosis(), on_flag="flag", name=f"{model}-table", seed=0)
        study.run(progress=False)
    meta = {"command": " ".join(["python", "benchmarks/diagnosis.py", *sys.argv[1:]]), "workload": workload,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {workers} Dask workers x 1 torch thread",
            "recorded_seconds": round(time.time() - t0, 1), "shadow_monitor": "Diagnosis() at record time"}
    table = record(journal, meta=meta)
    table.save(out)
    print(f"{len(table)} configurations x {table.max_epochs} epochs -> {out} ({os.path.getsize(out) / 1e6:.2f} MB; "
          f"{table.meta['incomplete']} incomplete dropped; {time.time() - t0:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (CPU minutes)")
    ap.add_argument("--part", default="overhead,search,agreement",
                    help="comma list of overhead,search,agreement,record")
    ap.add_argument("--device", default="cpu", help="device of the overhead part: cpu, cuda, cuda:1, ...")
    ap.add_argument("--seeds", type=int, default=None, help="paired seeds of the search part")
    ap.add_argument("--budget", type=float, default=None, help="seconds per search arm")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--everys", default=None, help="Watcher periods to time, e.g. 1,2,4,8")
    ap.add_argument("--repeats", type=int, default=None, help="timed epochs per variant in the overhead part")
    ap.add_argument("--configs", type=int, default=128, help="configurations of the record part")
    ap.add_argument("--record-seed", type=int, default=0, help="seed of the record part's random search")
    ap.add_argument("--out", default=None, help="table file of the record part (tests/data/<model>.jsonl.gz)")
    ap.add_argument("--model", default="digits-cnn", choices=["digits-cnn", "digits-resnet", "mnist-cnn"],
                    help="record part's workload: (b)'s CNN on digits, hpo_kit.bench.digits_resnet or .mnist_cnn")
    ap.add_argument("--epochs", type=int, default=MAX_EPOCHS, help="epochs per configuration of the record part")
    args = ap.parse_args()
    parts = set(args.part.split(","))
    everys = [int(k) for k in args.everys.split(",")] if args.everys else sorted({1, DEFAULT_EVERY})
    if "overhead" in parts:
        gpu = args.device.startswith("cuda")
        overhead(args.device, batches=(60 if gpu else 8) if args.quick else (200 if gpu else 30),
                 repeats=args.repeats or (3 if args.quick else 7), everys=everys)
    if "agreement" in parts:
        agreement(8 if args.quick else 40, seed=1)
    if "record" in parts:
        record_table(args.configs, args.record_seed, args.workers,
                     args.out or f"tests/data/{args.model.replace('-', '_')}.jsonl.gz", args.model, args.epochs)
    if "search" in parts:
        search(args.seeds or (1 if args.quick else 3), args.budget or (60.0 if args.quick else 300.0), args.workers)


if __name__ == "__main__":
    main()
