"""An interrupt of the whole process group (what Jupyter's *Kernel -> Interrupt* sends) spares the workers.

A child Python starts an embedded cluster and a study, exactly as a kernel would, in a
session of its own; the test sends SIGINT to that session's process group. The workers
must stay alive (same pids, still registered), the study must be paused by the
interrupt rather than failed, and it must then resume and complete.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

pytestmark = [pytest.mark.timeout(240), pytest.mark.skipif(os.name != "posix", reason="POSIX process groups")]

CHILD = textwrap.dedent("""
    import json, os, sys, time
    import psutil
    from hpo_kit import Real, Study

    def slow(config, reporter):
        for epoch in range(1, 4):
            time.sleep(0.4)
            reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)

    study = Study(slow, {"x": Real(0.0, 1.0)}, n_trials=8, n_workers=2, journal=sys.argv[1])
    study.start()
    workers = sorted(study.client.run(os.getpid).values())
    print(json.dumps({"ready": workers}), flush=True)
    try:
        study.wait()
        print(json.dumps({"outcome": "not interrupted"}), flush=True)
    except KeyboardInterrupt:
        alive = sorted(study.client.run(os.getpid).values())
        print(json.dumps({"interrupted": study.state, "alive": alive}), flush=True)
        study.resume().result(30)
        study.wait()
        print(json.dumps({"end": study.state, "trials": len(study.trials),
                          "completed": sum(t.status.value == "COMPLETED" for t in study.trials.values())}),
              flush=True)
""")


def _line(proc: subprocess.Popen, key: str, timeout: float) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"child exited {proc.returncode} before {key!r}:\n{proc.stderr.read()}")
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if key in msg:
            return msg
    raise AssertionError(f"no {key!r} from the child in {timeout:.0f} s")


def test_sigint_to_the_process_group_pauses_the_study_and_spares_the_workers(tmp_path):
    journal = tmp_path / "interrupt.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(journal)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        workers = _line(proc, "ready", 120)["ready"]
        assert len(workers) == 2
        deadline = time.time() + 60  # interrupt while trials run
        while time.time() < deadline and not (journal.exists() and '"trial_start"' in journal.read_text()):
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # what jupyter_client does to a kernel
        after = _line(proc, "interrupted", 60)
        assert after["interrupted"] == "paused"
        assert after["alive"] == workers, "the same worker processes, still registered"
        assert all(psutil.pid_exists(pid) for pid in workers)
        end = _line(proc, "end", 150)
        assert end == {"end": "finished", "trials": 8, "completed": 8}
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        pauses = [r for r in records if r["event"] == "control" and r["action"] == "pause"]
        assert len(pauses) == 1 and "interrupt" in pauses[0]["reason"]
        assert not [r for r in records if r["event"] == "trial_retry"], "no step was lost with a worker"
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
