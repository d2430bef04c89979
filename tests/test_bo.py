"""Behaviour of TimeAwareBO: the cost and its switch, refits, strategies, latency by design."""
from __future__ import annotations

import dataclasses
import gc
import math
import pickle
import threading
import time

import numpy as np
import pytest

from hpo_kit import Categorical, Goal, Integer, Observation, Real, Space, Trial, TrialStatus
from hpo_kit.engine.simulator import simulate
from hpo_kit.ledger import Ledger
from hpo_kit.decisions import Start
from hpo_kit.searchers import bo_refit
from hpo_kit.searchers.bo import TimeAwareBO
from hpo_kit.searchers.cost import Told, fit_set
from hpo_kit.searchers import surrogate as surrogate_module
from hpo_kit.searchers.surrogate import Proposal, refit, skopt_dimensions, to_config, to_point

SPACE = Space({"x": Real(0.0, 1.0), "width": Integer(16, 256, log=True)})
GOAL = Goal("loss", "min")
LOSSES = [0.9, 0.5, 0.7, 0.2, 0.4, 0.6]
SECONDS = [1.0, 4.0, 2.0, 8.0, 3.0, 5.0]


def observation(i: int, loss: float | None, seconds: float, status: TrialStatus = TrialStatus.COMPLETED,
                config: dict | None = None) -> Observation:
    config = config or {"x": (i + 0.5) / 10, "width": 16 + 20 * i}
    return Observation(i, config, loss, status, 1, seconds, True)


def fed(opt: TimeAwareBO, n: int = len(LOSSES), concurrency: int = 1) -> TimeAwareBO:
    opt.setup(SPACE, GOAL, concurrency)
    for i in range(n):
        opt.tell(observation(i, LOSSES[i], SECONDS[i]))
    return opt


def sync(**kw) -> TimeAwareBO:
    """A synchronous searcher; ``strategy="none"`` unless given (the batch rules below are that mode's)."""
    return TimeAwareBO(n_initial_points=2, background=False, seed=1, **{"strategy": "none", **kw})


def bound(opt: TimeAwareBO) -> Ledger:
    """A ledger holding the told trials 0..5 as ended, bound to ``opt`` (as a scheduler binds the study's)."""
    ledger = Ledger(GOAL)
    ledger.restore({i: Trial(i, observation(i, 0, 0).config, status=TrialStatus.COMPLETED)
                    for i in range(len(LOSSES))}, [])
    opt.bind(ledger.trials)
    return ledger


def started(opt: TimeAwareBO, ledger: Ledger) -> Start:
    """Ask for the ledger's next trial and record it running, as the engine does."""
    tid = ledger.next_id()
    start = opt.ask(tid)
    ledger.create(start.config, 1, info=start.info)
    ledger.start(tid, "w")
    return start


def test_cost_adds_b_times_seconds_then_switch_retells_whole_history_as_loss():
    opt = fed(sync(b=0.5, time_unit="seconds"))
    assert isinstance(opt.ask(6), Start)
    assert opt.surrogate.yi == pytest.approx([l + 0.5 * t for l, t in zip(LOSSES, SECONDS)])
    opt.switch()
    assert opt.state()["phase"] == "switched"
    assert opt.surrogate.yi == pytest.approx(LOSSES), "the switch must re-tell every result as Z = L"


def test_median_time_unit_makes_b_a_fraction_of_loss_per_median_trial():
    opt = fed(sync(b=0.1))
    opt.ask(6)
    median = float(np.median(SECONDS))
    assert opt.surrogate.yi == pytest.approx([l + 0.1 * t / median for l, t in zip(LOSSES, SECONDS)])
    assert "median" in opt.state()["cost"]


def test_changing_b_refits_on_the_whole_history():
    opt = fed(sync(b=0.1, time_unit="seconds"))
    opt.ask(6)
    refits = opt.state()["refits"]
    opt.update(b=1.0)
    assert opt.state()["refits"] == refits + 1
    assert opt.surrogate.yi == pytest.approx([l + 1.0 * t for l, t in zip(LOSSES, SECONDS)])


