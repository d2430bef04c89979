"""ASHA and synchronous SHA: the seed's tables counted from simulated runs, and promotion order on toy curves."""
from __future__ import annotations

import math

import pytest

from hpo_kit import Goal, Integer, Observation, Real, Space, TrialStatus
from hpo_kit.engine.simulator import SimResult, simulate
from hpo_kit.optimizers import ASHA, Resume, Start, SuccessiveHalving
from hpo_kit.optimizers.asha import Rung, next_promotion, promotable, rung_budgets, rung_loss
from hpo_kit.optimizers.sha import sync_promotions

SPACE = Space({"x": Real(0.0, 1.0), "w": Integer(1, 8)})
GOAL = Goal("val_loss", "min")


def curve(config: dict, epoch: int) -> float:
    """Quality ``x``; every configuration improves with epochs, so ranks never cross."""
    return config["x"] + 1.0 / epoch


def uneven(config: dict) -> float:
    """Seconds per epoch: 0.25 to 2, set by ``w`` (uneven trial durations)."""
    return 0.25 * config["w"]


def scripted(values: list[float]):
    """A curve whose configurations get the qualities ``values`` in the order they first report."""
    seen: dict[tuple, float] = {}

    def f(config: dict, epoch: int) -> float:
        key = tuple(sorted(config.items()))
        if key not in seen:
            seen[key] = values[len(seen)]
        return seen[key] + 1.0 / epoch

    return f


def reached(res: SimResult, budgets: list[int]) -> list[int]:
    """How many trials the run trained to at least each budget (counted from the trials, not a formula)."""
    return [sum(t.epochs >= r for t in res.trials.values()) for r in budgets]


def window_utilisation(res: SimResult, horizon: float) -> float:
    busy = sum(max(0.0, min(end, horizon) - start) for _, _, start, end in res.timeline)
    return busy / (res.n_workers * horizon)


