"""ASHA, Hyperband and SHA: the seed's tables, promotion order on toy curves, and the scheduler seam's rules."""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest

from hpo_kit import Goal, Integer, Real, Space, TrialStatus
from hpo_kit.decisions import Resume, Start
from hpo_kit.engine.simulator import SimResult, simulate
from hpo_kit.ledger import Ledger
from hpo_kit.schedulers import ASHA, Hyperband, SuccessiveHalving
from hpo_kit.schedulers.asha import Rung, history, next_promotion, promotable, ranked, rung_budgets, rung_loss
from hpo_kit.schedulers.sha import sync_promotions
from hpo_kit.trial import epoch_losses, observe

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


class Hand:
    """Drive a scheduler by hand as the engine does: decisions go to a ledger, whose Observations are told."""

    def __init__(self, opt, max_epochs: int | None = 9, workers: int = 1, goal: Goal = GOAL) -> None:
        self.opt, self.goal, self.max_epochs, self.ledger, self.told = opt, goal, max_epochs, Ledger(goal), []
        opt.setup(SPACE, goal, max_epochs, workers, self.ledger.trials)

    def next(self, n: int = 1):
        """Apply the scheduler's next ``n`` suggestions (each trial then RUNNING); returns the last."""
        for _ in range(n):
            if (s := self.opt.suggest(self.ledger.next_id())) is None:
                return None
            t = (self.ledger.create(SPACE.validate(s.config), s.budget, s.parent, s.info) if isinstance(s, Start)
                 else self.ledger.resume(s.trial_id, s.budget, s.info))
            self.ledger.start(t.id, "w0")
        return s

    def step(self, tid: int, values: dict, status: TrialStatus = TrialStatus.PAUSED, discard: bool = False):
        """Report ``values`` (epoch -> val_loss; None: a report without it), end the step, tell the scheduler."""
        for epoch, v in values.items():
            self.ledger.report(tid, {"epoch": epoch, "t": 0.0, "metrics": {} if v is None else {"val_loss": v}})
        obs = self.ledger.end_step(tid, status, discard=discard)
        if not discard:  # the engine's rule: a discarded trial is told nothing
            self.opt.on_result(obs)
            self.told.append(obs)
        else:  # ... and what it was told at earlier rungs is forgotten (Driver._end)
            self.opt.forget(tid)
        return obs

    def restored(self, opt, workers: int = 1):
        """A fresh scheduler restored from this ledger (trials in id order, observations in told order)."""
        opt.setup(SPACE, self.goal, self.max_epochs, workers, self.ledger.trials)
        opt.restore(sorted(self.ledger, key=lambda t: t.id), self.told)
        return opt


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
    h = Hand(SuccessiveHalving(n_configs=3, r_min=1, eta=3), max_epochs=3, workers=4)
    assert isinstance(h.next(3), Start) and len(h.ledger) == 3 and h.opt.suggest(3) is None
    for tid, loss in ((0, 2.0), (1, 1.0)):
        h.step(tid, {1: loss})
        assert h.opt.suggest(3) is None
    h.step(2, {1: 3.0})
    assert h.opt.suggest(3) == Resume(1, 3, info={"from_rung": 1})
    assert h.opt.suggest(3) is None, "a Resume handed out but not yet applied keeps the barrier closed"


def test_stopped_and_failed_trials_are_never_promoted():
    h = Hand(ASHA(r_min=1, eta=3, r_max=9))
    h.next(6)
    told = [(TrialStatus.STOPPED, 0.0), (TrialStatus.PAUSED, 1.0), (TrialStatus.PAUSED, 2.0),
            (TrialStatus.FAILED, None), (TrialStatus.PAUSED, math.nan), (TrialStatus.PAUSED, 3.0)]
    for tid, (status, loss) in enumerate(told):
        h.step(tid, {1: loss}, status)
    # 6 in rung 0 -> top 2 = {0 (stopped), 1}: only 1 goes, 0's place is not refilled by 2
    assert h.opt.suggest(6) == Resume(1, 3, info={"from_rung": 1})
    assert isinstance(h.opt.suggest(6), Start)


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


