"""hpo_kit.bench: the table format, the recorder, replays of hand-made tables, ground-truth quality."""
from __future__ import annotations

import json
import math

import pytest

from hpo_kit import Categorical, Diagnosis, Real, Space, TrialStatus
from hpo_kit.bench import Row, Table, record
from hpo_kit.bench.quality import BAD, GOOD, MID, first_flags, flag_quality, interval, paired, truth
from hpo_kit.bench.replay import replay, row_of
from hpo_kit.monitor import Finding
from hpo_kit.searchers.grid import GridSearch


def row(rid, accs, seconds=1.0, losses=None, config=None):
    losses = losses or [1.0 / (e + 1) for e in range(len(accs))]
    return Row(rid, config or {"x": rid}, [{"metrics": {"val_acc": a, "train_loss": l}, "seconds": seconds}
                                           for a, l in zip(accs, losses)])


def tiny() -> Table:
    return Table([row(0, [0.5, 0.8, 0.9], 1.0), row(1, [0.1, 0.1, 0.1], 2.0)], "val_acc", "max", 3)


def test_round_trip_keeps_nan_and_the_header(tmp_path):
    t = Table([row(0, [0.5, math.nan]), row(1, [0.2, 0.3])], "val_acc", "max", 2,
              Space({"x": Categorical([0, 1])}), {"who": "test"})
    t.rows[0].epochs[0]["diag"] = {"grad_abs": [1e-3, math.inf]}
    for name in ("t.jsonl", "t.jsonl.gz"):
        t.save(tmp_path / name)
        back = Table.load(tmp_path / name)
        assert back.metric == "val_acc" and back.max_epochs == 2 and back.meta == {"who": "test"}
        assert back.space.to_dict() == t.space.to_dict()
        assert math.isnan(back.rows[0].values("val_acc")[1])
        assert back.rows[0].epochs[0]["diag"]["grad_abs"][1] == math.inf
    (tmp_path / "bad.jsonl").write_text('{"id": 0}\n')
    with pytest.raises(ValueError, match="header"):
        Table.load(tmp_path / "bad.jsonl")


def test_record_reads_a_journal(tmp_path):
    space = Space({"lr": Real(1e-3, 1.0, log=True)})
    lines = [{"event": "study_start", "t": 100.0, "name": "s", "goal": {"metric": "val_acc", "mode": "max"},
              "space": space.to_dict(), "settings": {"max_epochs": 2}},
             {"event": "trial_create", "t": 100.0, "trial": 0, "config": {"lr": 0.1}, "budget": 2},
             {"event": "trial_start", "t": 101.0, "trial": 0, "attempt": 0, "worker": "w"},
             {"event": "report", "t": 101.5, "trial": 0, "epoch": 1, "metrics": {"val_acc": 0.4},
              "diag": {"grad_abs": [0.1, 0.2]}},
             {"event": "report", "t": 102.25, "trial": 0, "epoch": 2, "metrics": {"val_acc": 0.6}},
             {"event": "flag", "t": 102.3, "trial": 0, "finding": {"indicator": "PLC", "epoch": 2}, "policy": "flag"},
             {"event": "trial_end", "t": 102.3, "trial": 0, "status": "COMPLETED", "busy": 1.3},
             {"event": "trial_create", "t": 100.0, "trial": 1, "config": {"lr": 0.5}, "budget": 2},
             {"event": "trial_start", "t": 101.0, "trial": 1, "attempt": 0, "worker": "w"},
             {"event": "report", "t": 102.0, "trial": 1, "epoch": 1, "metrics": {"val_acc": math.nan}},
             {"event": "trial_end", "t": 102.0, "trial": 1, "status": "FAILED", "busy": 1.0}]
    path = tmp_path / "j.jsonl"
    path.write_text("".join(json.dumps({"v": 1, **x}) + "\n" for x in lines))
    t = record(path)
    assert (t.metric, t.mode, t.max_epochs, t.meta["incomplete"]) == ("val_acc", "max", 2, 1)
    (r,) = t.rows
    assert r.config == {"lr": 0.1} and r.seconds() == [0.5, 0.75] and r.flags == [{"indicator": "PLC", "epoch": 2}]
    assert r.report(1) == {"metrics": {"val_acc": 0.4}, "diag": {"grad_abs": [0.1, 0.2]}} and "diag" not in r.report(2)
    assert len(record(path, complete_only=False)) == 2


def test_replay_of_a_tiny_table_gives_the_known_schedule():
    table = tiny()
    res = replay(table, GridSearch(points_per_dimension=2), n_workers=1)
    assert sorted(res.timeline) == [(0, 0, 0.0, 3.0), (0, 1, 3.0, 9.0)] and res.wall == 9.0
    assert [r["metrics"]["val_acc"] for r in res.trials[0].reports] == [0.5, 0.8, 0.9]
    assert {t.config["x"]: row_of(table, t).id for t in res.trials.values()} == {0: 0, 1: 1}
    res = replay(table, GridSearch(points_per_dimension=2), n_workers=2, target=0.8)
    assert res.time_to_target == 2.0 and res.ended == "target"
    res = replay(table, GridSearch(points_per_dimension=2), n_workers=2, time_budget=2.5)
    assert res.trials[1].epochs == 1 and res.trials[1].status is TrialStatus.RUNNING and res.wall == 2.5


