"""Hypersearch: neighbourhoods stay in the space, sessions and budgets follow the paper, copies are real copies."""
from __future__ import annotations

import copy
import functools
import math
import sys
from typing import Any

import numpy as np
import pytest

from hpo_kit import Categorical, CheckpointStore, Goal, Integer, Real, Space, Study, Trainable, TrialStatus
from hpo_kit.decisions import Resume, Start
from hpo_kit.engine.simulator import SimResult, simulate
from hpo_kit.ensemble import ensemble_predict, final_ensemble
from hpo_kit.ledger import Ledger
from hpo_kit.schedulers import Hypersearch
from hpo_kit.schedulers.hypersearch import neighbour, reflect
from hpo_kit.searchers import RandomSearch

GOAL = Goal("val_loss", "min")
ALL_TYPES = Space({"lr": Real(1e-5, 1e-1, log=True), "drop": Real(0.0, 0.5), "width": Integer(8, 512, log=True),
                   "depth": Integer(1, 4), "act": Categorical(["relu", "tanh", "gelu"]),
                   "batch": Categorical([16, 32, 64, 128]), "only": Categorical(["x"])})


def curve(config: dict, epoch: int) -> float:
    return abs(math.log10(config["lr"]) + 3) + config["drop"] + 1.0 / epoch


def uneven(config: dict) -> float:
    return 0.2 + config["depth"] * 0.3


# -- the neighbourhood -------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5, 3.0])
@pytest.mark.parametrize("categorical", ["shift", "resample"])
def test_neighbours_stay_inside_the_space(sigma, categorical):
    rng = np.random.default_rng(0)
    corners = [ALL_TYPES.from_unit(np.zeros(len(ALL_TYPES))), ALL_TYPES.from_unit(np.ones(len(ALL_TYPES)))]
    starts = corners + [ALL_TYPES.sample(rng) for _ in range(20)]
    for config in starts:
        for _ in range(100):
            near = neighbour(ALL_TYPES, config, rng, sigma=sigma, p_categorical=0.5, categorical=categorical)
            assert ALL_TYPES.validate(near) == near
            assert isinstance(near["width"], int) and isinstance(near["depth"], int)


def test_neighbourhood_is_log_aware_and_local():
    rng = np.random.default_rng(1)
    config = {"lr": 1e-3, "drop": 0.25, "width": 64, "depth": 2, "act": "tanh", "batch": 32, "only": "x"}
    draws = [neighbour(ALL_TYPES, config, rng, sigma=0.05) for _ in range(4000)]
    decades = np.log10([d["lr"] for d in draws]) + 3
    assert abs(np.median(decades)) < 0.02  # symmetric in log space: multiplicative steps
    assert 0.15 < np.std(decades) < 0.25  # sigma 0.05 of a 4-decade axis = 0.2 decade
    assert abs(np.median([d["drop"] for d in draws]) - 0.25) < 0.01
    batch_moves = {d["batch"] for d in draws}
    assert batch_moves == {16, 32, 64}  # one step at most in the declared order
    kept = np.mean([d["act"] == "tanh" for d in draws])
    assert 0.72 < kept < 0.78  # p_categorical = 0.25


def test_categorical_resample_and_sigma_per_dimension():
    rng = np.random.default_rng(2)
    config = {"lr": 1e-3, "drop": 0.25, "width": 64, "depth": 2, "act": "relu", "batch": 16, "only": "x"}
    draws = [neighbour(ALL_TYPES, config, rng, sigma={"lr": 0.0, "drop": 0.0, "width": 0.0, "depth": 0.0},
                       p_categorical=1.0, categorical="resample") for _ in range(300)]
    assert {d["batch"] for d in draws} == {32, 64, 128} and {d["act"] for d in draws} == {"tanh", "gelu"}
    assert all(d["lr"] == pytest.approx(1e-3) and d["width"] == 64 for d in draws)


def test_reflect_folds_into_the_unit_interval():
    assert [reflect(u) for u in (0.3, -0.2, 1.2, 2.3, -1.7)] == pytest.approx([0.3, 0.2, 0.8, 0.3, 0.3])


