"""Conditional spaces (issue 25): definition and errors, sampling, grids, BO encoding, Hypersearch neighbours,
and real studies on the 2-worker cluster (random, grid, BO, ASHA, resume) down to the results frame and the panel."""
from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from hpo_kit import ASHA, Categorical, GridSearch, Integer, RandomSearch, Real, Space, Study, read_journal
from hpo_kit.conditions import Condition
from hpo_kit.goal import Goal
from hpo_kit.schedulers import Hyperband, Hypersearch, SuccessiveHalving
from hpo_kit.schedulers.hypersearch import neighbour
from hpo_kit.searchers import conditional as C
from hpo_kit.searchers.bo import TimeAwareBO
from hpo_kit.searchers.surrogate import Snapshot
from hpo_kit.space import SpaceError

OPT = Space({"opt": Categorical(["sgd", "adam"]), "momentum": Real(0.0, 0.99, when=("opt", "sgd")),
             "nesterov": Categorical([False, True], when=("momentum", ">", 0.5)),  # nested: sgd and momentum > 0.5
             "lr": Real(1e-4, 1e-1, log=True)})
LAYERS = Space({"n_layers": Integer(1, 3), **{f"width_{i}": Integer(8, 64, log=True, when=("n_layers", ">=", i))
                                            for i in (2, 3)}})


def branchy(config, reporter):
    """sgd's best is 0.1 (momentum 0.9, lr 1e-2); adam's floor is 0.5; ``epochs`` epochs, loss + 1/epoch."""
    for epoch in range(1, (reporter.max_epochs or 1) + 1):
        if config["opt"] == "sgd":
            loss = 0.1 + (config["momentum"] - 0.9) ** 2 + 0.1 * config.get("nesterov", False)
        else:
            loss = 0.5
        loss += (math.log10(config["lr"]) + 2) ** 2 / 10
        reporter.report(epoch=epoch, loss=loss + 0.01 / epoch)


# -- definition and errors ---------------------------------------------------------------------
def test_when_forms_normalise_to_the_same_conditions():
    sgd = (Condition("opt", "in", ("sgd",)),)
    for when in [("opt", "sgd"), ("opt", ["sgd"]), ("opt", "in", ["sgd"]), {"opt": "sgd"}, {"opt": ["sgd"]},
                 [("opt", "sgd")], Condition("opt", "in", ("sgd",))]:
        assert Real(0, 1, when=when).when == sgd, when
    both = Real(0, 1, when=[("opt", "sgd"), ("n", ">=", 2)]).when
    assert both == (sgd[0], Condition("n", ">=", 2))
    assert Real(0, 1) == Real(0, 1, when=None) and Real(0, 1).when == ()
    assert repr(Real(0, 1)) == "Real(low=0, high=1, log=False)"  # error messages read as before


@pytest.mark.parametrize("make, words", [
    (lambda: Space({"a": Real(0, 1, when=("b", 1))}), ["'a'", "unknown parent 'b'"]),
    (lambda: Space({"a": Real(0, 1, when=("a", ">", 0.5))}), ["'a'", "itself"]),
    (lambda: Space({"a": Real(0, 1, when=("b", ">", 0.5)), "b": Real(0, 1, when=("a", "<", 0.5))}),
     ["cycle", "'a'", "'b'"]),
    (lambda: Space({"o": Categorical(["x", "y"]), "a": Real(0, 1, when=("o", "z"))}), ["'a'", "'o'", "'z'"]),
    (lambda: Space({"o": Categorical(["x"]), "a": Real(0, 1, when=("o", ">", 1))}), ["'a'", "categorical"]),
    (lambda: Space({"n": Integer(1, 3), "a": Real(0, 1, when=("n", ">=", "2"))}), ["'a'", "not a number"]),
    (lambda: Space({"n": Integer(1, 3), "a": Real(0, 1, when=("n", 7))}), ["'a'", "'n'", "[7]"]),
    (lambda: Real(0, 1, when=("opt",)), ["when=('opt',)"]),
    (lambda: Real(0, 1, when=("opt", "~", 1)), ["op '~'"]),
    (lambda: Real(0, 1, when=("opt", [])), ["no values", "'opt'"]),
    (lambda: Categorical(["a"], when=42), ["when=42"]),
])
def test_bad_conditions_are_refused_where_written_and_name_the_field(make, words):
    with pytest.raises(SpaceError) as err:
        make()
    assert all(w in str(err.value) for w in words), str(err.value)


