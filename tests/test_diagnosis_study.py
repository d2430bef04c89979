"""Diagnosis end to end: real torch training of broken configurations in a real Study.

One Study (2 LocalCluster workers, ``on_flag="stop"``, 20-epoch budget) runs the four broken
cases of :mod:`hpo_kit.diagnosis.cases` first, then 20 healthy seeds of the digits MLP. Each
broken trial must end STOPPED by its indicator, soon after it fired, and its worker must go
on to run another trial; at most one healthy seed may be flagged.
"""
from __future__ import annotations

import pytest

from hpo_kit import Study, TrialStatus, read_journal
from hpo_kit.diagnosis import Diagnosis
from hpo_kit.diagnosis.cases import EXPECTED, case_objective, case_space
from hpo_kit.examples.data import digits
from hpo_kit.optimizers import Optimizer, Start

BROKEN = ["huge_lr", "vanishing", "dying", "zero_lr"]
HEALTHY_SEEDS = 20
MAX_EPOCHS = 20
# A stop takes effect at the first epoch boundary after the driver has read the report; the signal
# travels while the worker trains on. Broken trials pad epochs to 0.25 s (a digits epoch takes
# ~20 ms, unlike a real one), and may run this many epochs past the finding: 2.5 s of delivery, since
# at load ~30 on 2 cores a stop once took 1.75 s (7 epochs) to land; the latest finding (LAR at 5) plus
# this is still well below the 20-epoch budget.
EPOCH_SECONDS = 0.25
DELIVERY_EPOCHS = 10


class ListSearch(Optimizer):
    """Starts the given configurations in order, then is finished."""

    name = "list"

    def __init__(self, configs: list[dict]) -> None:
        super().__init__(seed=None)
        self.configs = configs

    def suggest(self, trial_id: int) -> Start | None:
        if trial_id >= len(self.configs):
            self.finished = True
            return None
        return Start(self.configs[trial_id])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    configs = [{"case": c, "seed": 0, "epoch_seconds": EPOCH_SECONDS} for c in BROKEN]
    configs += [{"case": "healthy", "seed": s, "epoch_seconds": 0.0} for s in range(HEALTHY_SEEDS)]
    path = tmp_path_factory.mktemp("diagnosis") / "study.jsonl"
    s = Study(case_objective, case_space(HEALTHY_SEEDS), metric="val_acc", mode="max",
              optimizer=ListSearch(configs), n_trials=len(configs), max_epochs=MAX_EPOCHS, n_workers=2,
              data=digits, journal=path, monitor=Diagnosis(), on_flag="stop", name="diagnosis-test")
    return s.run(progress=False)


@pytest.mark.parametrize("trial_id, case", list(enumerate(BROKEN)))
def test_broken_trial_is_stopped_by_its_indicator_early(study, trial_id, case):
    indicator, epoch = EXPECTED[case]
    t = study.trials[trial_id]
    assert t.config["case"] == case
    assert t.status is TrialStatus.STOPPED, (t.status, t.flags, t.error)
    assert [f["indicator"] for f in t.flags] == [indicator]
    assert t.flags[0]["epoch"] == epoch
    assert indicator in t.reason
    assert t.epochs <= epoch + DELIVERY_EPOCHS < MAX_EPOCHS  # stopped well before its budget
    assert study.results.loc[trial_id, "flags"] == indicator


@pytest.mark.parametrize("trial_id", range(len(BROKEN)))
def test_worker_of_a_stopped_trial_runs_another_trial(study, trial_id):
    t = study.trials[trial_id]
    later = [o for o in study.trials.values()
             if o.id != t.id and o.worker == t.worker and o.started >= t.reports[-1]["t"]]
    assert later, f"worker {t.worker} ran nothing after trial {t.id} was stopped"


def test_stopped_trials_tell_the_optimizer_their_last_finite_score(study):
    # huge_lr reports NaN losses; its score is still its best finite accuracy.
    t = study.trials[0]
    assert study.results.loc[0, "score"] == pytest.approx(max(v for v in t.values("val_acc") if v == v))


def test_healthy_seeds_are_not_flagged(study):
    healthy = [t for t in study.trials.values() if t.config["case"] == "healthy"]
    assert len(healthy) == HEALTHY_SEEDS
    flagged = [(t.id, t.flags) for t in healthy if t.flags]
    assert len(flagged) <= 1, flagged
    completed = [t for t in healthy if t.status is TrialStatus.COMPLETED]
    assert len(completed) >= HEALTHY_SEEDS - 1
    assert all(t.epochs == MAX_EPOCHS for t in completed)
    assert min(t.score(study.goal) for t in completed) > 0.9  # they are good trials, too


def test_findings_are_journalled_with_their_numbers(study):
    flags = [r for r in read_journal(study.journal_path) if r["event"] == "flag"]
    by_trial = {r["trial"]: r for r in flags}
    for trial_id, case in enumerate(BROKEN):
        finding = by_trial[trial_id]["finding"]
        assert finding["indicator"] == EXPECTED[case][0] and by_trial[trial_id]["policy"] == "stop"
        assert finding["values"] and finding["message"].startswith(finding["indicator"])
    reports = [r for r in read_journal(study.journal_path) if r["event"] == "report" and r["trial"] == 2]
    assert all("grad_zero" in r["diag"] for r in reports)  # the Watcher's statistics travel with reports