# -- sessions and budgets on the simulator -----------------------------------------------------------
def lineage_epochs(res: SimResult) -> dict[int, int]:
    """Epochs each trial's weights have seen: its own plus its parent's when it was copied."""
    out: dict[int, int] = {}
    for t in sorted(res.trials.values(), key=lambda t: t.id):
        base = 0
        if t.parent is not None:
            parent = res.trials[t.parent]
            copied = sum(r["t"] <= t.created for r in parent.reports)
            base = out[t.parent] - parent.epochs + copied
        out[t.id] = base + t.epochs
    return out


@pytest.mark.parametrize("S, m, M, workers", [(4, 3, 10, 4), (3, 4, 8, 2), (5, 2, 7, 8), (2, 1, 5, 2)])
def test_sessions_and_epoch_budget(S, m, M, workers):
    opt = Hypersearch(S=S, m=m, seed=S)
    res = simulate(opt, ALL_TYPES, GOAL, curve, uneven, n_workers=workers, max_epochs=M)
    k = M // m
    assert opt.finished and len(opt.sessions) == m
    assert len(res.trials) == S + (m - 1) * (S - 1)
    lineage = lineage_epochs(res)
    assert max(lineage.values()) == m * k and lineage[opt.best] == m * k  # the winner got the full budget
    assert all(t.epochs % k == 0 for t in res.trials.values())
    first = opt.sessions[0]
    assert len(first["members"]) == S and all(res.trials[t].parent is None for t in first["members"])
    for before, session in zip(opt.sessions, opt.sessions[1:]):
        h = before["best"]
        assert session["members"][0] == h == session["parent"]
        children = session["members"][1:]
        assert len(children) == S - 1 and all(res.trials[c].parent == h for c in children)
        # h is the best at the session's last epoch among the session's members
        at_end = {t: _loss_at_session_end(res, opt, t, before) for t in before["members"]}
        assert h == min(at_end, key=lambda t: (at_end[t], t))


def _loss_at_session_end(res: SimResult, opt: Hypersearch, tid: int, session: dict) -> float:
    index = opt.sessions.index(session)
    epochs = opt.k * sum(tid in s["members"] for s in opt.sessions[: index + 1])
    return res.trials[tid].reports[epochs - 1]["metrics"]["val_loss"]


def test_best_resumes_only_after_its_copies_loaded_its_weights():
    opt = Hypersearch(S=4, m=3, seed=0)
    res = simulate(opt, ALL_TYPES, GOAL, curve, uneven, n_workers=2, max_epochs=9)
    for session in opt.sessions[1:]:
        h, children = session["parent"], session["members"][1:]
        created = min(res.trials[c].created for c in children)
        resumed = min(start for _, tid, start, _ in res.timeline if tid == h and start >= created)
        assert resumed >= max(res.trials[c].reports[0]["t"] for c in children)


def test_trial_budget_spent_mid_session_still_finishes_the_lineage():
    opt = Hypersearch(S=4, m=3, seed=0)
    res = simulate(opt, ALL_TYPES, GOAL, curve, uneven, n_trials=6, n_workers=4, max_epochs=9)
    assert len(res.trials) == 6 and opt.finished
    assert max(lineage_epochs(res).values()) == 9


# -- driving the policy by hand through a ledger (the engine's part, without one) ----------------------------
def launch(ledger: Ledger, s: Start | Resume) -> int:
    """Apply a suggestion to the ledger as the engine does, and start its step."""
    t = ledger.create(s.config, s.budget, s.parent, s.info) if isinstance(s, Start) else ledger.resume(
        s.trial_id, s.budget, s.info)
    ledger.start(t.id, "w0")
    return t.id


def report(ledger: Ledger, tid: int, losses: list[float]) -> None:
    for value in losses:
        ledger.report(tid, {"epoch": ledger[tid].epochs + 1, "t": 0.0, "metrics": {"val_loss": value}})


