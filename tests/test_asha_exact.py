"""ASHA exact: whatever a step decided at a rung alone, a promotion is recorded only inside the rung's top.

Eight steps in flight on a threaded LocalCluster, short epochs, so that rung results land while
other steps are deciding on their cut-offs. On the lane engine the driver recorded whatever the
worker decided (``accept_in_step``); here it checks the rung as it stands (``promote_now``).
"""
from __future__ import annotations

import time

import pytest
from distributed import Client, LocalCluster

from hpo_kit import ASHA, Real, Study, TrialStatus, read_journal
from hpo_kit.schedulers.base import Scheduler
from hpo_kit.schedulers.exact import promotion_audit
from hpo_kit.searchers import RandomSearch


def quick(config, reporter):
    for epoch in range(1, reporter.max_epochs + 1):
        time.sleep(0.002 * (1 + (epoch * 7919 + int(config["x"] * 1e6)) % 5))
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)


@pytest.fixture(scope="module")
def eight():
    with LocalCluster(n_workers=1, threads_per_worker=8, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def test_no_promotion_is_recorded_outside_its_rungs_top(eight, tmp_path):
    journal = tmp_path / "j.jsonl"
    study = Study(quick, {"x": Real(0, 1)}, n_trials=240, max_epochs=9, scheduler=ASHA(r_min=1, eta=3, seed=3),
                  cluster=eight, concurrency=8, journal=journal)
    study.run(progress=False)
    audit = promotion_audit(read_journal(journal), eta=3)
    assert audit.in_step >= 40, f"only {audit.in_step} in-step promotions: the test shows little"
    assert not audit.outside, f"{len(audit.outside)} of {audit.promotions} promotions outside the top: " \
                              f"{audit.outside[:5]}"


class CutoffsWithoutAccept(Scheduler):
    """Gives cut-offs (every trial beats them) but keeps the base accept/promote: it promotes nothing in-step."""

    name = "cutoffs-only"
    top_epochs = 4  # a trial's full length: its steps of 2 epochs may go on in-step

    def suggest(self, trial_id):
        return self.new_trial(trial_id, budget=2)

    def promote_now(self, trial_id):  # overridden: the engine promotes in-step, but this one never does
        return None

    def rung_cutoffs(self, trial_id):
        return {2: ((False, float("inf"), 10**9), 4)}


def test_a_step_decision_the_scheduler_refuses_stops_the_trial_instead_of_crashing(client, tmp_path):
    journal = tmp_path / "j.jsonl"
    study = Study(quick, {"x": Real(0, 1)}, n_trials=4, max_epochs=4, scheduler=CutoffsWithoutAccept(RandomSearch(seed=0)),
                  cluster=client, journal=journal)
    study.run(progress=False)  # on the lane engine: IllegalTransition from the base accept_in_step
    assert study.error is None
    assert all(t.epochs == 2 for t in study.trials.values())  # its speculative epochs were not recorded
    assert all(t.status is TrialStatus.STOPPED for t in study.trials.values())
    halts = [r for r in read_journal(journal) if r["event"] == "control" and r["action"] == "halt"]
    assert len(halts) == 4
