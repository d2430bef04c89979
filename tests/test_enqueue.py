"""Known configurations: ``study.enqueue`` / ``Study(enqueue=...)`` run first, journalled, kept by a resume."""
from __future__ import annotations

import warnings

import pytest

from hpo_kit import Categorical, Goal, GridSearch, RandomSearch, Real, Study, read_journal
from hpo_kit.engine.audit import audited
from hpo_kit.engine.journal import JournalWarning
from hpo_kit.testing import quadratic

SPACE = {"x": Real(0.0, 1.0), "sleep": Categorical([0.0, 0.3])}


class Recording(RandomSearch):
    """A random searcher that keeps what it was told (ids and configs), for the tests."""

    def setup(self, space, goal, concurrency=1):
        super().setup(space, goal, concurrency)
        self.told = []

    def tell(self, obs):
        self.told.append((obs.trial_id, dict(obs.config), obs.loss))


def _enqueues(path):
    return [r["value"] for r in read_journal(path) if r["event"] == "control" and r["action"] == "enqueue"]


@pytest.mark.parametrize("config, word", [
    ({"x": 0.5}, "missing name.*sleep"), ({"x": 1.5, "sleep": 0.0}, "x=1.5 is outside"),
    ({"x": 0.5, "sleep": 0.0, "y": 1}, "unknown name.*'y'"), ("x=0.5", "config='x=0.5' must be a mapping"),
])
def test_a_bad_configuration_is_refused_naming_the_field(config, word, journal):
    study = Study(quadratic, SPACE, n_trials=1, journal=journal)
    with pytest.raises(ValueError, match=word):
        study.enqueue(config)
    with pytest.raises(ValueError, match="Study: enqueue"):
        Study(quadratic, SPACE, n_trials=1, journal=journal, enqueue=[{"x": 0.5, "sleep": 0.0}, config])
    assert study.enqueued == [] and study.state == "created"


def test_enqueued_configurations_run_first_and_the_searcher_is_told(client, journal):
    searcher = Recording(seed=1)
    study = Study(quadratic, SPACE, n_trials=5, max_epochs=2, cluster=client, journal=journal, searcher=searcher,
                  enqueue=[{"x": 0.3, "sleep": 0.0}])
    study.enqueue({"x": 0.7, "sleep": 0.0})
    assert study.enqueued == [{"x": 0.3, "sleep": 0.0}, {"x": 0.7, "sleep": 0.0}]
    study.run(progress=False)
    df = study.results
    assert len(df) == 5  # enqueued trials count toward n_trials
    assert list(df.source[:2]) == ["enqueued", "enqueued"] and list(df["config.x"][:2]) == [0.3, 0.7]
    assert set(df.source[2:]) == {"random"}
    assert [study.trials[i].info["enqueued"] for i in (0, 1)] == [0, 1]
    told = {tid: config for tid, config, _ in study.optimizer.searcher.told}
    assert told[0] == {"x": 0.3, "sleep": 0.0} and told[1] == {"x": 0.7, "sleep": 0.0}
    assert _enqueues(journal) == [{"id": 0, "config": {"x": 0.3, "sleep": 0.0}},
                                  {"id": 1, "config": {"x": 0.7, "sleep": 0.0}}]
    assert study.enqueued == []
    with pytest.raises(RuntimeError, match="finished"):
        study.enqueue({"x": 0.1, "sleep": 0.0})


def test_an_enqueue_while_running_starts_next(client, journal):
    study = Study(quadratic, SPACE, n_trials=8, max_epochs=2, cluster=client, journal=journal,
                  searcher=RandomSearch(seed=2), enqueue=[{"x": 0.5, "sleep": 0.3}] * 3).start()
    try:
        fut = study.enqueue({"x": 0.25, "sleep": 0.0}, reason="a hunch")
        k = fut.result(timeout=60)
        before = set(study.trials)  # the loop applied it: no searcher's trial from now on comes before it
    finally:
        study.wait(120)
    t = next(t for t in study.trials.values() if t.info.get("enqueued") == k)
    assert t.config == {"x": 0.25, "sleep": 0.0} and t.info == {"source": "enqueued", "enqueued": k} and k == 3
    later = [u.id for u in study.trials.values() if u.id not in before and u.info["source"] == "random"]
    assert later and min(later) > t.id
    rec = [r for r in read_journal(journal) if r["event"] == "control" and r["action"] == "enqueue"][-1]
    assert rec["reason"] == "a hunch" and rec["source"] == "user"