def play(policy: Hypersearch, ledger: Ledger, rounds: int, log: list, workers: int = 2) -> int:
    """A lock-step fake engine (fill the workers, each running trial trains an epoch); returns rounds played."""
    for played in range(rounds):
        for t in ledger.with_status(TrialStatus.PENDING):  # requeued by a restart
            ledger.start(t.id, "w0")
        while len(ledger.with_status(TrialStatus.RUNNING)) < workers and (
                s := policy.suggest(ledger.next_id())) is not None:
            log.append(s)
            launch(ledger, s)
        running = sorted(ledger.with_status(TrialStatus.RUNNING), key=lambda t: t.id)
        if not running:
            return played
        for t in running:
            report(ledger, t.id, [curve(t.config, t.epochs + 1)])
            if t.epochs >= min(t.budget, policy.top_epochs):
                status = TrialStatus.COMPLETED if t.epochs >= policy.top_epochs else TrialStatus.PAUSED
                policy.on_result(ledger.end_step(t.id, status))
    return rounds


def started(policy: Hypersearch, max_epochs: int, workers: int, journal: Ledger | None = None):
    """``policy`` set up on a fresh ledger; with ``journal`` a restart: the ledger adopts a copy of the
    journal's trials (running steps requeued) and ``policy`` restores from it."""
    ledger = Ledger(GOAL)
    observations = ledger.restore(copy.deepcopy(dict(journal.trials)), list(journal.ends)) if journal else []
    for t in ledger.with_status(TrialStatus.RUNNING):
        ledger.requeue(t.id)
    policy.setup(ALL_TYPES, GOAL, max_epochs, workers, ledger.trials)
    if journal is not None:
        policy.restore(sorted(ledger.trials.values(), key=lambda t: t.id), observations)
    return policy, ledger


def test_failed_population_restarts_from_random_configurations():
    opt, ledger = started(Hypersearch(S=2, m=2, seed=0), 4, 2)
    for _ in range(2):
        tid = launch(ledger, opt.suggest(ledger.next_id()))
        report(ledger, tid, [math.nan, math.nan])
        opt.on_result(ledger.end_step(tid, TrialStatus.FAILED))
    assert isinstance(fresh := opt.suggest(2), Start) and fresh.parent is None and opt.session == 2


def test_restore_continues_without_repeating():
    """Cut the run after every round: the restored policy's suggestions are the uninterrupted one's."""
    make = functools.partial(Hypersearch, S=3, m=3, inherit=("act",), seed=11)
    reference, ledger = started(make(), 9, 2)
    total = play(reference, ledger, 1000, whole := [])
    assert reference.finished and len(ledger) == 3 + 2 * 2
    for cut in range(1, total):
        (first, ledger), log = started(make(), 9, 2), []
        play(first, ledger, cut, log)
        again, again_ledger = started(make(), 9, 2, journal=ledger)
        assert [s["members"] for s in again.sessions] == [s["members"] for s in first.sessions]
        play(first, ledger, 1000, rest_first := [])
        play(again, again_ledger, 1000, rest_again := [])
        assert rest_again == rest_first, f"cut after round {cut}"
        assert log + rest_again == whole and again.best == reference.best


def test_restore_reads_configurations_from_the_journal():
    space = Space({"lr": Real(1e-4, 1e-1, log=True), "width": Integer(8, 256, log=True),
                   "act": Categorical(["relu", "tanh"])})
    hand = [{"lr": 1e-2, "width": 200, "act": "tanh"}, {"lr": 1e-3, "width": 9, "act": "relu"},
            {"lr": 5e-2, "width": 50, "act": "relu"}]
    ledger, told = Ledger(GOAL), []
    for config, loss in zip(hand, (0.1, 0.5, 0.9)):
        tid = launch(ledger, Start(config, budget=3))
        report(ledger, tid, [loss + 0.2, loss + 0.1, loss])
        told.append(ledger.end_step(tid, TrialStatus.PAUSED))
    (sampler := RandomSearch(5)).setup(space, GOAL)
    assert all(sampler.ask(i).config != hand[i] for i in range(3))  # not what a replayed sampler would give
    policy = Hypersearch(S=3, m=3, sigma=0.01, inherit=("width", "act"), seed=5)
    policy.setup(space, GOAL, 9, 3, ledger.trials)
    policy.restore(sorted(ledger.trials.values(), key=lambda t: t.id), told)
    child = policy.suggest(3)
    assert child.parent == 0 and policy.sessions[0]["best"] == 0 and child.info == {"session": 2, "source": "neighbour"}
    assert (child.config["width"], child.config["act"]) == (200, "tanh")  # inherited from the journal's config
    near = neighbour(space, hand[0], policy.rng(3, stream=1), 0.01, 0.25, "shift")
    assert child.config == {**near, "width": 200, "act": "tanh"} and abs(math.log10(child.config["lr"]) + 2) < 0.2


