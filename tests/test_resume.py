"""A study survives its driver: SIGKILL the driver process, resume from the journal."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hpo_kit import Study, read_journal
from hpo_kit.engine.journal import JournalLocked

DRIVER = textwrap.dedent("""
    import sys
    from hpo_kit import Categorical, GridSearch, Real, Space, Study
    from hpo_kit.testing import quadratic
    if __name__ == "__main__":
        space = Space({"x": Real(0.0, 1.0), "sleep": Categorical([0.25])})
        Study(quadratic, space, metric="loss", optimizer=GridSearch(points_per_dimension=12), max_epochs=3,
              n_workers=2, journal=sys.argv[1]).run(progress=False)
""")


def _ends(path):
    if not os.path.exists(path):
        return []
    return [r for r in read_journal(path) if r["event"] == "trial_end"]


def test_resume_after_the_driver_is_killed(tmp_path):
    path = str(tmp_path / "study.jsonl")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), path], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(_ends(path)) < 4 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert len(_ends(path)) >= 4, "the driver did not get going"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its cluster die like a crashed kernel
        proc.wait()
    before = {r["trial"]: r for r in _ends(path)}
    assert len(before) < 12

    study = Study.resume(path, n_workers=2)
    study.run(progress=False)
    records = list(read_journal(path))
    resumed = [r for r in records if r["event"] == "study_resume"]
    assert len(resumed) == 1
    configs = [json.dumps(t.config, sort_keys=True) for t in study.trials.values()]
    assert len(configs) == 12 and len(set(configs)) == 12, "grid proposed a config twice"
    assert (study.results.status == "COMPLETED").all()
    for tid, rec in before.items():  # every finished result is kept as it was
        assert study.trials[tid].score(study.goal) == pytest.approx(rec["score"])
        assert sum(1 for r in records if r["event"] == "trial_end" and r["trial"] == tid) == 1
    for t in study.trials.values():  # no report twice, whatever was interrupted
        epochs = [r["epoch"] for r in records if r["event"] == "report" and r["trial"] == t.id]
        assert epochs == [1, 2, 3]
    for tid in resumed[0]["interrupted"]:
        assert study.trials[tid].attempt == 1


def test_a_second_process_cannot_append_to_a_live_journal(tmp_path, client):
    from hpo_kit import Categorical, Real
    from hpo_kit.testing import quadratic

    path = tmp_path / "study.jsonl"
    study = Study(quadratic, {"x": Real(0, 1), "sleep": Categorical([0.2])}, metric="loss", n_trials=4,
                  max_epochs=3, cluster=client, journal=path).start()
    try:
        with pytest.raises(JournalLocked, match="in use"):
            Study.resume(path, cluster=client).run(progress=False)
    finally:
        study.wait(60)