# -- the seed's tables -------------------------------------------------------------------------
@pytest.mark.parametrize("n, eta, budgets", [(27, 3, [1, 3, 9, 27]), (256, 4, [1, 4, 16, 64, 256])])
def test_sha_reproduces_the_seed_table(n, eta, budgets):
    res = simulate(SuccessiveHalving(n_configs=n, r_min=1, eta=eta, seed=1), SPACE, GOAL, curve, uneven,
                   n_workers=8, max_epochs=budgets[-1])
    assert reached(res, budgets) == [n // eta ** k for k in range(len(budgets))]
    assert {t.epochs for t in res.trials.values()} <= set(budgets), "a trial trained between rungs"
    # each rung kept exactly the best 1/eta of the one below (ranks never cross on this curve)
    by_x = sorted(res.trials.values(), key=lambda t: t.config["x"])
    for k, r in enumerate(budgets):
        assert {t.id for t in by_x[: n // eta ** k]} == {t.id for t in res.trials.values() if t.epochs >= r}


@pytest.mark.parametrize("n, eta, budgets", [(27, 3, [1, 3, 9, 27]), (256, 4, [1, 4, 16, 64, 256])])
def test_asha_reaches_the_same_rungs_when_configs_arrive_best_first(n, eta, budgets):
    # Asynchronous promotion with no mistake to make: each newcomer is worse than all before it.
    res = simulate(ASHA(r_min=1, eta=eta, n_configs=n, seed=1), SPACE, GOAL, scripted(list(range(n))), 1.0,
                   n_workers=4, max_epochs=budgets[-1])
    assert reached(res, budgets) == [n // eta ** k for k in range(len(budgets))]
    assert all(t.status is not TrialStatus.RUNNING for t in res.trials.values())


def test_asha_in_any_order_promotes_at_least_the_top_of_each_rung():
    n, eta, budgets = 81, 3, [1, 3, 9, 27]
    opt = ASHA(r_min=1, eta=eta, n_configs=n, seed=2)
    res = simulate(opt, SPACE, GOAL, curve, uneven, n_workers=8, max_epochs=27)
    counts = reached(res, budgets)
    assert counts[0] == n and opt.finished
    for k in range(1, len(budgets)):
        assert counts[k] >= counts[k - 1] // eta  # early promotions may add a few, never remove
    for rung in opt.rungs[0][:-1]:
        top = sorted(rung.losses, key=rung.losses.get)[: len(rung.losses) // eta]
        assert set(top) <= rung.promoted, "a top-1/eta configuration was left behind"


# -- promotion order on toy curves ---------------------------------------------------------------
def _decisions(opt, values, n_workers=1, max_epochs=9):
    log = []
    suggest = opt.suggest

    def spy(trial_id):
        s = suggest(trial_id)
        if s is not None:
            log.append(("start", trial_id, s.budget) if isinstance(s, Start) else ("resume", s.trial_id, s.budget))
        return s

    opt.suggest = spy
    simulate(opt, SPACE, GOAL, scripted(values), 1.0, n_workers=n_workers, max_epochs=max_epochs)
    return log


def test_asha_promotion_order_one_worker():
    log = _decisions(ASHA(r_min=1, eta=3, n_configs=9), [5, 3, 1, 4, 2, 0, 8, 7, 6])
    assert log == [
        ("start", 0, 1), ("start", 1, 1), ("start", 2, 1),
        ("resume", 2, 3),  # 3 in rung 0: the best (quality 1) goes up at once
        ("start", 3, 1), ("start", 4, 1), ("start", 5, 1),
        ("resume", 5, 3),  # 6 in rung 0: top 2 = {5, 2}; 2 already went
        ("start", 6, 1), ("start", 7, 1), ("start", 8, 1),
        ("resume", 4, 3),  # 9 in rung 0: top 3 adds 4 (quality 2)
        ("resume", 5, 9),  # 3 in rung 1: its best goes to the top rung
    ]


def test_sha_waits_for_the_whole_rung():
    log = _decisions(SuccessiveHalving(n_configs=9, r_min=1, eta=3), [5, 3, 1, 4, 2, 0, 8, 7, 6])
    assert log == [("start", i, 1) for i in range(9)] + [("resume", 5, 3), ("resume", 2, 3), ("resume", 4, 3),
                                                         ("resume", 5, 9)]


def test_sha_suggests_nothing_while_a_rung_runs():
    opt = SuccessiveHalving(n_configs=3, r_min=1, eta=3)
    opt.setup(SPACE, GOAL, 3, 4)
    starts = [opt.suggest(i) for i in range(3)]
    assert all(isinstance(s, Start) for s in starts) and opt.suggest(3) is None
    for tid, loss in ((0, 2.0), (1, 1.0)):
        opt.on_result(Observation(tid, starts[tid].config, loss, TrialStatus.PAUSED, 1, 1.0, False, (loss,)))
        assert opt.suggest(3) is None
    opt.on_result(Observation(2, starts[2].config, 3.0, TrialStatus.PAUSED, 1, 1.0, False, (3.0,)))
    assert opt.suggest(3) == Resume(1, 3, info={"from_rung": 1})


def test_stopped_and_failed_trials_are_never_promoted():
    opt = ASHA(r_min=1, eta=3, r_max=9)
    opt.setup(SPACE, GOAL, 9, 1)
    configs = [opt.suggest(i).config for i in range(6)]
    told = [(TrialStatus.STOPPED, 0.0), (TrialStatus.PAUSED, 1.0), (TrialStatus.PAUSED, 2.0),
            (TrialStatus.FAILED, None), (TrialStatus.PAUSED, math.nan), (TrialStatus.PAUSED, 3.0)]
    for tid, (status, loss) in enumerate(told):
        opt.on_result(Observation(tid, configs[tid], loss, status, 1, 1.0, status.is_terminal,
                                  () if loss is None else (loss,)))
    # 6 in rung 0 -> top 2 = {0 (stopped), 1}: only 1 goes, 0's place is not refilled by 2
    assert opt.suggest(6) == Resume(1, 3, info={"from_rung": 1})
    assert isinstance(opt.suggest(7), Start)


def test_simulated_nan_trials_never_climb():
    values = [math.nan if i % 3 == 0 else i for i in range(27)]
    res = simulate(ASHA(r_min=1, eta=3, n_configs=27), SPACE, GOAL,
                   lambda c, e, f=scripted(values): f(c, e), 1.0, n_workers=3, max_epochs=9)
    assert all(t.epochs == 1 for t in res.trials.values() if math.isnan(t.reports[0]["metrics"]["val_loss"]))


# -- the pure kernels ------------------------------------------------------------------------------
def test_rung_budgets():
    assert rung_budgets(1, 3, 27) == [1, 3, 9, 27]
    assert rung_budgets(1, 4, 256) == [1, 4, 16, 64, 256]
    assert rung_budgets(1, 3, 10) == [1, 3, 9, 10]  # r_max is always the top rung
    assert rung_budgets(5, 3, 5) == [5]


def test_promotable_and_scan_from_the_top():
    low = Rung(1, 3, {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4, 4: 0.5, 5: math.inf}, promoted={0})
    high = Rung(3, 9, {10: 0.5, 11: 0.1, 12: 0.2})
    waiting = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 11: 3, 12: 3}
    assert promotable(low, 3, waiting) == [1]  # top 2 = {0, 1}; 0 already went
    assert promotable(high, 3, waiting) == [11]
    assert next_promotion([low, high], 3, waiting) == (high, 11)  # the higher rung first
    del waiting[11]  # 11 runs (or stopped): its place is not given to 12
    assert next_promotion([low, high], 3, waiting) == (low, 1)
    assert promotable(Rung(1, 3, dict.fromkeys(range(3), math.inf)), 3, dict.fromkeys(range(3), 1)) == []  # broken


def test_rung_loss_follows_the_study_score_rule():
    losses = (3.0, 1.0, 2.0, math.nan)
    assert rung_loss(losses, 3, "best") == 1.0
    assert rung_loss(losses, 3, "last") == 2.0
    assert rung_loss(losses, 4, "last") == math.inf
    assert rung_loss((), 3, "best", fallback=0.5) == 0.5


def test_sync_promotions_quota():
    rung = Rung(1, 3, {i: float(i) for i in range(10)})
    assert sync_promotions(rung, 10, 3, set(range(10))) == [0, 1, 2]
    assert sync_promotions(rung, 10, 3, {5, 7, 9, 8}) == [5, 7, 8]  # failed ones are skipped
    assert sync_promotions(rung, 2, 3, {4}) == [4]  # at least one survivor


# -- brackets, restore, parameters --------------------------------------------------------------------
def test_hyperband_brackets_share_new_configurations_by_hyperband_sizes():
    opt = ASHA(r_min=1, eta=3, brackets=3)
    opt.setup(SPACE, GOAL, 27, 4)
    budgets = [opt.suggest(i).budget for i in range(45)]
    assert {b: budgets.count(b) for b in set(budgets)} == {1: 27, 3: 12, 9: 6}
    res = simulate(ASHA(r_min=1, eta=3, brackets=2, n_configs=40), SPACE, GOAL, curve, uneven, n_workers=4,
                   max_epochs=27)
    assert {t.epochs for t in res.trials.values()} <= {1, 3, 9, 27}
    assert any(t.epochs == 3 and t.reports[0]["epoch"] == 1 and t.budget == 3 for t in res.trials.values())


def test_restore_rebuilds_the_rungs_and_the_next_decision():
    opt = ASHA(r_min=1, eta=3, seed=5)
    res = simulate(opt, SPACE, GOAL, curve, uneven, n_workers=4, max_epochs=27, time_budget=30.0)
    trials = sorted(res.trials.values(), key=lambda t: t.id)
    again = ASHA(r_min=1, eta=3, seed=5)
    again.setup(SPACE, GOAL, 27, 4)
    again.restore(trials, [])
    assert [(r.losses, r.promoted) for r in again.rungs[0]] == [(r.losses, r.promoted) for r in opt.rungs[0]]
    assert any(r.promoted for r in opt.rungs[0])
    assert again.suggest(len(trials)) == opt.suggest(len(trials))


def test_sha_restore_continues_the_bracket():
    def make():
        return SuccessiveHalving(n_configs=9, r_min=1, eta=3, seed=4)

    full = simulate(make(), SPACE, GOAL, curve, uneven, n_workers=1, max_epochs=9)
    rung0_done = max(t.reports[0]["t"] for t in full.trials.values())
    first = make()  # cut just after the first of three promotions was handed out
    res = simulate(first, SPACE, GOAL, curve, uneven, n_workers=1, max_epochs=9, time_budget=rung0_done + 1e-6)
    assert first.state()["queued"] == 2
    trials = sorted(res.trials.values(), key=lambda t: t.id)
    again = make()
    again.setup(SPACE, GOAL, 9, 1)
    again.restore(trials, [])
    assert again.state() == first.state()
    assert [again.suggest(9) for _ in range(3)] == [first.suggest(9) for _ in range(3)]


def test_invalid_parameters_name_the_field():
    with pytest.raises(ValueError, match="eta"):
        ASHA(eta=1)
    with pytest.raises(ValueError, match="r_max"):
        ASHA(r_max=50).setup(SPACE, GOAL, 27, 1)
    with pytest.raises(ValueError, match="brackets"):
        ASHA(brackets=5).setup(SPACE, GOAL, 27, 1)
    with pytest.raises(ValueError, match="n_configs"):
        SuccessiveHalving(n_configs=0)


# -- utilisation -------------------------------------------------------------------------------------
def test_asha_keeps_workers_busier_than_sha_on_uneven_trials():
    sha = simulate(SuccessiveHalving(n_configs=81, r_min=1, eta=3, seed=0), SPACE, GOAL, curve, uneven,
                   n_workers=8, max_epochs=27)
    asha = simulate(ASHA(r_min=1, eta=3, seed=0), SPACE, GOAL, curve, uneven, n_workers=8, max_epochs=27,
                    time_budget=sha.wall)
    assert window_utilisation(asha, sha.wall) > sha.utilisation + 0.2