def test_switch_by_finished_trials():
    opt = fed(sync(b=0.5, switch_after_trials=4), n=3)
    assert opt.phase == "time-aware"
    opt.tell(observation(3, LOSSES[3], SECONDS[3]))
    assert opt.phase == "switched" and opt.state()["switched"]["n_finished"] == 4
    assert opt.surrogate.yi == pytest.approx(LOSSES[:4])


def test_switch_by_elapsed_seconds_on_the_given_clock():
    now = [0.0]
    opt = fed(sync(b=0.5, switch_after_seconds=10, clock=lambda: now[0]))
    opt.ask(6)
    assert opt.phase == "time-aware"
    now[0] = 10.5
    start = opt.ask(7)
    assert opt.phase == "switched" and start.info["phase"] == "switched" and start.info["cost"] == "L"
    assert opt.surrogate.yi == pytest.approx(LOSSES)


def test_live_update_of_switch_point_switches_at_once():
    opt = fed(sync(b=0.5))
    opt.update(switch_after_trials=0)
    assert opt.phase == "switched"
    assert opt.surrogate.yi == pytest.approx(LOSSES)


def test_b_zero_is_standard_bo_and_the_switch_changes_no_cost():
    opt = fed(sync(b=0.0))
    opt.ask(6)
    refits = opt.state()["refits"]
    assert opt.surrogate.yi == pytest.approx(LOSSES) and opt.phase == "standard"
    opt.switch()
    assert opt.state()["refits"] == refits, "nothing to re-tell when the cost is unchanged"


def test_check_update_rejects_bad_values_in_the_callers_thread_and_changes_nothing():
    opt = TimeAwareBO(b=0.3)
    with pytest.raises(ValueError, match=r"\bb\b"):
        opt.check_update(b=-1)
    assert opt.b == 0.3
    with pytest.raises(ValueError, match="switch_after_trials"):
        opt.check_update(switch_after_trials=-1)
    assert opt.switch_after_trials is None
    opt.check_update(b=2, switch_after_seconds=5)  # valid values pass and still change nothing
    assert opt.b == 0.3 and opt.switch_after_seconds is None


def test_unknown_or_invalid_updates_raise():
    opt = fed(sync(b=0.5))
    with pytest.raises(ValueError, match="acq_func"):
        opt.update(acq_func="LCB")
    with pytest.raises(ValueError, match="b=-1"):
        opt.update(b=-1)
    with pytest.raises(ValueError, match="switch_after_trials"):
        opt.update(switch_after_trials=2.5)
    assert opt.b == 0.5


@pytest.mark.parametrize("name", ["GBRT", "dummy"])
def test_broken_skopt_models_are_refused_with_the_reason(name):
    with pytest.raises(ValueError, match="scikit-learn >= 1.6"):
        TimeAwareBO(base_estimator=name)


def test_mixed_space_maps_to_skopt_dimensions_and_back():
    from skopt import space as sk

    space = Space({"lr": Real(1e-4, 1e-1, log=True), "units": Integer(4, 64, log=True), "depth": Integer(1, 3),
                   "act": Categorical(["relu", None, (1, 2)])})
    lr, units, depth, act = skopt_dimensions(space)
    assert isinstance(lr, sk.Real) and lr.prior == "log-uniform" and (lr.low, lr.high) == (1e-4, 1e-1)
    assert isinstance(units, sk.Integer) and units.prior == "log-uniform" and (units.low, units.high) == (4, 64)
    assert isinstance(depth, sk.Integer) and depth.prior == "uniform"
    assert isinstance(act, sk.Categorical) and len(act.categories) == 3
    config = {"lr": 1e-3, "units": 8, "depth": 2, "act": (1, 2)}
    assert to_config(space, to_point(space, config)) == config


def test_proposals_on_a_mixed_space_belong_to_it():
    space = Space({"lr": Real(1e-4, 1e-1, log=True), "units": Integer(4, 64, log=True),
                   "act": Categorical(["relu", None, (1, 2)])})
    opt = TimeAwareBO(n_initial_points=3, background=False, seed=0)
    opt.setup(space, GOAL, 1)
    rng = np.random.default_rng(0)
    for i in range(5):
        c = space.sample(rng)
        opt.tell(Observation(i, c, math.log10(c["lr"]) ** 2, TrialStatus.COMPLETED, 1, 1.0, True))
    s = opt.ask(5)
    assert s.info["source"] == "surrogate" and space.validate(s.config) == s.config