def test_top_epochs_is_its_own_max_epochs():
    policy = Hypersearch(m=3, max_epochs=9)
    policy.setup(ALL_TYPES, GOAL, None, 2)
    assert policy.top_epochs == 9 and policy.k == 3  # a step at budget 3 pauses, it does not complete


@pytest.mark.parametrize("restart", [False, True])
def test_discarded_member_is_never_h_and_never_waited_for(restart):
    opt, ledger = started(Hypersearch(S=3, m=2, seed=0), 4, 3)
    ids = [launch(ledger, opt.suggest(ledger.next_id())) for _ in range(3)]
    report(ledger, ids[0], [0.01, 0.001])  # the best losses by far, but the trial is discarded
    ledger.end_step(ids[0], TrialStatus.KILLED, discard=True)  # never told
    for tid, losses in zip(ids[1:], ([0.6, 0.5], [0.4, 0.3])):
        report(ledger, tid, losses)
        opt.on_result(ledger.end_step(tid, TrialStatus.PAUSED))
    if restart:
        opt, ledger = started(Hypersearch(S=3, m=2, seed=0), 4, 3, journal=ledger)
    child = opt.suggest(ledger.next_id())
    assert isinstance(child, Start) and child.parent == ids[2] and opt.sessions[0]["best"] == ids[2]
    # In session 2 a child discarded before its first epoch does not hold back h's Resume either.
    ledger.end_step(launch(ledger, child), TrialStatus.KILLED, discard=True)
    second = launch(ledger, opt.suggest(ledger.next_id()))
    assert opt.suggest(ledger.next_id()) is None  # the second child has not loaded h's weights yet
    report(ledger, second, [0.2])
    assert opt.suggest(ledger.next_id()) == Resume(ids[2], 4, info={"session": 2})


def test_invalid_parameters_name_the_field():
    with pytest.raises(ValueError, match="m=5"):
        Hypersearch(S=2, m=5).setup(ALL_TYPES, GOAL, 4, 1)
    with pytest.raises(ValueError, match="categorical"):
        Hypersearch(categorical="swap")


