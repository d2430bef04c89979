"""Stateful trials and live control on a real LocalCluster."""
from __future__ import annotations

import time

from hpo_kit import Categorical, Optimizer, Real, Resume, Space, Start, Study, TrialStatus, read_journal
from hpo_kit.testing import CountingTrainable, pid_and_sleep

SPACE = Space({"lr": Real(0.01, 0.2), "sleep": Categorical([0.0])})


class TwoSteps(Optimizer):
    """Start one trial to epoch 2, then resume it to epoch 4 (a promotion)."""

    name = "two-steps"

    def __init__(self):
        super().__init__()
        self.told = []
        self.resumed = False

    def suggest(self, trial_id):
        if trial_id == 0:
            return Start({"lr": 0.1, "sleep": 0.0}, budget=2)
        if len(self.told) == 1 and not self.told[0].final and not self.resumed:
            self.resumed = True
            return Resume(0, budget=4)
        self.finished = len(self.told) >= 2
        return None

    def on_result(self, obs):
        self.told.append(obs)


def test_a_resumed_trial_continues_from_its_checkpoint(client, journal):
    policy = TwoSteps()
    study = Study(CountingTrainable, SPACE, metric="loss", optimizer=policy, max_epochs=4, cluster=client,
                  journal=journal).run(progress=False)
    t = study.trials[0]
    assert t.status is TrialStatus.COMPLETED and [r["epoch"] for r in t.reports] == [1, 2, 3, 4]
    assert [o.final for o in policy.told] == [False, True] and policy.told[0].status is TrialStatus.PAUSED
    # the same four epochs trained in one go give the same weights: nothing was retrained
    ref = Study(CountingTrainable, SPACE, metric="loss", n_trials=1, max_epochs=4, cluster=client,
                journal=journal.with_name("ref.jsonl"), optimizer=_Fixed({"lr": 0.1, "sleep": 0.0}))
    ref.run(progress=False)
    w = [r["metrics"]["w0_before"] for r in t.reports]
    assert w == [r["metrics"]["w0_before"] for r in ref.trials[0].reports]
    model = study.best_model()
    assert model.model.weight[0, 0].item() != w[0]
    assert study.store.latest(0) == 4


class _Fixed(Optimizer):
    def __init__(self, config):
        super().__init__()
        self.config = config

    def suggest(self, trial_id):
        return Start(dict(self.config))


def _events(path, name):
    return [r for r in read_journal(path) if r["event"] == name]


def test_pause_starts_nothing_and_resume_continues(client, journal):
    space = {"x": Real(0, 1), "sleep": Categorical([0.3]), "epochs": Categorical([2])}
    study = Study(pid_and_sleep, space, metric="loss", n_trials=8, cluster=client, journal=journal).start()
    deadline = time.time() + 60
    while not any(t.status is TrialStatus.RUNNING for t in study.trials.values()) and time.time() < deadline:
        time.sleep(0.05)
    study.pause(reason="look at the plots")
    time.sleep(3.0)
    paused_at = next(r["t"] for r in _events(journal, "control") if r["action"] == "pause")
    assert study.state == "paused"
    starts_after = [r for r in _events(journal, "trial_start") if r["t"] > paused_at + 0.05]
    assert starts_after == [], "a trial started while the study was paused"
    assert all(t.status is not TrialStatus.RUNNING for t in study.trials.values())  # running steps finished
    study.resume()
    assert study.wait(120)
    assert (study.results.status == "COMPLETED").all() and len(study.results) == 8
    controls = [(r["action"], r["source"], r["reason"]) for r in _events(journal, "control")]
    assert ("pause", "user", "look at the plots") in controls and ("resume", "user", "") in controls


def test_kill_ends_the_trial_at_an_epoch_boundary_and_frees_its_worker(client, journal):
    space = {"x": Real(0, 1), "sleep": Categorical([0.2]), "epochs": Categorical([40])}
    study = Study(pid_and_sleep, space, metric="loss", n_trials=3, cluster=client, journal=journal,
                  concurrency=1, prefetch=0).start()
    deadline = time.time() + 60
    while (not study.trials or study.trials[0].epochs < 2) and time.time() < deadline:
        time.sleep(0.05)
    study.kill(0, reason="looks bad")
    study.set_concurrency(2, reason="more room")
    assert study.wait(120)
    t0 = study.trials[0]
    assert t0.status is TrialStatus.KILLED and t0.reason == "looks bad" and 2 <= t0.epochs < 10
    assert [t.status for t in study.trials.values()][1:] == [TrialStatus.COMPLETED] * 2
    assert study.trials[1].worker is not None
    actions = {r["action"]: r for r in _events(journal, "control")}
    assert actions["kill"]["trial"] == 0 and actions["kill"]["source"] == "user"
    assert actions["concurrency"]["value"] == 2


class Recorder(Optimizer):
    def __init__(self):
        super().__init__()
        self.told = []
        self.rng = __import__("numpy").random.default_rng(0)

    def suggest(self, trial_id):
        return Start(self.space.sample(self.rng))

    def on_result(self, obs):
        self.told.append(obs)


def test_kill_with_discard_tells_the_optimizer_nothing(client, journal):
    space = {"x": Real(0, 1), "sleep": Categorical([0.2]), "epochs": Categorical([30])}
    policy = Recorder()
    study = Study(pid_and_sleep, space, metric="loss", n_trials=2, cluster=client, journal=journal,
                  optimizer=policy, concurrency=2, prefetch=0).start()
    deadline = time.time() + 60
    while (len(study.trials) < 2 or min(t.epochs for t in study.trials.values()) < 1) and time.time() < deadline:
        time.sleep(0.05)
    study.kill(0, discard=True)
    study.kill(1)
    assert study.wait(60)
    told = {o.trial_id: o for o in policy.told}
    assert 0 not in told, "a discarded trial must not be told at all (as if never told)"
    assert study.trials[0].status is TrialStatus.KILLED and study.trials[0].discard
    assert told[1].loss is not None and told[1].stopped