def test_non_finite_and_untold_results_never_reach_the_surrogate():
    opt = fed(sync(b=0.0), n=4)
    opt.tell(observation(4, math.nan, 1.0, TrialStatus.FAILED))
    opt.tell(observation(5, None, 1.0, TrialStatus.KILLED))
    opt.tell(observation(6, math.inf, 1.0, TrialStatus.STOPPED))
    opt.tell(observation(7, 3.0, math.nan, TrialStatus.FAILED))  # a penalty with no duration
    opt.ask(8)
    # the two FAILED trials are penalties, priced at the refit (issue 26 item 5): worst 0.9 + 0.5 * range 0.7
    assert opt.surrogate.yi == pytest.approx(LOSSES[:4] + [1.25, 1.25])
    assert all(math.isfinite(y) for y in opt.surrogate.yi)


def test_constant_liar_tells_running_points_the_lowest_cost_and_none_does_not():
    none, liar = fed(sync(strategy="none")), fed(sync(strategy="constant_liar"))
    ledgers = {id(none): bound(none), id(liar): bound(liar)}
    first_none, first_liar = started(none, ledgers[id(none)]), started(liar, ledgers[id(liar)])
    assert first_none.config == first_liar.config, "with nothing running the two strategies agree"
    second_none, second_liar = started(none, ledgers[id(none)]), started(liar, ledgers[id(liar)])
    assert second_none.info["source"] == "surrogate" and second_none.info["rank"] == 1, \
        "without prediction the next worker gets the next candidate of the same batch"
    assert second_none.config != first_none.config
    assert second_liar.info["source"] == "surrogate" and second_liar.info["rank"] == 0, "the liar refits"
    assert len(liar.surrogate.Xi) == len(LOSSES) + 1 and liar.surrogate.yi[-1] == min(LOSSES)
    assert len(none.surrogate.Xi) == len(LOSSES)


def test_kriging_believer_tells_running_points_the_models_own_posterior_mean():
    opt = fed(TimeAwareBO(n_initial_points=2, background=False, seed=1))  # the default since issue 24 (bo.py)
    assert opt.strategy == "kriging_believer"
    ledger = bound(opt)
    first = started(opt, ledger)
    assert len(opt.surrogate.Xi) == len(LOSSES), "nothing runs yet: only the results"
    second = started(opt, ledger)
    assert second.info["source"] == "surrogate" and second.info["rank"] == 0, "the believer refits"
    assert second.config != first.config
    model = opt.surrogate
    assert model.Xi[-1] == to_point(SPACE, first.config) and len(model.Xi) == len(LOSSES) + 1
    # the lie is the mean of a model fitted on the six results alone, not the best cost (constant liar)
    alone = refit(SPACE, surrogate_module.Snapshot([to_point(SPACE, observation(i, 0, 0).config) for i in range(6)],
                                                   list(LOSSES), [], None, 6, 0, 1), "GP", "EI").model
    mean = alone.models[-1].predict(alone.space.transform([to_point(SPACE, first.config)]))[0]
    assert model.yi[-1] == pytest.approx(mean, rel=1e-3, abs=1e-3) and model.yi[-1] != min(LOSSES)
    scales = [m.models[-1].kernel_.k1.k2.length_scale for m in (model, alone)]
    assert np.allclose(*scales), "the believed point does not refit the kernel: the results' hyperparameters, frozen"


def test_every_worker_starts_on_its_own_random_configuration():
    opt = TimeAwareBO(n_initial_points=2, background=False)
    opt.setup(SPACE, GOAL, concurrency=5)
    starts = [opt.ask(i) for i in range(5)]
    assert [s.info["source"] for s in starts] == ["initial"] * 5
    assert len({tuple(s.config.values()) for s in starts}) == 5


