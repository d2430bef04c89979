"""Side by side: hpo_kit, a bare Dask loop, Optuna on Dask, Optuna threads and Ray Tune, one run (issue 11).

Workloads W1-W3 and the columns: ``loop_peers_table.py``, which runs the measurements and prints
the table.

Systems (each measurement in a fresh process, ``--one``; repetitions interleaved, the
order of the systems rotating from one repetition to the next):

- ``hpo_kit``: a :class:`~hpo_kit.Study` on a LocalCluster of C single-threaded worker
  processes (:func:`hpo_kit.engine.cluster.local_cluster`), random search, function-form
  objective; W3 under ``ASHA(r_min=1, eta=3, r_max=5)`` with ``max_epochs=5``. A trial
  paused at a rung waits alive on its worker (``keep_paused=4``, :mod:`hpo_kit.engine.worker.kept`)
  and a later promotion resumes it there; a function-form trial resumed afresh (released, or
  elsewhere) trains its epochs again: those are measured (*retrained*), not useful sleep.
  Each step is its own Dask task, as the bare loop's trials are.
- ``hpo_kit_nokeep`` (W3 only): the same with ``keep_paused=0``, so every later promotion
  of a function-form trial retrains (the engine before kept trials).
- ``hpo_kit_trainable`` (W3 only): the same with a :class:`~hpo_kit.Trainable`, so a
  promotion resumes the kept object (or from its checkpoint) and nothing is retrained;
  checkpoints are written in the background (:mod:`hpo_kit.engine.worker.writer`).
- ``bare``: the smallest ``distributed.as_completed`` loop on the same kind of cluster,
  queuing as deep as hpo_kit does (hpo_kit's in-flight cap, read from
  ``hpo_kit.engine.driver.handler.Driver.capacity``: ``concurrency + prefetch`` when the cluster has no more
  threads than ``concurrency``, its default). W1 and W2 only.
- ``optuna_dask``: Optuna with ``optuna_integration.DaskStorage`` on the same kind of
  LocalCluster, one ``study.optimize`` per worker (the documented Optuna-on-Dask pattern).
- ``optuna_threads``: Optuna ``study.optimize(n_jobs=C)`` in-process threads (no distribution).
- ``ray``: Ray Tune, ``reuse_actors=True``, ``max_concurrent_trials=C``.

Peers are the ``bench`` extra (``optuna==5.0.0``, ``optuna-integration==5.0.0``,
``ray[tune]==2.60.0``); a system whose package is missing is skipped with a message.

The machine's load average is printed with the table: on a small shared machine the
wall-clock figures move with the neighbours. The goals of issue 11 are printed PASS/FAIL.

Usage::

    python benchmarks/loop_peers.py                      # W1-W3, every installed system, 3 repetitions
    python benchmarks/loop_peers.py --reps 5 --markdown
    python benchmarks/loop_peers.py --workloads W3 --systems hpo_kit,optuna_dask
    python benchmarks/loop_peers.py --quick              # W1 of 300 trials, W2/W3 of 100, 1 repetition
    python benchmarks/loop_peers.py --smoke              # tiniest sizes, hpo_kit and bare (the CI smoke test)
    python benchmarks/loop_peers.py --one hpo_kit W2 0   # one measurement in this process: a JSON line
"""
from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import loop_peers_table
from loop_peers_table import ETA, R_MIN, SYSTEMS, WORKLOADS, bare_depth, tables


# The workload of this process (set by --one before anything runs; read by the trial bodies,
# which travel to Dask workers by value with these tables).
N, C, STEPS = 0, 0, 1
DUR: list[float] = []
XS: list[float] = []


def loss(i: int, epoch: int) -> float:
    return XS[i] + 1.0 / epoch


def nap(seconds: float) -> float:
    """Sleep; return the seconds measured around the sleep (the trial's busy time)."""
    t0 = time.perf_counter()
    if seconds > 0:
        time.sleep(seconds)
    return time.perf_counter() - t0


