"""A study end to end on a real LocalCluster: results, journal, faults."""
from __future__ import annotations

import math
import time

import pytest

from hpo_kit import Categorical, GridSearch, Real, Space, Study, TrialStatus, replay
from hpo_kit.examples import digits, digits_mlp, digits_space
from hpo_kit.results import trials_frame
from hpo_kit.testing import count_loads, failing, hang_if, nan_loss, pid_and_sleep, quadratic

X = Space({"x": Real(0.0, 1.0)})


def test_real_torch_study_end_to_end(client, journal):
    study = Study(digits_mlp, digits_space(), metric="val_loss", n_trials=6, max_epochs=3, data=digits,
                  cluster=client, journal=journal)
    study.run(progress=False)
    df = study.results
    assert len(df) == 6 and set(df.status) == {"COMPLETED"}
    assert (df.epochs == 3).all() and df.worker.notna().all()
    assert {"config.lr", "config.width", "last.val_acc", "score", "duration", "busy", "traceback"} <= set(df.columns)
    best = study.best_trial
    assert best.score(study.goal) == df.score.min()
    assert best.reports[-1]["metrics"]["val_acc"] > 0.1  # it trained
    # the journal, read back, tells the same story as the results
    rep = replay(journal)
    again = trials_frame(rep.trials.values(), study.goal)
    cols = ["status", "score", "epochs", "worker", "error"]
    assert again[cols].equals(df[cols])
    assert [t.config for t in rep.trials.values()] == [t.config for t in study.trials.values()]


def test_failing_objective_is_recorded_and_study_goes_on(client, journal):
    study = Study(failing, X, metric="loss", n_trials=10, cluster=client, journal=journal,
                  optimizer=GridSearch(points_per_dimension=10))
    study.run(progress=False)
    df = study.results
    failed = df[df.status == "FAILED"]
    assert len(failed) == 5 and len(df[df.status == "COMPLETED"]) == 5
    assert failed.error.str.contains("RuntimeError: boom").all()
    assert failed.traceback.str.contains("raise RuntimeError").all()
    assert (failed.epochs == 1).all()  # the report before the failure is kept


def test_nonfinite_metrics_are_recorded_not_fatal(client, journal):
    study = Study(nan_loss, X, metric="loss", n_trials=10, cluster=client, journal=journal,
                  optimizer=GridSearch(points_per_dimension=10))
    study.run(progress=False)
    df = study.results
    assert (df.status == "COMPLETED").all()
    values = [t.reports[0]["metrics"]["loss"] for t in study.trials.values()]
    assert sum(math.isnan(v) for v in values) == 5 and sum(math.isinf(v) for v in values) == 1
    assert df.score.isna().sum() == 6  # no finite score
    assert study.best_trial.config["x"] == pytest.approx(1 / 9)


def test_hung_trial_times_out_and_study_goes_on(journal):
    space = Space({"x": Real(0.0, 1.0), "hang": Categorical([True, False])})
    study = Study(hang_if, space, metric="loss", n_trials=4, trial_timeout=4.0, n_workers=2, journal=journal,
                  optimizer=GridSearch(points_per_dimension=2), prefetch=0)
    t0 = time.time()
    study.run(progress=False)
    df = study.results
    assert time.time() - t0 < 120
    hung = df[df["config.hang"]]
    assert (hung.status == "FAILED").all() and hung.error.str.contains("TrialTimeout").all()
    assert (df[~df["config.hang"]].status == "COMPLETED").all()


def test_reports_reach_the_driver_while_the_trial_runs(client, journal):
    seen = []
    study = Study(pid_and_sleep, {"x": Real(0, 1), "sleep": Categorical([0.4]), "epochs": Categorical([4])},
                  metric="loss", n_trials=1, cluster=client, journal=journal)
    study.listeners.append(lambda rec: seen.append((rec["event"], time.time())))
    study.run(progress=False)
    first_report = next(t for e, t in seen if e == "report")
    end = next(t for e, t in seen if e == "trial_end")
    assert end - first_report > 0.8  # epochs 2-4 still ran after the driver had epoch 1


def test_data_is_loaded_once_per_worker(client, journal, tmp_path):
    import functools

    log = tmp_path / "loads.txt"

    def objective(config, reporter):
        reporter.report(epoch=1, loss=config["x"], loader=reporter.data["loaded_by"])

    study = Study(objective, X, metric="loss", n_trials=12, cluster=client, journal=journal,
                  data=functools.partial(count_loads, str(log)))
    study.run(progress=False)
    loads = log.read_text().split()
    assert len(loads) == len(set(loads)) <= 2
    assert {t.reports[0]["metrics"]["loader"] for t in study.trials.values()} <= {float(p) for p in loads}


@pytest.mark.parametrize("kwargs, word", [
    ({"n_trials": 0}, "n_trials=0"), ({"max_epochs": -1}, "max_epochs=-1"), ({"time_budget": 0}, "time_budget=0"),
    ({"trial_timeout": -5}, "trial_timeout=-5"), ({"optimizer": "nope"}, "optimizer='nope'"),
    ({"on_flag": "maybe"}, "on_flag='maybe'"), ({"prefetch": -1}, "prefetch=-1"), ({"mode": "up"}, "mode='up'"),
    ({"concurrency": 1.5}, "concurrency=1.5"),
])
def test_bad_study_settings_name_the_field(kwargs, word):
    with pytest.raises(ValueError, match=word.replace("(", r"\(")):
        Study(quadratic, X, metric="loss", **kwargs)


def test_trial_status_is_an_enum(client, journal):
    study = Study(quadratic, X, metric="loss", n_trials=2, cluster=client, journal=journal).run(progress=False)
    assert all(isinstance(t.status, TrialStatus) for t in study.trials.values())


def test_a_journal_holding_a_study_is_not_overwritten(client, journal):
    Study(quadratic, X, metric="loss", n_trials=1, cluster=client, journal=journal).run(progress=False)
    with pytest.raises(FileExistsError, match="Study.resume"):
        Study(quadratic, X, metric="loss", n_trials=1, cluster=client, journal=journal).run(progress=False)
