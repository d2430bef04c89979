"""Regression tests of the core refactor: what ``Study.resume(path)`` rebuilds, on a real cluster.

Split from ``test_core.py`` (same conventions: each failed on f344c31).
"""
from __future__ import annotations

import json
import os
import re
import warnings

import pytest

from hpo_kit import ASHA, Categorical, RandomSearch, Real, Study, TrialStatus, read_journal
from hpo_kit.testing import quadratic

from test_core import _count, _inner, _until  # noqa: E402 - the shared waits of the core tests

X = {"x": Real(0.0, 1.0)}
SETTLED = (TrialStatus.PAUSED, TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.KILLED, TrialStatus.FAILED)


def _events(path, name):
    return [r for r in read_journal(path) if r["event"] == name]


# 8 ---------------------------------------------------------------------------------------------
def _is_asha_2_4_5(policy):
    return (policy.name, policy.r_min, policy.eta, policy.seed, _inner(policy).seed) == ("asha", 2, 4, 5, 5)


def _is_random_7(policy):
    return (_inner(policy).name, _inner(policy).seed) == ("random", 7)


@pytest.mark.parametrize("make, rebuilt", [(lambda: ASHA(r_min=2, eta=4, seed=5), _is_asha_2_4_5),
                                           (lambda: RandomSearch(seed=7), _is_random_7)], ids=["asha", "random"])
def test_resume_without_the_pickle_rebuilds_the_journals_policy_and_settings(client, journal, make, rebuilt):
    space = {**X, "sleep": Categorical([0.05])}
    study = Study(quadratic, space, optimizer=make(), n_trials=40, max_epochs=8, checkpoint_every=2,
                  max_retries=5, on_interrupted="fail", keep_paused=1, cluster=client, journal=journal).start()
    _until(lambda: _count(study, *SETTLED) >= 3)
    study.stop()
    assert study.state == "stopped"
    os.remove(f"{journal}.pkl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Study.resume(journal, objective=quadratic, cluster=client, n_trials=len(study.trials) + 2)
    assert rebuilt(again.optimizer), f"resume built {again.optimizer.name} {vars(again.optimizer)}"
    assert (again.checkpoint_every, again.max_retries, again.on_interrupted, again.keep_paused) == (2, 5, "fail", 1)
    assert again.max_epochs == 8
    assert any(issubclass(w.category, RuntimeWarning) and "journal" in str(w.message) for w in caught), \
        "the rebuilt policy came without a warning"
    again.run(progress=False)  # the rebuilt policy carries the study on
    assert again.state == "finished" and len(again.trials) == len(study.trials) + 2
    assert [r["state"] for r in _events(journal, "study_end")] == ["stopped", "finished"]


# 15 --------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*is damaged and was skipped")  # _events reads the damaged journal too
def test_a_damaged_middle_line_never_lets_an_id_be_reused(client, journal):
    space = {**X, "epochs": Categorical([2])}
    first = Study(quadratic, space, n_trials=4, cluster=client, journal=journal).run(progress=False)
    before = {t.id: [(r["epoch"], r["metrics"]) for r in t.reports] for t in first.trials.values()}
    assert all(t.status is TrialStatus.COMPLETED for t in first.trials.values())
    lines = journal.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines)
             if json.loads(line)["event"] == "trial_create" and json.loads(line)["trial"] == 1)
    assert 0 < i < len(lines) - 1
    lines[i] = "#~ not json at all ~#\n"
    journal.write_text("".join(lines))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Study.resume(journal, cluster=client, n_trials=7)
    ended = again.start().wait(30)
    if not ended:
        again.stop()
    assert ended, "the resumed study never reached n_trials=7 (one id handed out again and again?)"
    created = [r["trial"] for r in _events(journal, "trial_create")]
    assert len(created) == len(set(created)), f"an id was handed out twice: {created}"
    assert 1 not in created, "the damaged trial's id was reused"
    assert sorted(again.trials) == [0, 2, 3, 4, 5, 6, 7]
    for tid in (0, 2, 3):
        t = again.trials[tid]
        assert t.status is TrialStatus.COMPLETED and [(r["epoch"], r["metrics"]) for r in t.reports] == before[tid]
    (resumed,) = _events(journal, "study_resume")
    assert resumed.get("damaged") == [i + 1]
    assert any(issubclass(w.category, UserWarning) and re.search(rf"line {i + 1}\b", str(w.message)) for w in caught), \
        f"no warning named line {i + 1}: {[str(w.message) for w in caught]}"
