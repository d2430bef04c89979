"""best_params / best_value, callbacks at each trial's end, and the INFO log line per trial (hpo_kit.callbacks)."""
from __future__ import annotations

import logging
import threading

import pytest

from hpo_kit import Real, Study
from hpo_kit.engine.audit import replay_audited
from hpo_kit.engine.journal import read_journal
from hpo_kit.testing import failing, quadratic

SPACE = {"x": Real(0, 1)}


def test_best_params_and_value_raise_before_a_score_then_name_the_best(client, journal):
    study = Study(quadratic, SPACE, n_trials=4, max_epochs=2, cluster=client, journal=journal, seed=1)
    with pytest.raises(ValueError, match="best_value: no trial"):
        study.best_value
    with pytest.raises(ValueError, match="best_params: no trial"):
        study.best_params
    study.run(progress=False)
    scores = {t.id: t.score(study.goal) for t in study.trials.values()}
    best = min(scores, key=scores.get)
    assert study.best_value == scores[best] and study.best_params == study.trials[best].config
    study.best_params["x"] = -1.0  # a copy
    assert study.best_params == study.trials[best].config


def test_callbacks_see_every_end_a_raising_one_is_journalled_and_the_log_says_each_trial(client, journal, caplog):
    seen: list[tuple[int, str, float | None]] = []

    def record(study, trial):
        seen.append((trial.id, trial.status.value, study.best_value if trial.status.value == "COMPLETED" else None))

    def broken(study, trial):
        raise RuntimeError(f"callback bug on {trial.id}")

    caplog.set_level(logging.INFO, logger="hpo_kit")
    study = Study(failing, SPACE, n_trials=6, cluster=client, journal=journal, seed=3, callbacks=[broken, record])
    study.run(progress=False)
    assert study.state == "finished" and sorted(i for i, _, _ in seen) == list(range(6))
    statuses = {t.id: t.status.value for t in study.trials.values()}
    assert {i: s for i, s, _ in seen} == statuses and {"FAILED", "COMPLETED"} <= set(statuses.values())
    errors = [r for r in read_journal(journal) if r["event"] == "callback_error"]
    assert [r["trial"] for r in errors] == [i for i, _, _ in seen]
    assert errors[0]["callback"].endswith("broken") and "callback bug" in errors[0]["error"]
    lines = [r.getMessage() for r in caplog.records if r.name == "hpo_kit" and r.levelno == logging.INFO]
    for t in study.trials.values():
        assert any(f"trial {t.id} {t.status.value} score=" in m and "config={'x': " in m for m in lines), lines
    assert any(r.levelno == logging.ERROR and "callback" in r.getMessage() for r in caplog.records)
    rep = replay_audited(journal)  # the new record is accepted: nothing damaged, the trials intact
    assert rep.damaged == [] and len(rep.trials) == 6


def test_callbacks_run_on_the_loop_thread_stop_the_study_and_come_back_with_a_resume(client, journal):
    threads, ids = set(), []

    def stop_after_two(study, trial):
        threads.add(threading.current_thread())
        ids.append(trial.id)
        if len(ids) == 2:
            study.stop()  # must not wait for the loop that runs it

    study = Study(quadratic, SPACE, n_trials=40, max_epochs=1, cluster=client, journal=journal, concurrency=1,
                  callbacks=[stop_after_two], seed=2)
    study.start()
    assert study.wait(120)
    assert study.state == "stopped" and threads == {study._thread} and len(study.trials) < 40
    later: list[int] = []
    resumed = Study.resume(journal, n_trials=len(study.trials) + 2, cluster=client,
                           callbacks=[lambda s, t: later.append(t.id)])
    resumed.run(progress=False)
    assert later and min(later) >= len(ids) - 1 and len(resumed.trials) == len(study.trials) + 2


@pytest.mark.parametrize("bad, field", [(print, "callbacks="), ([print, 3], r"callbacks\[1\]"), ("f", "callbacks=")])
def test_bad_callbacks_are_refused_by_name(bad, field):
    with pytest.raises(TypeError, match=field):
        Study(quadratic, SPACE, callbacks=bad)


def test_log_to_stderr_adds_one_handler_to_the_hpo_kit_logger_only():
    import hpo_kit

    root = list(logging.getLogger().handlers)
    log = hpo_kit.log_to_stderr()
    again = hpo_kit.log_to_stderr(logging.DEBUG)
    try:
        ours = [h for h in log.handlers if getattr(h, "_hpo_kit", False)]
        assert again is log and log.name == "hpo_kit" and len(ours) == 1 and log.level == logging.DEBUG
        assert logging.getLogger().handlers == root  # Dask's INFO lines stay where they were
    finally:
        for h in ours:
            log.removeHandler(h)
        log.setLevel(logging.NOTSET)
