"""Faults of Trainable trials (issue 26: items 1 and 9b), on the embedded 2-worker LocalCluster.

Each test failed before its fix (noted per test).
"""
from __future__ import annotations

import json
import os
import threading

import pytest

from hpo_kit import Real, Study, TrialStatus, read_journal
from hpo_kit.engine.replay import replay
from hpo_kit.testing import CountingTrainable

LR = {"lr": Real(0.01, 0.1)}


def _drop(path, keep) -> None:
    """Rewrite the journal without the lines ``keep(record)`` refuses (what a lost message leaves)."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if keep(json.loads(line))))


# 1 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gap", [False, True], ids=["end-lost", "end-and-a-report-lost"])
def test_a_trainable_resumed_at_its_budget_completes_from_its_checkpoint(client, journal, gap):
    # Before: trial 1 ended FAILED ("report: epoch=4 is beyond this step's budget of 3 epochs") with an
    # epoch-4.pt written past the budget; with a lost report its journalled epochs stayed [1, 3].
    first = Study(CountingTrainable, LR, n_trials=3, max_epochs=3, cluster=client, journal=journal).run(progress=False)
    before = {tid: t.reports for tid, t in first.trials.items()}
    assert all(t.status is TrialStatus.COMPLETED for t in first.trials.values())

    def keep(rec):
        if rec.get("trial") != 1:
            return True
        return rec["event"] != "trial_end" and not (gap and rec["event"] == "report" and rec["epoch"] == 2)
    _drop(journal, keep)
    assert [r["epoch"] for r in replay(journal).trials[1].reports] == ([1, 3] if gap else [1, 2, 3])

    again = Study.resume(journal, cluster=client)
    again.run(progress=False)
    t = again.trials[1]
    assert t.status is TrialStatus.COMPLETED, t.error
    assert sorted(os.listdir(f"{journal}.ckpt/trial-1")) == ["epoch-2.pt", "epoch-3.pt"], "an epoch past the budget"
    # The checkpoint's reports, not a retraining: the same metrics (the worker's pid included) as first reported.
    assert [(r["epoch"], r["metrics"]) for r in t.reports] == [(r["epoch"], r["metrics"]) for r in before[1]]
    assert [r["epoch"] for r in replay(journal).trials[1].reports] == [1, 2, 3], "the journal kept the gap"
    ends = [r for r in read_journal(journal) if r["event"] == "trial_end" and r["trial"] == 1]
    assert [r["status"] for r in ends] == ["COMPLETED"]
