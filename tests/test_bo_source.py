"""``study.results`` says where each configuration came from (issue 24: the ``source`` column)."""
from __future__ import annotations

import pytest

from hpo_kit import Goal, Real, Space, Trial, TrialStatus
from hpo_kit.engine.simulator import simulate
from hpo_kit.results import COLUMNS, trials_frame
from hpo_kit.searchers.bo import TimeAwareBO

GOAL = Goal("loss", "min")


def trial(i: int, info: dict | None) -> Trial:
    t = Trial(i, {"x": i / 10}, status=TrialStatus.COMPLETED,
              reports=[{"epoch": 1, "t": 0.0, "metrics": {"loss": i / 10}}])
    if info is not None:
        t.info = info  # what the trial record keeps of its Start's info (Ledger.create)
    return t


def test_the_source_column_reads_each_trials_start_info():
    df = trials_frame([trial(0, {"source": "initial"}), trial(1, {"source": "surrogate", "rank": 0}),
                       trial(2, {"source": "random", "lacked": 3}), trial(3, {"bracket": 0}), trial(4, None)], GOAL)
    assert list(df["source"][:3]) == ["initial", "surrogate", "random"] and df["source"][3:].isna().all()
    assert "source" in COLUMNS and "source" in trials_frame([], GOAL).columns


def test_a_bo_study_shows_initial_then_surrogate_sources_in_its_results():
    space = Space({"x": Real(0.0, 1.0)})
    res = simulate(TimeAwareBO(n_initial_points=3, background=False, seed=0), space, GOAL,
                   lambda c, e: (c["x"] - 0.3) ** 2, epoch_time=1.0, n_workers=1, n_trials=6, max_epochs=1)
    df = trials_frame(res.trials.values(), GOAL)
    assert list(df["source"]) == ["initial"] * 3 + ["surrogate"] * 3