def test_restore_retells_the_history_under_the_current_cost():
    trials = [Trial(i, observation(i, 0, 0).config, status=TrialStatus.COMPLETED, created=100.0 + i,
                    started=100.0 + i, ended=101.0 + i) for i in range(len(LOSSES))]
    obs = [observation(i, LOSSES[i], SECONDS[i]) for i in range(len(LOSSES))]
    opt = sync(b=0.5, time_unit="seconds")
    opt.setup(SPACE, GOAL, 1)
    opt.restore(trials, obs)
    assert opt.surrogate.yi == pytest.approx([l + 0.5 * t for l, t in zip(LOSSES, SECONDS)])
    assert opt.elapsed >= 6.0, "the restored history's span counts towards switch_after_seconds"


def test_time_aware_bo_prefers_cheap_trials_before_the_switch():
    space = Space({"x": Real(0.0, 1.0), "width": Integer(16, 256, log=True)})

    def curve(c, epoch):  # width barely helps but costs time
        return (c["x"] - 0.3) ** 2 + 0.02 * math.log(256 / c["width"])

    def run(b):
        opt = TimeAwareBO(b=b, n_initial_points=4, background=False, seed=2)
        res = simulate(opt, space, Goal("loss", "min"), curve, epoch_time=lambda c: c["width"] / 16,
                       n_workers=2, n_trials=16, max_epochs=1)
        return np.mean([t.config["width"] for t in res.trials.values() if t.id >= 4])

    assert run(1.0) < 0.5 * run(0.0)


def test_suggest_never_fits_on_the_caller_thread_even_at_400_results(monkeypatch):
    gate, fitting, fits = threading.Event(), threading.Event(), []

    def blocked_refit(space, snap, base_estimator, acq_func):
        fits.append((threading.get_ident(), snap.n_observations))
        fitting.set()
        gate.wait(30)
        return Proposal([{"x": 0.123, "width": 99}], snap.n_observations, snap.epoch, 0.0, None)

    monkeypatch.setattr(bo_refit, "refit", blocked_refit)
    opt = TimeAwareBO(n_initial_points=4, seed=0)  # background=True: the default
    opt.setup(SPACE, GOAL, 4)
    rng = np.random.default_rng(0)
    trials = [Trial(i, SPACE.sample(rng), status=TrialStatus.COMPLETED) for i in range(400)]
    opt.restore(trials, [Observation(t.id, t.config, rng.random(), t.status, 1, 1.0, True) for t in trials])
    assert fitting.wait(10), "no refit started"
    try:
        starts = [opt.ask(400 + i) for i in range(3)]  # the refit is blocked: suggest must not wait
        assert [s.info["source"] for s in starts] == ["random"] * 3
        assert starts[0].info["lacked"] == 400
    finally:
        gate.set()
    deadline = time.monotonic() + 10
    while opt.state()["last_refit"] is None and time.monotonic() < deadline:
        time.sleep(0.01)
    s = opt.ask(403)
    assert s.info["source"] == "surrogate" and s.config == {"x": 0.123, "width": 99} and s.info["lacked"] == 0
    opt.close()
    assert fits and all(ident != threading.get_ident() for ident, _ in fits)
    assert fits[0][1] == 400, "the refit batches every queued result"


