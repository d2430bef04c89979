"""Chaos: SIGKILL worker processes mid-training; the study loses no finished result."""
from __future__ import annotations

import os
import signal
import threading
import time

from hpo_kit import Categorical, Real, Study, TrialStatus, read_journal
from hpo_kit.testing import CountingTrainable


def _killer(study, kills, stop):
    """Kill the worker of a trial that is in its epoch >= 2, every ~1.5 s, ten times."""
    while len(kills) < 10 and not stop.is_set():
        time.sleep(0.3)
        with study._lock:
            running = [t for t in study.trials.values()
                       if t.status is TrialStatus.RUNNING and t.epochs >= 1 and t.reports]
        if not running or study.client is None:
            continue
        victim = running[len(kills) % len(running)]
        try:
            pids = study.client.run(os.getpid)
        except Exception:  # noqa: BLE001 - a worker is restarting
            continue
        if len(pids) < 2:  # wait until the nanny has brought the last victim back
            continue
        pid = int(victim.reports[-1]["metrics"]["pid"])
        if pid not in pids.values():
            continue
        os.kill(pid, signal.SIGKILL)
        kills.append((victim.id, victim.epochs + 1, pid))
        time.sleep(1.2)


def test_ten_worker_kills_lose_nothing(tmp_path):
    path = tmp_path / "chaos.jsonl"
    space = {"lr": Real(0.01, 0.1), "sleep": Categorical([0.3])}
    # Many trials, so the study outlives the kills; it is stopped once ten have happened.
    study = Study(CountingTrainable, space, metric="loss", n_trials=200, max_epochs=10, n_workers=2,
                  journal=path, max_retries=50)
    kills: list = []
    stop = threading.Event()
    study.start()
    killer = threading.Thread(target=_killer, args=(study, kills, stop), daemon=True)
    killer.start()
    try:
        deadline = time.time() + 240
        while len(kills) < 10 and time.time() < deadline:
            time.sleep(0.5)
        # Then let trials complete (not a fixed sleep: under load, kills every ~1.5 s can leave none complete).
        deadline = time.time() + 180
        while time.time() < deadline and sum(t.status is TrialStatus.COMPLETED for t in study.trials.values()) < 2:
            time.sleep(0.2)
        study.stop(wait=False, reason="chaos over")
        assert study.wait(120), "study did not finish"
    finally:
        stop.set()
        killer.join(5)
    assert len(kills) >= 10, f"only {len(kills)} kills happened"
    assert all(epoch >= 2 for _, epoch, _ in kills)
    records = list(read_journal(path))
    completed = 0
    for t in study.trials.values():
        assert t.status in (TrialStatus.COMPLETED, TrialStatus.KILLED), (t.id, t.status, t.error)
        epochs = [r["epoch"] for r in records if r["event"] == "report" and r["trial"] == t.id]
        assert epochs == list(range(1, len(epochs) + 1)), f"trial {t.id}: reports {epochs}"
        assert sum(1 for r in records if r["event"] == "trial_end" and r["trial"] == t.id) == 1
        if t.status is TrialStatus.COMPLETED:
            completed += 1
            assert len(epochs) == 10
        else:
            assert t.reason == "chaos over"
    assert completed >= 2

    # a killed trial continued from its checkpoint: its first epoch on the new worker was a restore
    resumed = 0
    for tid, epoch, pid in kills:
        after = [r for r in study.trials[tid].reports if r["epoch"] >= epoch and int(r["metrics"]["pid"]) != pid]
        if after and after[0]["metrics"]["steps"] == 1:
            resumed += 1
    assert resumed >= 5, f"only {resumed} of {len(kills)} killed trials resumed from a checkpoint"


def test_killing_the_worker_that_ran_a_paused_asha_trial_loses_and_repeats_nothing(tmp_path):
    """A trial PAUSED at a rung is kept alive on its worker (engine.kept) and has its checkpoint in the store:
    killing that worker loses no report, and a later promotion of the trial resumes from the checkpoint on any
    worker (the loose restriction to the dead worker falls back to another)."""
    from hpo_kit.schedulers import ASHA

    path = tmp_path / "paused.jsonl"
    space = {"lr": Real(0.01, 0.2), "sleep": Categorical([0.1])}
    study = Study(CountingTrainable, space, metric="loss", n_trials=27, max_epochs=9, n_workers=2,
                  scheduler=ASHA(r_min=1, eta=3), journal=path, max_retries=20)
    kills: list = []
    study.start()
    try:
        deadline = time.time() + 180
        while len(kills) < 3 and time.time() < deadline and study.state == "running":
            time.sleep(0.2)
            with study._lock:
                paused = [t for t in study.trials.values() if t.status is TrialStatus.PAUSED and t.reports
                          and t.id not in {k[0] for k in kills}]
            if not paused or study.client is None:
                continue
            try:
                pids = set(study.client.run(os.getpid).values())
            except Exception:  # noqa: BLE001 - a worker is restarting
                continue
            victim = paused[0]
            pid = int(victim.reports[-1]["metrics"]["pid"])
            if len(pids) < 2 or pid not in pids:
                continue
            os.kill(pid, signal.SIGKILL)
            kills.append((victim.id, victim.epochs, pid))
            time.sleep(1.0)  # let the nanny bring the worker back
        assert study.wait(240), "study did not finish"
    finally:
        if study.state == "running":
            study.stop(wait=False)
            study.wait(60)
    assert kills, "no paused trial's worker was killed"
    records = list(read_journal(path))
    for t in study.trials.values():
        epochs = [r["epoch"] for r in records if r["event"] == "report" and r["trial"] == t.id]
        assert epochs == list(range(1, len(epochs) + 1)), f"trial {t.id}: reports {epochs}"
        assert sum(1 for r in records if r["event"] == "trial_end" and r["trial"] == t.id) == 1
        assert t.status is not TrialStatus.FAILED, (t.id, t.error)
    assert max(t.epochs for t in study.trials.values()) == 9
    for tid, epoch, pid in kills:  # a victim promoted later went on from its checkpoint, not from scratch
        later = [r for r in study.trials[tid].reports if r["epoch"] > epoch]
        assert not later or (later[0]["metrics"]["steps"] == 1 and int(later[0]["metrics"]["pid"]) != pid), \
            (tid, later[:1])