# -- a real study: the copies start from the best network's weights -------------------------------------
class Fingerprinted(Trainable):
    """Linear regression by SGD; every report carries the weights this step started from (float64, exact)."""

    def setup(self, config: dict[str, Any], data: Any) -> None:
        import torch

        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 4, generator=g, dtype=torch.float64)
        self.y = self.x @ torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64)
        seed = int(config["lr"] * 1e9) % 2**31  # each fresh trial starts from its own random weights
        self.w = torch.randn(4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.lr, self.steps, self.start = config["lr"], config["steps"], None

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if self.start is None:
            self.start = self.w.clone()
        for _ in range(self.steps):
            self.w = self.w - self.lr * 2 * self.x.T @ (self.x @ self.w - self.y) / len(self.x)
        loss = float(((self.x @ self.w - self.y) ** 2).mean())
        return {"val_loss": loss, **{f"w_start_{i}": float(v) for i, v in enumerate(self.start)}}

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w = state["w"].clone()

    def predict(self, inputs: Any) -> Any:
        return inputs @ self.w


def test_real_study_copies_the_best_weights(tmp_path):
    import cloudpickle
    import torch

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    space = Space({"lr": Real(1e-3, 5e-2, log=True), "steps": Integer(1, 3)})
    opt = Hypersearch(S=3, m=3, seed=0)
    study = Study(Fingerprinted, space, metric="val_loss", optimizer=opt, max_epochs=6, n_workers=2,
                  journal=tmp_path / "hs.jsonl", checkpoints=CheckpointStore(str(tmp_path / "ckpt"), keep=100))
    study.run(progress=False)

    def started_from(tid: int, epoch: int) -> torch.Tensor:  # the weights a step began with
        metrics = next(r["metrics"] for r in study.trials[tid].reports if r["epoch"] == epoch)
        return torch.tensor([metrics[f"w_start_{i}"] for i in range(4)], dtype=torch.float64)

    assert opt.finished and len(study.trials) == 3 + 2 * 2
    for index, session in enumerate(opt.sessions[1:], start=1):
        h = session["parent"]
        copied_at = opt.k * sum(h in s["members"] for s in opt.sessions[:index])  # h's epochs at the copy
        _, state = study.store.load(h, epoch=copied_at)
        for child in session["members"][1:]:
            assert study.trials[child].parent == h
            assert torch.equal(started_from(child, 1), state["w"]), f"trial {child} did not start from {h}"
            fresh = Fingerprinted()
            fresh.setup(study.trials[child].config, None)
            assert not torch.equal(fresh.w, state["w"])  # not its own random initialisation
            assert study.trials[child].config != study.trials[h].config
        assert torch.equal(started_from(h, copied_at + 1), state["w"])  # h resumed from its checkpoint
    results = study.results
    assert results.loc[opt.sessions[1]["members"][1], "parent"] == opt.sessions[1]["parent"]

    ensemble = final_ensemble(study)
    assert sorted(ensemble.members) == sorted(opt.final_population())
    x = torch.eye(4, dtype=torch.float64)
    mean = ensemble.predict(x)
    assert torch.allclose(mean, sum(m.predict(x) for m in ensemble.models) / 3)
    assert torch.allclose(ensemble_predict(ensemble.models[:1], x), ensemble.best.predict(x))
    assert ensemble.scores[0] == min(ensemble.scores)


def test_inherited_dimensions_are_copied_from_the_best():
    space = Space({"lr": Real(1e-3, 1.0, log=True), "width": Integer(8, 256, log=True),
                   "act": Categorical(["relu", "tanh"])})
    policy = Hypersearch(S=4, m=3, inherit=("width", "act"), sigma=0.5, seed=1)
    res = simulate(policy, space, Goal("loss"), lambda c, e: abs(np.log10(c["lr"]) + 1) / e, n_workers=4,
                   max_epochs=9)
    children = [t for t in res.trials.values() if t.parent is not None]
    assert children
    for t in children:
        parent = res.trials[t.parent].config
        assert (t.config["width"], t.config["act"]) == (parent["width"], parent["act"])
    assert any(t.config["lr"] != res.trials[t.parent].config["lr"] for t in children)
    with pytest.raises(ValueError, match="inherit"):
        Hypersearch(inherit=("depth",)).setup(space, Goal("loss"), 9, 2)


# -- a Hypersearch a user can trust --------------------------------------------------------------------
class CopiesFail(Fingerprinted):
    """As Fingerprinted, but a trial started from another trial's weights fails in its first epoch."""

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.clone(), "lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w, self.copied = state["w"].clone(), state["lr"] != self.lr  # its own checkpoint: same lr

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if getattr(self, "copied", False):
            raise RuntimeError("this copy cannot train")
        return super().train_epoch(epoch)


def test_final_ensemble_leaves_out_failed_members_and_names_them(tmp_path):
    import cloudpickle

    from hpo_kit.ensemble import MissingMembers

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    space = Space({"lr": Real(1e-3, 5e-2, log=True), "steps": Integer(1, 3)})
    opt = Hypersearch(S=3, m=2, seed=0)
    study = Study(CopiesFail, space, metric="val_loss", optimizer=opt, max_epochs=2, n_workers=2, max_retries=0,
                  journal=tmp_path / "hs.jsonl", checkpoints=CheckpointStore(str(tmp_path / "ckpt"), keep=100))
    study.run(progress=False)
    h, *children = opt.final_population()
    assert len(children) == 2 and all(study.trials[c].status is TrialStatus.FAILED for c in children)
    with pytest.warns(MissingMembers) as record:
        ensemble = final_ensemble(study)
    message = str(record[0].message)
    assert all(f"trial {c}: FAILED" in message for c in children) and "cannot train" in message
    assert ensemble.members == [h] and set(ensemble.skipped) == set(children)
    assert ensemble.best.w.shape == (4,)
    with pytest.raises(ValueError, match="no member has weights"):
        final_ensemble(study, members=children)


def test_function_objective_is_refused_where_weights_must_flow():
    from hpo_kit.inherit import check_objective
    from hpo_kit.optimizers import ASHA

    def objective(config, reporter):
        reporter.report(epoch=1, val_loss=1.0)

    with pytest.raises(TypeError, match=r"'objective' is a function.*Trainable"):
        check_objective(objective, Hypersearch())
    check_objective(Fingerprinted, Hypersearch())  # a Trainable: fine
    check_objective(objective, ASHA())  # ASHA copies no weights between trials


def _torch_error(parent: dict, child: dict) -> BaseException:
    """The error torch raises when ``child``'s model and optimizer take ``parent``'s state."""
    import torch

    def build(config):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, config["width"]), torch.nn.ReLU(),
                                    torch.nn.Linear(config["width"], 1))
        make = {"adam": torch.optim.Adam, "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)}
        return model, make[config["optimizer"]](model.parameters(), lr=config["lr"])

    def step(model, opt):
        opt.zero_grad()
        model(torch.ones(2, 3)).sum().backward()
        opt.step()

    model, opt = build(parent)
    step(model, opt)
    state = {"model": model.state_dict(), "opt": opt.state_dict()}
    model, opt = build(child)
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step(model, opt)  # the first epoch after the copy
    except Exception as exc:  # noqa: BLE001 - the error under test
        return exc
    raise AssertionError("the state fitted")


@pytest.mark.parametrize("change, culprit", [({"optimizer": "sgd"}, "optimizer"), ({"width": 16}, "width")])
def test_a_state_that_does_not_fit_names_the_dimensions_to_inherit(change, culprit):
    from hpo_kit.inherit import InheritError, explain_load_error

    parent = {"optimizer": "adam", "width": 8, "lr": 0.01}
    child = {**parent, **change, "lr": 0.02}
    exc = _torch_error(parent, child)
    err = explain_load_error(exc, child, parent, trial_id=7, parent_id=3)
    assert isinstance(err, InheritError) and err.dimensions == (culprit,)  # lr changed too, but is a float
    text = str(err)
    assert f"inherit=('{culprit}',)" in text and "trial 7" in text and "trial 3" in text
    assert type(exc).__name__ in text and f"{culprit}: {parent[culprit]!r} -> {child[culprit]!r}" in text
    only_floats = explain_load_error(KeyError("x"), {"lr": 0.1}, {"lr": 0.2})
    assert only_floats.dimensions == ("lr",)
    same = explain_load_error(KeyError("x"), parent, parent)
    assert same.dimensions == () and "equals the parent's" in str(same)


def test_state_mismatch_is_told_from_other_errors_of_a_first_epoch():
    from hpo_kit.inherit import looks_like_state_mismatch

    parent = {"optimizer": "adam", "width": 8, "lr": 0.01}
    assert looks_like_state_mismatch(_torch_error(parent, {**parent, "optimizer": "sgd"}))  # KeyError: 'momentum'
    assert looks_like_state_mismatch(_torch_error(parent, {**parent, "width": 16}))  # size mismatch
    assert not looks_like_state_mismatch(ZeroDivisionError("division by zero"))
    assert not looks_like_state_mismatch(RuntimeError("CUDA out of memory"))