def test_background_refit_thread_proposes_then_stops_cleanly():
    opt = fed(TimeAwareBO(n_initial_points=2, seed=0))
    deadline = time.monotonic() + 20
    while opt.state()["last_refit"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert opt.ask(6).info["source"] == "surrogate"
    thread = opt._thread
    assert thread.is_alive()
    opt.close()
    assert not thread.is_alive() and opt.state()["error"] is None


def test_a_dropped_policy_ends_its_thread():
    opt = TimeAwareBO(seed=0)
    opt.setup(SPACE, GOAL, 1)
    thread = opt._thread
    del opt
    gc.collect()
    thread._thread.join(5)
    assert not thread.is_alive()


def test_pickles_without_its_thread_and_restarts_one():
    opt = fed(TimeAwareBO(b=0.2, n_initial_points=2, seed=0))
    again = pickle.loads(pickle.dumps(opt))
    opt.close()
    assert again.params() == opt.params() and again.state()["n_observations"] == len(LOSSES)
    assert again._thread is not None and again._thread.is_alive()
    again.close()


def paused(i: int, loss: float, epochs: int, seconds: float = 1.0) -> Observation:
    return Observation(i, {"x": (i + 0.5) / 20, "width": 16 + 10 * i}, loss, TrialStatus.PAUSED, epochs, seconds, False)


def test_intermediate_results_fit_the_highest_budget_with_enough_points():
    opt = sync(b=0.0)  # 2-d space: n_min = 4
    opt.setup(SPACE, GOAL, 1)
    for i in range(6):
        opt.tell(paused(i, 1.0 + i / 10, epochs=1))
    opt.ask(6)
    assert opt.state()["last_refit"]["budget"] == 1 and len(opt.surrogate.yi) == 6
    for i in range(3):  # 3 < n_min trials reach budget 3: the model stays on budget 1, all six of them
        opt.tell(paused(i, 0.5 + i / 10, epochs=3))
    start = opt.ask(7)
    assert start.info["budget"] == 1 and opt.surrogate.yi == pytest.approx([1.0, 1.1, 1.2, 1.3, 1.4, 1.5])
    opt.tell(paused(3, 0.8, epochs=3))
    opt.tell(Observation(4, paused(4, 0, 1).config, 9.0, TrialStatus.FAILED, 2, 1.0, True))  # a penalty
    start = opt.ask(8)
    assert start.info["source"] == "surrogate" and start.info["budget"] == 3
    # the penalty is priced at the refit (issue 26 item 5): worst 0.8 + 0.5 * range 0.3, not the 9.0 told
    assert opt.surrogate.yi == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.95]), "budget 3's four trials and the penalty"


def test_fit_set_falls_back_to_every_trials_latest_observation():
    a1, a3, b3, c9 = (Told([x, 16], x, 1.0, e) for x, e in ((0.1, 1), (0.2, 3), (0.3, 3), (0.4, 9)))
    assert fit_set([{1: a1, 3: a3}, {9: c9}], n_min=2) == ([a3, c9], None)
    assert fit_set([{1: a1, 3: a3}, {3: b3}, {9: c9}], n_min=2) == ([a3, b3], 3)
    penalty = Told([0.5, 16], 9.0, 1.0, 2)
    assert fit_set([{3: a3}, {3: b3}, {1: a1, None: penalty}], n_min=2) == ([a3, b3, penalty], 3)


def test_restored_searcher_draws_the_same_initial_points_as_an_uninterrupted_one():
    straight = TimeAwareBO(n_initial_points=6, background=False, seed=3)
    straight.setup(SPACE, GOAL, 2)
    configs = [straight.ask(i).config for i in range(4)]
    for i in range(2):
        straight.tell(observation(i, LOSSES[i], SECONDS[i], config=configs[i]))
    restored = TimeAwareBO(**straight.params())
    restored.setup(SPACE, GOAL, 2)
    trials = [Trial(i, configs[i], status=TrialStatus.COMPLETED if i < 2 else TrialStatus.RUNNING) for i in range(4)]
    restored.restore(trials, [observation(i, LOSSES[i], SECONDS[i], config=configs[i]) for i in range(2)])
    a, b = straight.ask(4), restored.ask(4)
    assert a.info["source"] == b.info["source"] == "initial" and a.config == b.config


def test_a_refit_prepares_a_batch_for_every_worker():
    opt = fed(sync(), concurrency=4)
    starts = [opt.ask(6 + i) for i in range(4)]  # no tell in between
    assert [s.info["source"] for s in starts] == ["surrogate"] * 4
    assert [s.info["rank"] for s in starts] == [0, 1, 2, 3]
    assert len({tuple(s.config.values()) for s in starts}) == 4
    assert opt.state()["refits"] == 1 and opt.state()["last_refit"]["candidates"] == 8


def test_a_candidate_equal_to_a_running_trial_is_skipped():
    opt = fed(sync(), concurrency=2)
    ledger = bound(opt)
    first = started(opt, ledger)
    opt._used.clear()  # as if rank 0 came back in a new batch while trial 6 still runs
    again = started(opt, ledger)
    assert again.info["source"] == "surrogate" and again.info["rank"] == 1 and again.config != first.config