# -- one measurement per process ---------------------------------------------------------------
def _hpo_kit(system: str, rep: int, tmp: str, out: dict[str, Any]) -> tuple[float, list[tuple[int, float]]]:
    from distributed import Client

    from hpo_kit import ASHA, Integer, RandomSearch, Study, Trainable
    from hpo_kit.engine.cluster import local_cluster

    n, steps, dur = N, STEPS, DUR

    def objective(config: dict, reporter: Any) -> None:
        """Function form: a call trains from epoch 1, so epochs up to the driver's (``spec.start``) are retrained;
        their sleep is measured and sent with the first new epoch (the ledger keeps that report, not theirs)."""
        i, known = reporter.trial_id, reporter.spec.start or 0
        again = 0.0
        for epoch in range(1, (reporter.max_epochs or steps) + 1):
            slept = nap(dur[i] / steps)
            if epoch <= known:
                again += slept
            extra = {"re_slept": again, "re_epochs": known} if epoch == known + 1 and known else {}
            reporter.report(epoch=epoch, loss=XS[i] + 1.0 / epoch, slept=slept, **extra)

    class Steps(Trainable):
        """Trainable form: a promotion resumes from the checkpoint (config ``i`` is the trial number)."""

        def setup(self, config: dict, data: Any) -> None:
            self.i = int(config["i"])

        def train_epoch(self, epoch: int) -> dict[str, float]:
            return {"loss": XS[self.i] + 1.0 / epoch, "slept": nap(dur[self.i] / steps)}

        def state_dict(self) -> dict:
            return {}

        def load_state_dict(self, state: dict) -> None:
            pass

    class ByNumber(RandomSearch):
        """Trial ``k`` gets ``{"i": k}``: the Trainable form reads the same table as the others."""

        def ask(self, trial_id: int) -> Any:
            from hpo_kit import Start

            return Start({"i": trial_id}, info={"source": "table"})

    cluster = local_cluster(C)
    client = Client(cluster)
    client.wait_for_workers(C)
    client.run(lambda: __import__("hpo_kit.engine.worker.step"))
    if system == "hpo_kit_trainable":  # checkpoints are torch.save files: import torch now, not in the first step
        client.run(lambda: __import__("torch"))
    out["startup_s"] = time.perf_counter() - T_START
    journal = os.path.join(tmp, "journal.jsonl")
    if system == "hpo_kit_trainable":
        study = Study(Steps, {"i": Integer(0, n - 1)}, scheduler=ASHA(r_min=R_MIN, eta=ETA, r_max=steps),
                      searcher=ByNumber(seed=rep), max_epochs=steps, n_trials=n, concurrency=C, cluster=client,
                      journal=journal, seed=0)
    elif steps > 1:
        study = Study(objective, {"x": Integer(0, 1)}, scheduler=ASHA(r_min=R_MIN, eta=ETA, r_max=steps, seed=rep),
                      max_epochs=steps, n_trials=n, concurrency=C, cluster=client, journal=journal,
                      keep_paused=0 if system == "hpo_kit_nokeep" else 4, seed=0)
    else:
        study = Study(objective, {"x": Integer(0, 1)}, optimizer=RandomSearch(seed=rep), n_trials=n,
                      concurrency=C, cluster=client, journal=journal, seed=0)
    t0, cpu0 = time.perf_counter(), time.process_time()
    study.run(progress=False)
    wall, out["driver_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    out["queue"] = getattr(study._driver, "capacity", None)
    trials = [study.trials[k] for k in sorted(study.trials)]
    out["n_done"] = len(trials)
    recs = [(t.epochs, sum(r["metrics"].get("slept", 0.0) for r in t.reports)) for t in trials]
    if steps > 1 and system != "hpo_kit_trainable":  # a function-form trial resumed afresh trains its epochs again
        firsts = [r["metrics"] for t in trials for r in t.reports if "re_epochs" in r["metrics"]]
        out["retrained_epochs"] = sum(int(m["re_epochs"]) for m in firsts)
        out["retrained_s"] = sum(m["re_slept"] for m in firsts)
    client.close()
    cluster.close()
    return wall, recs


def _bare(out: dict[str, Any], depth: int | None) -> tuple[float, list[tuple[int, float]]]:
    from distributed import Client, as_completed

    from hpo_kit.engine.cluster import local_cluster

    dur = DUR

    def task(i: int) -> float:
        return nap(dur[i])

    cluster = local_cluster(C)
    client = Client(cluster)
    client.wait_for_workers(C)
    client.run(lambda: __import__("hpo_kit.engine.worker.step"))  # the same warm-up as hpo_kit's
    out["startup_s"] = time.perf_counter() - T_START
    depth = depth or bare_depth(C)
    out["queue"] = depth
    todo = iter(range(N))
    t0, cpu0 = time.perf_counter(), time.process_time()
    ac = as_completed([client.submit(task, i, pure=False) for i in itertools.islice(todo, depth)], with_results=True)
    recs = []
    for _, slept in ac:
        recs.append((1, slept))
        i = next(todo, None)
        if i is not None:
            ac.add(client.submit(task, i, pure=False))
    wall, out["driver_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    out["n_done"] = len(recs)
    client.close()
    cluster.close()
    return wall, recs


def _optuna_objective(record: Any) -> Any:
    import optuna

    def objective(trial: Any) -> float:
        i = trial.number % N
        trial.suggest_float("x", 0.0, 1.0)
        slept = 0.0
        if STEPS == 1:
            slept = nap(DUR[i])
            record(1, slept)
            return loss(i, 1)
        for step in range(1, STEPS + 1):
            slept += nap(DUR[i] / STEPS)
            trial.report(loss(i, step), step)
            if step < STEPS and trial.should_prune():
                record(step, slept)
                raise optuna.TrialPruned()
        record(STEPS, slept)
        return loss(i, STEPS)

    return objective


def _optuna_pruner() -> Any:
    import optuna

    return (optuna.pruners.SuccessiveHalvingPruner(min_resource=R_MIN, reduction_factor=ETA)
            if STEPS > 1 else optuna.pruners.NopPruner())


def _optuna_threads(rep: int, out: dict[str, Any]) -> tuple[float, list[tuple[int, float]]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recs: list[tuple[int, float]] = []
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=rep), pruner=_optuna_pruner())
    out["startup_s"] = time.perf_counter() - T_START
    t0, cpu0 = time.perf_counter(), time.process_time()
    study.optimize(_optuna_objective(lambda s, sl: recs.append((s, sl))), n_trials=N, n_jobs=C)
    wall, out["driver_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    out["n_done"] = len(study.trials)
    return wall, recs


def _optuna_dask(rep: int, out: dict[str, Any]) -> tuple[float, list[tuple[int, float]]]:
    import optuna
    from distributed import Client
    from optuna_integration import DaskStorage

    from hpo_kit.engine.cluster import local_cluster

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cluster = local_cluster(C)
    client = Client(cluster)
    client.wait_for_workers(C)
    client.run(lambda: __import__("optuna"))
    storage = DaskStorage(client=client)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=rep),
                                pruner=_optuna_pruner())
    out["startup_s"] = time.perf_counter() - T_START
    name, study_name = storage.name, study.study_name
    shares = [N // C + (k < N % C) for k in range(C)]

    def work(k: int) -> list[tuple[int, float]]:
        import optuna as o
        from optuna_integration import DaskStorage as S

        o.logging.set_verbosity(o.logging.WARNING)
        recs: list[tuple[int, float]] = []
        st = o.load_study(study_name=study_name, storage=S(name=name),
                          sampler=o.samplers.RandomSampler(seed=rep * 100 + k), pruner=_optuna_pruner())
        st.optimize(_optuna_objective(lambda s, sl: recs.append((s, sl))), n_trials=shares[k])
        return recs

    t0, cpu0 = time.perf_counter(), time.process_time()
    futures = [client.submit(work, k, pure=False) for k in range(C)]
    recs = [r for part in client.gather(futures) for r in part]
    wall, out["driver_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    out["n_done"] = len(study.trials)
    client.close()
    cluster.close()
    return wall, recs


def _ray(rep: int, tmp: str, out: dict[str, Any]) -> tuple[float, list[tuple[int, float]]]:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    steps, dur, xs = STEPS, DUR, XS

    def trainable(config: dict) -> None:
        i, slept = config["idx"], 0.0
        for step in range(1, steps + 1):
            slept += nap(dur[i] / steps)
            tune.report({"loss": xs[i] + 1.0 / step, "slept": slept, "step": step})

    ray.init(num_cpus=C, include_dashboard=False, _temp_dir=os.path.join(tmp, "ray"), log_to_driver=False,
             configure_logging=True, logging_level="ERROR")
    out["startup_s"] = time.perf_counter() - T_START
    sched = (ASHAScheduler(time_attr="training_iteration", max_t=steps, grace_period=R_MIN, reduction_factor=ETA)
             if steps > 1 else None)
    tuner = tune.Tuner(trainable, param_space={"idx": tune.grid_search(list(range(N)))},
                       tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=C, scheduler=sched,
                                                   reuse_actors=True, metric="loss", mode="min"),
                       run_config=tune.RunConfig(name=f"loop_peers_{rep}", storage_path=os.path.join(tmp, "rr"),
                                                 verbose=0))
    t0, cpu0 = time.perf_counter(), time.process_time()
    grid = tuner.fit()
    wall, out["driver_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    recs = [(int(r.metrics.get("step", 0)), float(r.metrics.get("slept", 0.0))) for r in grid]
    out["n_done"] = len(grid)
    ray.shutdown()
    return wall, recs


T_START = 0.0


def measure_one(system: str, wl: str, rep: int, n: int, depth: int | None = None) -> dict[str, Any]:
    """One measurement in this process; returns the record the parent tabulates."""
    global N, C, STEPS, DUR, XS, T_START
    spec = WORKLOADS[wl]
    N, C, STEPS = n, spec["c"], spec["steps"]
    DUR, XS = tables(n, spec["sleep"])
    out: dict[str, Any] = {"system": system, "wl": wl, "rep": rep, "n": N, "c": C, "load1": os.getloadavg()[0]}
    T_START = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="loop-peers-") as tmp:
        if system.startswith("hpo_kit"):
            wall, recs = _hpo_kit(system, rep, tmp, out)
        elif system == "bare":
            wall, recs = _bare(out, depth)
        elif system == "optuna_threads":
            wall, recs = _optuna_threads(rep, out)
        elif system == "optuna_dask":
            wall, recs = _optuna_dask(rep, out)
        elif system == "ray":
            wall, recs = _ray(rep, tmp, out)
        else:
            raise SystemExit(f"unknown system {system!r}: choose from {SYSTEMS}")
    useful = float(sum(s for _, s in recs))
    total = useful + out.get("retrained_s", 0.0)
    sleeps = spec["sleep"]  # no-op trials have no busy time to share: no utilisation
    out.update(wall_s=wall, sleep_s=useful, sleep_all_s=total, util=useful / (C * wall) if sleeps else None,
               util_all=total / (C * wall) if sleeps else None, overhead_ms=1e3 * (wall - useful / C) / N,
               driver_cpu_ms=1e3 * out.get("driver_cpu_s", 0.0) / N,
               epochs=int(sum(e for e, _ in recs)) + int(out.get("retrained_epochs", 0)),
               stopped=sum(1 for e, _ in recs if e < STEPS), load1_after=os.getloadavg()[0])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return loop_peers_table.main(argv, os.path.abspath(__file__), __doc__ or "", measure_one)


if __name__ == "__main__":
    sys.exit(main())