def test_validate_requires_active_and_refuses_inactive_names():
    assert OPT.validate({"opt": "adam", "lr": 0.01}) == {"opt": "adam", "lr": 0.01}
    with pytest.raises(SpaceError, match=r"momentum=0.5 is given but 'momentum' is inactive: it needs opt in \['sgd'\]"):
        OPT.validate({"opt": "adam", "momentum": 0.5, "lr": 0.01})
    with pytest.raises(SpaceError, match=r"missing name\(s\) \['momentum'\]"):
        OPT.validate({"opt": "sgd", "lr": 0.01})
    with pytest.raises(SpaceError, match="'nesterov' is inactive: it needs momentum > 0.5"):
        OPT.validate({"opt": "sgd", "momentum": 0.2, "nesterov": True, "lr": 0.01})
    with pytest.raises(SpaceError, match="'nesterov' is inactive: its parent 'momentum' is inactive"):
        OPT.validate({"opt": "adam", "nesterov": True, "lr": 0.01})
    with pytest.raises(SpaceError, match="unknown name"):
        OPT.validate({"opt": "adam", "lr": 0.01, "beta": 1})


def test_sample_draws_parents_first_and_only_active_children():
    rng = np.random.default_rng(0)
    configs = [OPT.sample(rng) for _ in range(2000)]
    assert all(OPT.validate(c) == c for c in configs)
    assert all(("momentum" in c) == (c["opt"] == "sgd") for c in configs)
    assert all(("nesterov" in c) == (c.get("momentum", 0) > 0.5) for c in configs)
    assert 0.45 < np.mean([c["opt"] == "sgd" for c in configs]) < 0.55
    assert list(configs[0]) == [n for n in OPT if n in configs[0]]  # declaration order
    layers = Counter(len(LAYERS.sample(rng)) - 1 for _ in range(3000))
    assert set(layers) == {0, 1, 2} and all(900 < v < 1100 for v in layers.values())


def test_a_flat_space_samples_and_enumerates_exactly_as_before():
    flat = Space({"x": Real(0, 1), "w": Integer(1, 9, log=True), "c": Categorical(["a", "b"])})
    assert not flat.conditional and flat.order == ("x", "w", "c")
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert flat.sample(a) == {n: d.sample(b) for n, d in flat.items()}
    assert len(list(flat.grid(3))) == 3 * 3 * 2


def test_grid_has_only_active_combinations_and_no_duplicates():
    grid = list(OPT.grid(2))
    # sgd: momentum {0, 0.99} x (nesterov only at 0.99: 2) -> 3 branches; adam: 1; lr: 2 each
    assert len(grid) == (3 + 1) * 2
    assert len({json.dumps(c, sort_keys=True) for c in grid}) == len(grid)
    assert all(OPT.validate(c) == c for c in grid)
    assert len(list(LAYERS.grid(2))) == 1 + 0 + 2 * 2  # n in {1, 3}: 1 alone; 3 with both widths
    assert GridSearch(points_per_dimension=2).params()["points_per_dimension"] == 2


def test_journal_round_trip_and_unit_map():
    spec = json.loads(json.dumps(OPT.to_dict()))
    assert spec["momentum"]["when"] == [["opt", "in", ["sgd"]]]
    assert spec["nesterov"]["when"] == [["momentum", ">", 0.5]] and "when" not in spec["opt"]
    again = Space.from_dict(spec)
    assert again == OPT and again.order == OPT.order
    u = OPT.to_unit({"opt": "adam", "lr": 0.01})
    assert math.isnan(u[1]) and math.isnan(u[2]) and u[3] == pytest.approx(2 / 3)
    assert OPT.from_unit(np.array([0.9, 0.7, 0.9, 0.5])) == {"opt": "adam", "lr": OPT["lr"].from_unit(0.5)}
    assert set(OPT.from_unit(np.array([0.1, 0.7, 0.9, 0.5]))) == {"opt", "momentum", "nesterov", "lr"}


