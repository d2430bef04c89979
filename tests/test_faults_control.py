"""Faults from the caller's side: pause/resume storms, objectives that cannot be shipped to a worker."""
from __future__ import annotations

import collections
import os
import threading
import time

import pytest

from hpo_kit import ASHA, Categorical, Real, Study, Trainable, TrialStatus, read_journal


def counted(config, reporter):
    """Marks each call and each epoch with a file: a step run twice leaves two marks."""
    folder, tid = config["dir"], reporter.trial_id
    open(os.path.join(folder, f"call-{tid}-{time.time_ns()}"), "w").close()
    for epoch in (1, 2, 3):
        time.sleep(0.03)
        open(os.path.join(folder, f"epoch-{tid}-{epoch}-{time.time_ns()}"), "w").close()
        reporter.report(epoch=epoch, loss=config["x"] + 1 / epoch)


class CountedTrainable(Trainable):
    """Marks each epoch it trains with a file (the trial told by its ``x``); resumes from its checkpoint."""

    def setup(self, config, data):
        self.config, self.w = config, 0.0

    def train_epoch(self, epoch):
        time.sleep(0.03)
        open(os.path.join(self.config["dir"], f"epoch-{self.config['x']!r}-{epoch}-{time.time_ns()}"), "w").close()
        self.w += 1.0
        return {"loss": self.config["x"] + 1 / epoch, "w": self.w}

    def state_dict(self):
        return {"w": self.w}

    def load_state_dict(self, state):
        self.w = state["w"]


def _cycle(study, limit=50):
    cycles = 0
    while cycles < limit and study.state in ("running", "paused"):
        try:
            study.pause(reason=f"cycle {cycles}").result(timeout=30)
            time.sleep(0.01)
            study.resume(reason=f"cycle {cycles}").result(timeout=30)
        except RuntimeError:  # the study ended between the check and the call
            break
        cycles += 1
        time.sleep(0.02)
    return cycles