def test_nearest_row_matches_categoricals_first_then_numbers():
    space = Space({"act": Categorical(["relu", "tanh"]), "lr": Real(1e-4, 1.0, log=True)})
    rows = [Row(0, {"act": "relu", "lr": 1e-3}, []), Row(1, {"act": "tanh", "lr": 1e-1}, []),
            Row(2, {"act": "relu", "lr": 0.5}, [])]
    t = Table(rows, "acc", "max", 1, space)
    assert t.nearest({"act": "relu", "lr": 1e-3}).id == 0
    assert t.nearest({"act": "relu", "lr": 0.09}).id == 2  # same activation beats the closer lr of row 1
    assert t.nearest({"act": "tanh", "lr": 1e-4}).id == 1


def quality_table() -> Table:
    nan = math.nan
    rows = [row(0, [0.5, 0.9, 0.95]), row(1, [0.3, 0.6, 0.7]), row(2, [0.1, 0.1, 0.1], losses=[2.3, nan, nan]),
            row(3, [0.1, 0.1, 0.1]), row(4, [0.6, 0.92, 0.96], losses=[nan, 0.2, 0.1])]
    return Table(rows, "val_acc", "max", 3)


def test_truth_and_flag_quality_on_a_hand_made_table():
    table = quality_table()
    labels = truth(table)
    assert labels == {0: GOOD, 1: MID, 2: BAD, 3: BAD, 4: GOOD}  # good >= 0.864, bad < 0.48
    flags = first_flags(table, lambda: Diagnosis(indicators=["AGV"]))
    assert {k: (f or {}).get("epoch") for k, f in flags.items()} == {0: None, 1: None, 2: 2, 3: None, 4: 1}
    q = flag_quality(table, flags, labels, "AGV")
    assert (q.flagged, q.flagged_bad, q.flagged_good, q.n_bad, q.n_good) == (2, 1, 1, 2, 2)
    assert q.precision == 0.5 and q.recall == 0.5 and q.good_flagged == 0.5 and q.median_epoch == 1.5
    assert q.saved == pytest.approx(1 / 6)  # row 2 saves its 3rd second of the bad rows' 6
    with pytest.raises(ValueError, match="good="):
        truth(Table(table.rows, "val_acc", "min", 3))


class FlagsBad:
    """Flags a trial at epoch 1 when its accuracy is at chance (a perfect, instant oracle)."""

    def check(self, trial, trials, max_epochs):
        r = trial.reports[-1]
        return Finding("X", r["epoch"]) if r["metrics"]["val_acc"] <= 0.1 else None


def test_paired_replays_save_time_with_a_perfect_monitor():
    table = Table([row(i, [0.1] * 3 if i % 2 else [0.5, 0.7, 0.5 + i / 100]) for i in range(8)], "val_acc", "max", 3,
                  Space({"x": Categorical(list(range(8)))}))
    from hpo_kit.optimizers import FIFO, RandomSearch

    runs = paired(table, lambda s: FIFO(RandomSearch(seed=s)), FlagsBad, range(2), truth(table), n_workers=2,
                  time_budget=12.0)
    for r in runs:
        assert r["diag"]["trials"] > r["base"]["trials"] and r["diag"]["flag_stopped_good"] == 0
        assert r["diag"]["flag_stopped"] == r["diag"]["stopped"] > 0 and r["tsba"] >= 0.0
    assert interval([1.0, 2.0, 3.0]) [0] == 2.0
    med, lo, hi = interval([0.0, 1.0, 2.0, 3.0, 4.0])
    assert lo <= med <= hi and med == 2.0


def test_defaults_and_the_authors_settings_are_one_argument_apart():
    from hpo_kit.diagnosis import Thresholds
    from hpo_kit.diagnosis.indicators import INDICATORS

    d, a = Diagnosis(), Diagnosis.authors()
    assert d.indicators == ("AGV", "EAG", "ERG", "LAR", "PLC") and a.indicators == INDICATORS
    assert (d.thresholds.max_zero, d.thresholds.min_cv, d.thresholds.slow_ratio) == (0.8, 1e-2, 2.0)
    assert (a.thresholds.max_zero, a.thresholds.min_cv, a.thresholds.slow_ratio) == (0.5, 1e-4, 1.0)
    assert a.thresholds == Thresholds.authors() and Diagnosis.authors(slow_ratio=2.0).thresholds.slow_ratio == 2.0
    assert Diagnosis.authors(indicators=["PLC"]).indicators == ("PLC",)