# -- BO encoding -------------------------------------------------------------------------------
def test_bo_encoding_imputes_out_of_range_with_an_indicator_and_decodes_to_valid_configs():
    dims = C.skopt_dimensions(OPT)
    assert [d.name for d in dims] == ["opt", "momentum", "momentum:active", "nesterov", "lr"]
    assert dims[1].bounds == (C.INACTIVE, 1.0) and dims[2].bounds == (0, 1) and len(dims[3].categories) == 3
    adam = {"opt": "adam", "lr": 0.01}
    assert C.to_point(OPT, adam) == [1, C.INACTIVE, 0, 2, pytest.approx(2 / 3)]
    rng = np.random.default_rng(1)
    for config in [OPT.sample(rng) for _ in range(200)]:
        back = C.to_config(OPT, C.to_point(OPT, config))
        assert back.keys() == config.keys() and back["opt"] == config["opt"]
        assert all(back[k] == pytest.approx(v) for k, v in config.items())
    # a point skopt made up (momentum active under adam) decodes to a valid configuration
    assert C.to_config(OPT, [1, 0.4, 1, 1, 0.5]) == {"opt": "adam", "lr": OPT["lr"].from_unit(0.5)}
    units = C.unit_coordinates(OPT, [adam, {"opt": "sgd", "momentum": 0.0, "lr": 0.01}])
    assert np.linalg.norm(units[0] - units[1]) > 1.0  # inactive is far from every active value


@pytest.mark.parametrize("estimator", ["GP", "RF"])
def test_refit_fits_the_encoding_and_proposes_valid_configurations_near_the_best_branch(estimator):
    rng = np.random.default_rng(2)
    configs = [OPT.sample(rng) for _ in range(24)]
    losses = [0.5 if c["opt"] == "adam" else (c["momentum"] - 0.9) ** 2 for c in configs]
    snap = Snapshot([C.to_point(OPT, c) for c in configs], losses, [], None, 24, 0, 3, batch=4)
    proposal = C.refit(OPT, snap, estimator, "EI")
    assert len(proposal.configs) == 4 and all(OPT.validate(c) == c for c in proposal.configs)
    assert proposal.config["opt"] == "sgd"
    more = proposal.extend(OPT, 8)
    assert more.configs[:4] == proposal.configs and len({json.dumps(c) for c in more.configs}) == 8


# -- Hypersearch ---------------------------------------------------------------------------------
def test_neighbours_switch_children_on_and_off_with_their_parent():
    rng = np.random.default_rng(4)
    sgd = {"opt": "sgd", "momentum": 0.9, "nesterov": True, "lr": 0.01}
    near = [neighbour(OPT, sgd, rng, sigma=0.05, p_categorical=0.5) for _ in range(400)]
    assert all(OPT.validate(c) == c for c in near)
    adam = [c for c in near if c["opt"] == "adam"]
    assert 150 < len(adam) < 250 and all(set(c) == {"opt", "lr"} for c in adam)  # children dropped
    back = [neighbour(OPT, {"opt": "adam", "lr": 0.01}, rng, p_categorical=1.0) for _ in range(200)]
    assert all(c["opt"] == "sgd" and "momentum" in c for c in back)  # activated: drawn afresh
    assert {"nesterov" in c for c in back} == {True, False}
    kept = neighbour(OPT, sgd, rng, sigma=0.3, keep=("momentum",))
    assert kept.get("momentum", 0.9) == 0.9


def test_hypersearch_sessions_on_a_conditional_space():
    from hpo_kit.engine.simulator import simulate

    def curve(config, epoch):
        return (0.1 if config["opt"] == "sgd" else 0.5) + abs(math.log10(config["lr"]) + 2) + 1.0 / epoch

    opt = Hypersearch(S=4, m=3, seed=1, searcher=RandomSearch(seed=1))
    res = simulate(opt, OPT, Goal("val_loss", "min"), curve, lambda c: 1.0, n_workers=2, max_epochs=6)
    assert opt.finished and len(res.trials) == 4 + 2 * 3
    assert all(OPT.validate(t.config) == t.config for t in res.trials.values())


@pytest.mark.parametrize("make", [
    lambda: SuccessiveHalving(n_configs=8, r_min=1, eta=2, searcher=TimeAwareBO(n_initial_points=3, background=False)),
    lambda: Hyperband(r_min=1, eta=2, seed=3, searcher=TimeAwareBO(n_initial_points=3, background=False, seed=3)),
    lambda: ASHA(r_min=1, eta=2, seed=4, searcher=GridSearch(points_per_dimension=2))], ids=["sha", "hyperband", "asha"])
def test_rung_schedulers_wrap_searchers_on_a_conditional_space(make):
    from hpo_kit.engine.simulator import simulate

    def curve(config, epoch):
        return (0.1 if config["opt"] == "sgd" else 0.5) + abs(math.log10(config["lr"]) + 2) + 1.0 / epoch

    res = simulate(make(), OPT, Goal("loss", "min"), curve, 1.0, n_workers=2, n_trials=16, max_epochs=4)
    assert len(res.trials) >= 8 and all(OPT.validate(t.config) == t.config for t in res.trials.values())
    assert max(t.epochs for t in res.trials.values()) == 4  # promotions happened