def test_waiting_configurations_survive_a_resume(client, journal):
    configs = [{"x": round(0.1 * i, 1), "sleep": 0.0} for i in range(1, 5)]
    Study(quadratic, SPACE, n_trials=2, max_epochs=2, cluster=client, journal=journal, enqueue=configs,
          searcher=RandomSearch(seed=3)).run(progress=False)
    again = Study.resume(journal, cluster=client, n_trials=6, enqueue=[{"x": 0.9, "sleep": 0.0}])
    assert again.enqueued == configs[2:] + [{"x": 0.9, "sleep": 0.0}]
    again.run(progress=False)
    df = again.results
    assert list(df["config.x"][:5]) == [0.1, 0.2, 0.3, 0.4, 0.9]
    assert list(df.source) == ["enqueued"] * 5 + ["random"]
    assert [v["id"] for v in _enqueues(journal)] == [0, 1, 2, 3, 4]  # each journalled once


def test_enqueued_configurations_run_after_a_finished_grid(client, journal):
    study = Study(quadratic, {"x": Real(0.0, 1.0)}, max_epochs=1, cluster=client, journal=journal,
                  optimizer=GridSearch(points_per_dimension=2), enqueue=[{"x": 0.3}])
    study.run(progress=False)
    assert list(study.results.source) == ["enqueued", "grid", "grid"]


def test_the_audit_skips_an_enqueue_outside_the_space():
    start = {"event": "study_start", "space": {"x": {"type": "real", "low": 0.0, "high": 1.0, "log": False}}}
    good = {"event": "control", "action": "enqueue", "value": {"id": 0, "config": {"x": 0.5}}}
    bad = {"event": "control", "action": "enqueue", "value": {"id": 1, "config": {"x": 5.0}}}
    damaged = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = [n for n, _ in audited([(1, start), (2, good), (3, bad)], damaged=damaged)]
    assert kept == [1, 2] and damaged == [3]
    assert any(issubclass(w.category, JournalWarning) and "outside" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", ["random", "grid", "asha", "sha", "hypersearch", "hyperband", "bo"])
def test_every_scheduler_starts_an_enqueued_configuration_first_with_its_own_budget(name):
    from hpo_kit.known import KnownConfigs
    from hpo_kit.optimizers import make_policy
    from hpo_kit.schedulers import FIFO, SuccessiveHalving
    from hpo_kit.searchers.bo import TimeAwareBO
    from hpo_kit.space import Space

    make = {"sha": lambda: SuccessiveHalving(n_configs=9, r_min=1, eta=3),
            "bo": lambda: FIFO(TimeAwareBO(background=False))}.get(name, lambda: make_policy(name))
    space = Space({"x": Real(0.0, 1.0)})
    policy, plain = make(), make()
    for p in (policy, plain):
        p.setup(space, Goal("loss"), 9, 2, {})
    policy.known = KnownConfigs()
    policy.known.add({"x": 0.123}, journalled=True)
    start, usual = policy.suggest(0), plain.suggest(0)
    assert start.config == {"x": 0.123} and start.info["source"] == "enqueued" and start.info["enqueued"] == 0
    assert start.budget == usual.budget and start.parent == usual.parent  # a bracket, a rung: as for any point
    assert {k: v for k, v in start.info.items() if k not in ("source", "enqueued")} == \
        {k: v for k, v in usual.info.items() if k not in ("source", "enqueued", "phase", "cost")}
