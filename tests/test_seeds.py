"""Study seeds: fresh by default, reproducible when given, journalled, kept by a resume; a policy's own seed wins."""
from __future__ import annotations

import pytest

from hpo_kit import Real, Study
from hpo_kit.engine.replay import replay
from hpo_kit.goal import Goal
from hpo_kit.optimizers import ASHA, FIFO, RandomSearch, by_name
from hpo_kit.space import Space
from hpo_kit.testing import quadratic

SPACE = {"x": Real(0, 1), "y": Real(1e-4, 1, log=True)}


def configs(study: Study) -> list[dict]:
    return [t.config for _, t in sorted(study.trials.items())]


def run(client, path, n_trials=4, **kw) -> Study:
    study = Study(quadratic, SPACE, n_trials=n_trials, max_epochs=1, cluster=client, journal=path, **kw)
    return study.run(progress=False)


def test_fresh_seeds_differ_a_given_seed_repeats_and_is_journalled(client, tmp_path):
    a, b = run(client, tmp_path / "a.jsonl"), run(client, tmp_path / "b.jsonl")
    assert a.seed != b.seed and configs(a) != configs(b)
    c, d = run(client, tmp_path / "c.jsonl", seed=7), run(client, tmp_path / "d.jsonl", seed=7)
    assert configs(c) == configs(d)
    start = replay(tmp_path / "a.jsonl").start
    assert start["settings"]["seed"] == a.seed and start["optimizer"]["searcher"]["seed"] == a.seed
    c.save(tmp_path / "saved.jsonl")  # a journal rewritten from memory keeps the seed too
    assert replay(tmp_path / "saved.jsonl").start["settings"]["seed"] == 7


def test_a_resumed_study_draws_on_as_an_uninterrupted_one(client, tmp_path):
    whole = run(client, tmp_path / "whole.jsonl", n_trials=6, seed=11)
    run(client, tmp_path / "half.jsonl", n_trials=3)  # a fresh seed: the journal's is the one that counts
    half = run(client, tmp_path / "cut.jsonl", n_trials=3, seed=11)
    resumed = Study.resume(tmp_path / "cut.jsonl", n_trials=6, cluster=client)
    assert resumed.seed == 11
    resumed.run(progress=False)
    assert configs(resumed) == configs(whole) and configs(resumed)[:3] == configs(half)


def test_a_policy_built_with_a_seed_keeps_it(client, tmp_path):
    own = run(client, tmp_path / "own.jsonl", searcher=RandomSearch(seed=3), seed=99)
    same = run(client, tmp_path / "same.jsonl", seed=3)
    assert configs(own) == configs(same)
    assert own.optimizer.searcher.seed == 3 and own.seed == 99


def test_schedulers_pass_the_study_seed_to_their_searcher():
    asha = ASHA(r_min=1, eta=2, r_max=4)
    Study(quadratic, SPACE, optimizer=asha, max_epochs=4, seed=5)
    assert (asha.seed, asha.searcher.seed) == (5, 5)
    mixed = ASHA(r_min=1, eta=2, r_max=4, searcher=RandomSearch(seed=1))
    Study(quadratic, SPACE, optimizer=mixed, max_epochs=4, seed=5)
    assert (mixed.seed, mixed.searcher.seed) == (5, 1)
    reused = FIFO(RandomSearch())  # one object, two studies: each takes its own study's seed
    Study(quadratic, SPACE, optimizer=reused, seed=1)
    Study(quadratic, SPACE, optimizer=reused, seed=2)
    assert reused.searcher.seed == 2


def test_bo_and_random_start_apart_without_a_seed():
    space, goal = Space(SPACE), Goal("loss", "min", "best")
    firsts = []
    for name in ("random", "bo"):
        study = Study(quadratic, SPACE, optimizer=by_name(name))
        study.optimizer.setup(space, goal, None, 1)
        firsts.append([study.optimizer.suggest(i).config for i in range(3)])
        study.optimizer.close()
    assert firsts[0] != firsts[1]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "7"])
def test_a_bad_seed_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="seed="):
        Study(quadratic, SPACE, seed=bad)