# -- real studies on the cluster -----------------------------------------------------------------
def _check_study(study, space, n):
    configs = [t.config for t in study.trials.values()]
    assert len(configs) == n and all(space.validate(c) == c for c in configs)
    df = study.results
    cols = [c for c in df.columns if c.startswith("config.")]
    assert list(df.columns[:len(cols)]) == cols == [f"config.{n}" for n in space if f"config.{n}" in cols]
    sgd = df["config.opt"] == "sgd"
    assert df.loc[~sgd, "config.momentum"].isna().all() and df.loc[sgd, "config.momentum"].notna().all()
    return df


@pytest.mark.parametrize("make", [lambda: RandomSearch(seed=1), lambda: GridSearch(points_per_dimension=2),
                                  lambda: TimeAwareBO(n_initial_points=4, background=False, seed=1),
                                  lambda: ASHA(r_min=1, eta=2, seed=1)],
                         ids=["random", "grid", "bo", "asha"])
def test_study_on_a_conditional_space(client, journal, make):
    n = 8
    study = Study(branchy, OPT, metric="loss", optimizer=make(), n_trials=n, max_epochs=2, cluster=client,
                  journal=journal)
    study.run(progress=False)
    df = _check_study(study, OPT, n)
    if isinstance(study.optimizer, GridSearch):  # the whole grid, each active combination once
        key = lambda c: json.dumps(c, sort_keys=True)  # noqa: E731
        assert sorted(map(key, (t.config for t in study.trials.values()))) == sorted(map(key, OPT.grid(2)))
    created = [r["config"] for r in read_journal(journal) if r["event"] == "trial_create"]
    assert created == [t.config for t in study.trials.values()]  # the journal holds no inactive names
    if isinstance(study.optimizer, TimeAwareBO):  # the model proposed, on the conditional encoding
        sources = [r["info"]["source"] for r in read_journal(journal) if r["event"] == "trial_create"]
        assert sources.count("surrogate") >= 2 and df.score.notna().all()


def test_asha_over_bo_and_resume_on_a_conditional_space(client, journal):
    study = Study(branchy, OPT, metric="loss", n_trials=6, max_epochs=4, cluster=client, journal=journal,
                  optimizer=ASHA(r_min=1, eta=2, seed=2, searcher=TimeAwareBO(n_initial_points=3, background=False,
                                                                              base_estimator="RF", seed=2)))
    study.run(progress=False)
    _check_study(study, OPT, 6)
    again = Study.resume(journal, cluster=client, n_trials=10)
    assert again.space == OPT
    again.run(progress=False)
    _check_study(again, OPT, 10)
    start = next(r for r in read_journal(journal) if r["event"] == "study_start")
    assert Space.from_dict(start["space"]) == OPT


def test_panel_views_leave_inactive_cells_blank(client, journal):
    from bokeh.document import Document

    from hpo_kit.ui import importance as I
    from hpo_kit.ui.plots import StudyPlots
    from hpo_kit.ui.trials import table_columns

    study = Study(branchy, OPT, metric="loss", optimizer=RandomSearch(seed=5), n_trials=12, max_epochs=1,
                  cluster=client, journal=journal)
    study.run(progress=False)
    records = list(read_journal(journal))
    specs = OPT.to_dict()
    table = table_columns(records, specs)
    adam = [i for i, o in enumerate(table["config.opt"]) if o == "adam"]
    assert adam and all(table["config.momentum"][i] == "" for i in adam)
    lines, _ = I.parallel_coordinates(records, specs)
    assert any(math.isnan(ys[1]) for ys in lines["ys"])
    cols = I.slices(records, specs)
    assert any(math.isnan(v) for v in cols["config.momentum"]) and "" in cols["config.nesterov"]
    imp = I.importance(records, specs, min_trials=5)
    assert set(imp["param"]) == set(OPT) and imp["param"][0] in ("opt", "momentum")  # the branch matters
    plots = StudyPlots("loss", ("curves", "parallel", "importance", "slice"), specs=specs)
    assert plots.update(records)
    Document().add_root(plots.layout)  # the figures build with blank cells


@pytest.mark.slow
def test_benchmark_smoke():
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "conditional.py"), "--seeds", "2",
                           "--trials", "12", "--arms", "random,BO cond. RF"], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| k | arm | median regret | 95% CI | hits |" in proc.stdout and "| 10 | BO cond. RF |" in proc.stdout
    assert "BO cond. RF below random" in proc.stdout