def test_the_sorted_rung_index_agrees_with_a_full_sort_under_any_sequence_of_changes():
    """The incremental index (ASHA's decisions without a re-sort) gives what sorting the rung gives."""
    import random

    rng = random.Random(0)
    rung = Rung(1, 3)
    for step in range(3000):
        op = rng.random()
        if op < 0.6:
            rung.add(rng.randrange(400), rng.choice([rng.random(), rng.random(), math.inf, math.nan, 0.5]))
        elif op < 0.85 and rung.losses:
            rung.promote(rng.choice(list(rung.losses)))
        elif rung.losses:
            rung.remove(rng.choice(list(rung.losses)))
        if step % 50 == 0:
            waiting = {tid: 1 for tid in rung.losses if rng.random() < 0.7}
            full = ranked(rung.losses)
            want = [t for t in full[: len(full) // 3] if t not in rung.promoted and waiting.get(t) == 1
                    and math.isfinite(rung.losses[t])]
            assert promotable(rung, 3, waiting) == want
            assert [rung.rank(t) for t in full] == list(range(len(full)))


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
    opt = Hand(ASHA(r_min=1, eta=3, brackets=3), 27, 4).opt
    budgets = [opt.suggest(i).budget for i in range(45)]
    assert {b: budgets.count(b) for b in set(budgets)} == {1: 27, 3: 12, 9: 6}
    hb = Hand(Hyperband(r_min=1, eta=3), 27, 4).opt
    assert hb.name == "hyperband" and hb.n_brackets == 4 and hb.params()["brackets"] is None
    assert sorted({hb.suggest(i).budget for i in range(40)}) == [1, 3, 9, 27]
    res = simulate(ASHA(r_min=1, eta=3, brackets=2, n_configs=40), SPACE, GOAL, curve, uneven, n_workers=4,
                   max_epochs=27)
    assert {t.epochs for t in res.trials.values()} <= {1, 3, 9, 27}
    assert any(t.epochs == 3 and t.reports[0]["epoch"] == 1 and t.budget == 3 for t in res.trials.values())


def test_sha_restore_continues_the_bracket():
    make = partial(SuccessiveHalving, n_configs=9, r_min=1, eta=3, seed=4)
    full = simulate(make(), SPACE, GOAL, curve, uneven, n_workers=1, max_epochs=9)
    rung0_done = max(t.reports[0]["t"] for t in full.trials.values())
    first = make()  # cut just after the first of three promotions was handed out
    res = simulate(first, SPACE, GOAL, curve, uneven, n_workers=1, max_epochs=9, time_budget=rung0_done + 1e-6)
    assert first.state()["queued"] == 2
    trials = sorted(res.trials.values(), key=lambda t: t.id)
    again = make()
    again.setup(SPACE, GOAL, 9, 1, res.trials)
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
    with pytest.raises(ValueError, match="Hyperband: eta"):
        Hyperband(eta=1)
    assert ASHA(r_min=2, eta=4, seed=7).params() == dict(seed=7, r_min=2, eta=4, r_max=None, n_configs=None, brackets=1)


# -- utilisation -------------------------------------------------------------------------------------
def test_asha_keeps_workers_busier_than_sha_on_uneven_trials():
    sha = simulate(SuccessiveHalving(n_configs=81, r_min=1, eta=3, seed=0), SPACE, GOAL, curve, uneven,
                   n_workers=8, max_epochs=27)
    asha = simulate(ASHA(r_min=1, eta=3, seed=0), SPACE, GOAL, curve, uneven, n_workers=8, max_epochs=27,
                    time_budget=sha.wall)
    busy = sum(max(0.0, min(end, sha.wall) - start) for _, _, start, end in asha.timeline)  # in SHA's window
    assert busy / (asha.n_workers * sha.wall) > sha.utilisation + 0.2


# -- the scheduler seam: regressions of the refactor ------------------------------------------------------
def test_a_discarded_trial_takes_no_place_in_a_rung():
    gone, never = runs = [Hand(ASHA(r_min=1, eta=3, r_max=9)) for _ in range(2)]  # trial 2 discarded / never there
    for h, n in zip(runs, (3, 2)):
        h.next(n), h.step(0, {1: 1.0}), h.step(1, {1: 2.0})
    runs[0].step(2, {1: 3.0}, TrialStatus.KILLED, discard=True)
    # Counted, the discarded trial would make 3 members: floor(3/3) = 1 promotion, Resume(0). Not counted: 2 -> Start.
    assert gone.opt.rungs == never.opt.rungs and gone.opt.rungs[0][0].losses == {0: 1.0, 1: 2.0}
    assert isinstance(s := gone.opt.suggest(3), Start) and s.budget == 1 and never.opt.suggest(2).budget == 1
    gone.opt.on_result(observe(gone.ledger[2], GOAL, None))  # told by mistake, it still counts nowhere
    again = gone.restored(ASHA(r_min=1, eta=3, r_max=9))  # nor after a restore
    assert again.rungs == never.opt.rungs and isinstance(again.suggest(3), Start)


def test_a_trial_discarded_after_a_rung_is_forgotten_there():
    h = Hand(ASHA(r_min=1, eta=3, r_max=9))
    h.next(5)
    for tid, loss in enumerate([0.5, 1.0, 2.0, 3.0, 4.0]):
        h.step(tid, {1: loss})
    assert h.next() == Resume(0, 3, info={"from_rung": 1})  # 5 members: the best goes up
    h.step(0, {2: 0.4}, TrialStatus.KILLED, discard=True)
    # Forgotten, 4 members remain and their best is due; kept, trial 0 would hold the one place (a Start).
    assert h.opt.suggest(5) == Resume(1, 3, info={"from_rung": 1})
    assert h.restored(ASHA(r_min=1, eta=3, r_max=9)).suggest(5) == Resume(1, 3, info={"from_rung": 1})


def test_sha_counts_a_discarded_member_nowhere():
    h = Hand(SuccessiveHalving(n_configs=6, r_min=1, eta=3), max_epochs=9, workers=6)
    h.next(6)
    for tid in range(5):
        h.step(tid, {1: float(tid)})
    h.step(5, {1: 9.0}, TrialStatus.KILLED, discard=True)
    # 5 members count (floor(5/3) = 1 goes up); counted, the discarded one would make it 2
    assert h.next() == Resume(0, 3, info={"from_rung": 1}) and h.opt.suggest(6) is None
    assert h.opt.state()["queued"] == 0 and 5 not in h.opt.rungs[0].losses
    again = h.restored(SuccessiveHalving(n_configs=6, r_min=1, eta=3), workers=6)  # and so does a restore
    assert again.state() == h.opt.state() and again.suggest(6) is None and again.rungs == h.opt.rungs


def test_top_epochs_is_the_schedulers_r_max_also_without_a_study_max_epochs():
    assert Hand(ASHA(r_max=9), max_epochs=None).opt.top_epochs == Hand(Hyperband(r_max=9), None).opt.top_epochs == 9
    assert SuccessiveHalving(n_configs=3, r_max=9).top_epochs is None  # resolved only at setup
    # the simulator honours it: ASHA(r_max=9) under a study of 27 epochs completes its trials at 9
    res = simulate(ASHA(r_min=1, eta=3, r_max=9, n_configs=27), SPACE, GOAL, curve, uneven, 2, max_epochs=27)
    assert max(t.epochs for t in res.trials.values()) == 9 and any(t.epochs == 3 for t in res.trials.values())
    assert any(t.epochs == 9 and t.status is TrialStatus.COMPLETED for t in res.trials.values())


def test_rungs_read_the_loss_at_their_epoch_with_sparse_reports():
    h = Hand(ASHA(r_min=2, eta=2, r_max=8), max_epochs=8, goal=(goal := Goal("val_loss", "min", score="last")))
    h.ledger.start(h.ledger.create(SPACE.sample(np.random.default_rng(0)), 4).id, "w0")
    obs = h.step(0, {2: 0.5, 4: 0.2})  # the metric every second epoch only; a rung reads it at its own epoch
    assert len(obs.losses) == 4 and all(map(math.isnan, obs.losses[::2])) and obs.losses[1::2] == (0.5, 0.2)
    assert rung_loss(obs.losses, 2, "last") == rung_loss(obs.losses, 2, "best") == 0.5  # not the 2nd report's 0.2
    assert [r.losses for r in h.opt.rungs[0]] == [{0: 0.5}, {0: 0.2}, {}] and rung_loss(obs.losses, 4, "best") == 0.2
    assert history(h.ledger[0], goal) == epoch_losses(h.ledger[0], goal)


@pytest.mark.parametrize("make", [lambda: ASHA(r_min=1, eta=3, seed=5), lambda: Hyperband(r_min=1, eta=3, seed=5),
                                  lambda: SuccessiveHalving(n_configs=9, r_min=1, eta=3, seed=5)],
                         ids=["asha", "hyperband", "sha"])
@pytest.mark.parametrize("cut", [6.0, 12.5, 30.0])
def test_restore_without_a_replay_gives_the_uninterrupted_next_suggestion(make, cut, monkeypatch):
    res = simulate(live := make(), SPACE, GOAL, curve, uneven, n_workers=4, max_epochs=27, time_budget=cut)
    run = res.ledger
    if (s := live.suggest(run.next_id())) is not None:  # handed out; it reports to its budget, then a crash
        t = run.create(s.config, s.budget) if isinstance(s, Start) else run.resume(s.trial_id, s.budget)
        run.start(t.id, "w0")
        for epoch in range(t.epochs + 1, t.budget + 1):
            run.report(t.id, {"epoch": epoch, "t": 0.0, "metrics": {"val_loss": curve(t.config, epoch)}})
    ledger = Ledger(GOAL)  # the journal's view: trials, and the observations in told order
    told = ledger.restore(dict(res.trials), list(run.ends))
    (again := make()).setup(SPACE, GOAL, 27, 4, ledger.trials)
    with monkeypatch.context() as m:  # configurations come from the journal, never from a replayed RNG
        m.setattr(Space, "sample", lambda *_: pytest.fail("restore redrew a configuration"))
        again.restore(sorted(ledger, key=lambda t: t.id), told)
    assert again.rungs == live.rungs and again.state() == live.state()
    assert again.suggest(ledger.next_id()) == live.suggest(ledger.next_id())