def test_a_cost_change_discards_the_batch():
    opt = fed(sync(b=0.5, time_unit="seconds"), concurrency=4)
    opt.ask(6)
    opt.update(b=0.0)
    start = opt.ask(7)
    assert start.info["rank"] == 0 and start.info["cost"] == "L"


def test_synchronous_refits_take_ranks_1_only_on_demand_and_the_same_ones(monkeypatch):
    calls = []
    ranked_pool = surrogate_module.ranked_pool  # the acquisition over the pool: the costly half of a batch
    monkeypatch.setattr(surrogate_module, "ranked_pool", lambda *a: calls.append(1) or ranked_pool(*a))
    opt = fed(sync(), concurrency=4)
    starts = [opt.ask(6 + i) for i in range(4)]  # no tell in between: the batch is completed once
    assert [s.info["rank"] for s in starts] == [0, 1, 2, 3] and len(calls) == 1
    eager = refit(SPACE, dataclasses.replace(opt._snapshot(), lazy=False), "GP", "EI")
    assert [s.config for s in starts] == eager.configs[:4] and len(eager.configs) == 8
    calls.clear()
    for i in range(6, 9):  # each ask follows a tell, so it takes rank 0 of a new refit and no batch
        opt.tell(observation(i, 0.3, 1.0, config=starts[i - 6].config))
        assert opt.ask(i + 4).info["rank"] == 0
    assert calls == [] and opt.state()["refits"] == 4


def test_pending_trials_are_the_ledgers_a_discarded_kill_included():
    opt = fed(sync(strategy="constant_liar"), concurrency=2)
    ledger = bound(opt)
    first, second = started(opt, ledger), started(opt, ledger)
    assert opt.state()["n_pending"] == 2
    ledger.end_step(6, TrialStatus.KILLED, discard=True)  # the engine tells no policy of a discard
    assert opt.state()["n_pending"] == 1 == sum(not t.status.is_terminal for t in ledger)
    started(opt, ledger)
    assert opt.surrogate.Xi[len(LOSSES):] == [to_point(SPACE, second.config)], "only trial 7 runs: one liar point"
    assert first.config != second.config


@pytest.mark.parametrize("seed", range(4))
def test_a_configuration_already_evaluated_is_never_proposed_again(seed):
    # Six configurations, five evaluated, the best sharply at k=2: the acquisition's optimum is an
    # evaluated one, where skopt's ask() substitutes a uniformly random point (often evaluated too).
    space = Space({"k": Integer(0, 5), "act": Categorical(["relu"])})
    opt = TimeAwareBO(n_initial_points=2, background=False, seed=seed)
    opt.setup(space, GOAL, 2)
    for k, loss in ((0, 0.9), (1, 0.3), (2, 0.01), (3, 0.35), (5, 0.95)):
        opt.tell(Observation(k, {"k": k, "act": "relu"}, loss, TrialStatus.COMPLETED, 1, 1.0, True))
    start = opt.ask(5)
    assert start.info["source"] == "surrogate" and start.config == {"k": 4, "act": "relu"}
    assert opt._proposal.complete(space).configs == [{"k": 4, "act": "relu"}], "evaluated ones among the ranks"


@pytest.mark.parametrize("min_distance, rank", [(0.1, 1), (0.0, 0)])
def test_a_candidate_near_a_running_trial_is_skipped(min_distance, rank):
    best = fed(sync(), concurrency=2).ask(6).config  # rank 0 on these six results
    opt = fed(sync(min_distance=min_distance), concurrency=2)
    ledger = bound(opt)
    ledger.create({"x": min(1.0, best["x"] + 0.01), "width": best["width"]}, 1)  # trial 6 runs next to it
    ledger.start(6, "w")
    start = opt.ask(7)
    assert start.info["source"] == "surrogate" and start.info["rank"] == rank
    assert (start.config == best) == (rank == 0)


def test_min_distance_is_checked():
    with pytest.raises(ValueError, match="min_distance"):
        TimeAwareBO(min_distance=1.5)