def test_fifty_pause_resume_cycles_never_run_a_step_twice(client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    journal = tmp_path / "j.jsonl"
    n = 120  # trials enough for 50 cycles with room to spare (about one cycle per trial here)
    study = Study(counted, {"x": Real(0, 1), "dir": Categorical([str(marks)])}, n_trials=n, cluster=client,
                  journal=journal).start()
    cycles = _cycle(study)
    assert study.wait(120)
    assert cycles == 50, f"the study ended after {cycles} cycles; give it more trials"
    calls = collections.Counter(p.split("-")[1] for p in os.listdir(marks) if p.startswith("call-"))
    epochs = collections.Counter(tuple(p.split("-")[1:3]) for p in os.listdir(marks) if p.startswith("epoch-"))
    assert len(study.trials) == n
    assert all(t.status is TrialStatus.COMPLETED for t in study.trials.values())
    assert calls == {str(tid): 1 for tid in range(n)}, [k for k, v in calls.items() if v != 1]
    assert set(epochs.values()) == {1} and len(epochs) == 3 * n
    ends = collections.Counter(r["trial"] for r in read_journal(journal) if r["event"] == "trial_end")
    assert ends == {tid: 1 for tid in range(n)}


def test_fifty_pause_resume_cycles_under_asha_never_train_an_epoch_twice(client, tmp_path):
    # Trials that pause at rungs and resume from checkpoints: many steps per trial.
    marks = tmp_path / "marks"
    marks.mkdir()
    journal = tmp_path / "j.jsonl"
    # Trials enough for 50 cycles with room to spare (CI ran out at 49 with 40 once lanes made steps cheaper).
    n = 120
    study = Study(CountedTrainable, {"x": Real(0, 1), "dir": Categorical([str(marks)])}, n_trials=n,
                  max_epochs=9, optimizer=ASHA(r_min=1, eta=3), cluster=client, journal=journal).start()
    cycles = _cycle(study)
    assert study.wait(120)
    assert cycles == 50, f"the study ended after {cycles} cycles; give it more trials"
    epochs = collections.Counter(tuple(p.split("-")[1:3]) for p in os.listdir(marks) if p.startswith("epoch-"))
    by_x = {repr(t.config["x"]): t for t in study.trials.values()}
    # ASHA exact: a step that went on from a rung by a cut-off the driver then refused trained on
    # speculatively until its next epoch boundary (journalled "halt"); only those epochs may repeat.
    halted = {r["trial"] for r in read_journal(journal) if r["event"] == "control" and r["action"] == "halt"}
    twice = sorted(k for k, v in epochs.items() if v > 1 and by_x[k[0]].id not in halted)
    assert not twice, f"(x, epoch) trained more than once: {twice}"
    assert len(halted) <= 5, f"{len(halted)} in-step promotions refused: the cut-offs are stale"
    for (x, epoch), _ in epochs.items():
        assert int(epoch) <= by_x[x].epochs or by_x[x].id in halted
    assert sum(1 for _ in epochs) == sum(t.epochs for t in study.trials.values()) + sum(
        1 for (x, e) in epochs if by_x[x].id in halted and int(e) > by_x[x].epochs)
    assert all(t.status in (TrialStatus.COMPLETED, TrialStatus.STOPPED) for t in study.trials.values())
    ends = collections.Counter(r["trial"] for r in read_journal(journal) if r["event"] == "trial_end")
    assert set(ends.values()) == {1} and len(ends) == n


def _closes_over_a_lock_and_a_generator():
    lock, numbers = threading.Lock(), (i for i in range(10))

    def objective(config, reporter):
        with lock:
            reporter.report(epoch=1, loss=config["x"] + 0 * next(numbers))

    return objective


@pytest.mark.parametrize("how", ["run", "start"])
def test_an_unpicklable_objective_is_a_named_error_at_the_caller(client, journal, how):
    study = Study(_closes_over_a_lock_and_a_generator(), {"x": Real(0, 1)}, n_trials=2, cluster=client,
                  journal=journal)
    from hpo_kit.errors import NotSerializable

    with pytest.raises(NotSerializable, match=r"objective=.*objective cannot be serialised.*(lock|generator)"):
        study.run(progress=False) if how == "run" else study.start()
    assert study.state == "created" and not study.trials
    assert not os.path.exists(journal)  # nothing journalled, no "finished" study with a PENDING trial
    Study(counted, {"x": Real(0, 1), "dir": Categorical([str(journal.parent)])}, n_trials=1, cluster=client,
          journal=journal).run(progress=False)  # the journal's lock was never taken


class BreaksLater:
    """Pickles twice (the start's checks), then refuses: a step that cannot be sent."""

    pickled = 0

    def __call__(self, config, reporter):
        reporter.report(epoch=1, loss=config["x"])

    def __reduce__(self):
        type(self).pickled += 1
        if type(self).pickled > 2:
            raise TypeError("cannot pickle 'BreaksLater' any more")
        return (BreaksLater, ())


def test_a_step_that_cannot_be_serialised_fails_its_trial_with_the_reason(client, journal):
    study = Study(BreaksLater(), {"x": Real(0, 1)}, n_trials=3, cluster=client, journal=journal)
    with pytest.warns(RuntimeWarning, match="FAILED"):
        study.run(progress=False)
    assert len(study.trials) == 3
    for t in study.trials.values():
        assert t.status is TrialStatus.FAILED
        assert "cannot be serialised" in t.error and "BreaksLater' any more" in t.error, t.error
        assert "LLGExpr" not in t.error
    records = list(read_journal(journal))
    assert [r["state"] for r in records if r["event"] == "study_end"] == ["finished"]
    assert collections.Counter(r["trial"] for r in records if r["event"] == "trial_end") == {0: 1, 1: 1, 2: 1}