# -- the random-flag control ---------------------------------------------------------------------
def test_top_half_ranks_final_values_best_first():
    from hpo_kit.bench.quality import top_half

    assert top_half(quality_table()) == {4, 0, 1}  # 0.96, 0.95, 0.7 of five rows (ceil(5/2) = 3)
    table = Table([row(0, [0.2]), row(1, [math.nan]), row(2, [0.1]), row(3, [0.3])], "val_acc", "min", 1)
    assert top_half(table) == {2, 0}  # to minimise; NaN ranks last


def test_random_flags_deal_the_same_epochs_to_random_trials():
    from hpo_kit import Trial
    from hpo_kit.bench.control import RANDOM, RandomFlags, random_flags

    trials = {i: Trial(id=i, config={}, status=TrialStatus.STOPPED if i % 3 == 0 else TrialStatus.COMPLETED,
                       flags=[{"indicator": "PLC", "epoch": 2 + i}] if i % 3 == 0 else [])
              for i in range(30)}  # 10 flag-stopped trials at epochs 2, 5, ..., 29
    epochs = sorted(2 + i for i in range(0, 30, 3))
    draws = [RandomFlags.like(trials, seed) for seed in range(3)]
    for ctrl in draws:
        assert sorted(ctrl.schedule.values()) == epochs and set(ctrl.schedule) <= set(trials)
    assert draws[0].schedule == RandomFlags.like(trials, 0).schedule  # seeded
    assert draws[0].schedule != draws[1].schedule
    tid, at = next(iter(draws[0].schedule.items()))
    t = Trial(id=tid, config={}, status=TrialStatus.RUNNING)
    for e in range(1, at + 2):
        t.reports.append({"epoch": e, "metrics": {}})
        f = draws[0].check(t, {tid: t}, 40)
        assert (f is not None) == (e == at), e
        if f is not None:
            assert f.indicator == RANDOM and f.epoch == at
            t.flags.append(f.to_dict())
    flags = {i: ({"epoch": 2 + i} if i % 3 == 0 else None) for i in range(30)}
    dealt = random_flags(flags, seed=1)
    assert sorted(f["epoch"] for f in dealt.values() if f) == epochs and set(dealt) == set(flags)
    assert dealt != random_flags(flags, seed=2)


def test_paired_control_stops_as_many_trials_at_the_same_epochs():
    table = Table([row(i, [0.1] * 3 if i % 2 else [0.5, 0.7, 0.5 + i / 100]) for i in range(8)], "val_acc", "max", 3,
                  Space({"x": Categorical(list(range(8)))}))
    from hpo_kit.optimizers import FIFO, RandomSearch

    runs = paired(table, lambda s: FIFO(RandomSearch(seed=s)), FlagsBad, range(3), truth(table), n_workers=2,
                  n_trials=16, control=True)
    for r in runs:
        assert r["control"]["flag_stopped"] == r["diag"]["flag_stopped"] > 0
        assert r["diag"]["flag_stopped_top_half"] == 0 and r["diag"]["top_half"] > 0  # the oracle stops only bad rows
        assert {"control_tsba", "control_hit", "control_gain"} <= set(r)
    # chance stops rows of the top half too; the oracle never does
    assert sum(r["control"]["flag_stopped_top_half"] for r in runs) > 0


def test_diabetes_mlp_learns_and_its_copies_need_the_inherited_dimensions():
    from hpo_kit.bench.regression import INHERIT, RegressionMLP, diabetes, friedman1, space, test_loss
    from hpo_kit.inherit import explain_load_error

    data = diabetes()
    assert {k: len(v) for k, v in data.items() if k.startswith("x_")} == {"x_train": 266, "x_val": 88, "x_test": 88}
    config = {"lr": 1e-2, "weight_decay": 1e-4, "batch_size": 32, "width": 16, "depth": 1, "optimizer": "adam"}
    assert space().validate(config) == config
    a = RegressionMLP()
    a.setup(config, data)
    first = a.train_epoch(1)["val_loss"]
    for e in range(2, 8):
        last = a.train_epoch(e)["val_loss"]
    assert last < min(first, 0.8)  # learns (1.0: the constant predictor)
    b = RegressionMLP()
    b.setup({**config, "lr": 3e-2}, data)  # a neighbour that kept the inherited dimensions
    b.load_state_dict(a.state_dict())
    assert test_loss([b]) == pytest.approx(test_loss([a]))
    c = RegressionMLP()
    c.setup({**config, "width": 64}, data)
    with pytest.raises(RuntimeError) as exc:
        c.load_state_dict(a.state_dict())
    assert explain_load_error(exc.value, {**config, "width": 64}, config).dimensions == ("width",)
    assert set(INHERIT) <= set(space())
    assert {k: tuple(v.shape) for k, v in friedman1().items()}["x_train"] == (600, 10)
