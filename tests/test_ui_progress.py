"""The progress count (panel and terminal bar) after a resume and under rung policies; the panel's end state.

Hand-built journal records, as in ``test_ui_data.py``; no browser, no cluster.
"""
from __future__ import annotations

import pytest

from hpo_kit.progress import EPOCHS, TRIALS, Count, count, epoch_budget_of, rung_epoch_budget
from hpo_kit.trial import Trial, TrialStatus
from hpo_kit.ui import status as S
from test_ui_data import end, rec, report, start, story  # noqa: F401 - story is a fixture
from test_ui_views import FakeStudy


def test_rung_budget_is_what_successive_halving_runs_when_every_promotion_happens():
    assert rung_epoch_budget(9, 1, 3, 9) == 9 * 1 + 3 * 2 + 1 * 6  # 21
    assert rung_epoch_budget(20, 1, 3, 9) == 20 + 6 * 2 + 2 * 6
    assert rung_epoch_budget(4, 2, 2, 2) == 8  # one rung: every trial runs r_min
    assert epoch_budget_of({"r_min": 1, "eta": 3, "r_max": None, "n_configs": 9}, 20, 9) == 21
    assert epoch_budget_of({"name": "random"}, 20, 9) is None  # no rungs: count trials


def test_count_after_a_resume_counts_every_trial_of_the_study():
    ended = [Trial(i, {}, status=TrialStatus.COMPLETED) for i in range(4)]
    running = [Trial(4, {}, status=TrialStatus.RUNNING)]
    c = count(ended + running, n_trials=8)
    assert (c.done, c.total, c.unit) == (4, 8, TRIALS) and c.text() == "4/8 trials ended (50%)"
    assert count(ended, None).text() == "4/? trials ended"
    assert count(ended, None, ended=True).text() == "4/4 trials ended (100%)"


def test_count_under_rungs_counts_epochs_and_ends_full():
    trials = [Trial(i, {}, status=TrialStatus.PAUSED, reports=[{"epoch": 1, "metrics": {}}]) for i in range(5)]
    c = count(trials, n_trials=9, epoch_budget=21)
    assert (c.done, c.total, c.unit) == (5, 21, EPOCHS) and c.text() == "5/21 epochs (24%)"
    assert count(trials, 9, 21, ended=True) == Count(5, 5, EPOCHS)  # the end is 100%, whatever the estimate


def test_panel_progress_says_what_it_counts_from_the_journal(story):
    assert S.progress(story).text() == "2/4 trials ended (50%)"  # completed and killed
    asha = [start(optimizer={"name": "asha", "r_min": 1, "eta": 3, "r_max": 9}, n_trials=9)]
    for i in range(3):
        asha += [rec("trial_create", i, trial=i, config={}, budget=1), rec("trial_start", i + .1, trial=i),
                 report(i, 1, i + .5, float(i)), end(i, i + .6, "PAUSED", event="trial_pause")]
    assert S.progress(asha).text() == "3/21 epochs (14%)"


def test_panel_shows_numbers_hides_bo_inputs_where_they_do_not_apply_and_clears_applied_at_the_end(story):
    from hpo_kit.ui.panel import ControlPanel

    study = FakeStudy()  # random search: no live b
    panel = ControlPanel(study, records=lambda: story)
    panel.refresh(story)
    assert panel.bo_box.layout.display == "none"
    assert "trials ended" in panel.progress_text.value and "/4" in panel.progress_text.value
    bo = ControlPanel(FakeStudy(live_params=("b", "switch_after_trials", "switch_after_seconds")))
    bo.refresh(story)
    assert bo.bo_box.layout.display != "none"
    panel.pause_btn.click()
    study.futures[-1].set_result(None)
    assert "applied" in panel.message.value
    study.state = "finished"
    panel.refresh(story + [rec("study_end", 9.0, state="finished", n_trials=4)])
    assert panel.message.value == "" and "has finished" in panel.banner.value


@pytest.mark.parametrize("resumed", [False, True])
def test_terminal_bar_for_a_study_counts_its_ledger(resumed, capsys):
    from hpo_kit.goal import Goal
    from hpo_kit.ledger import Ledger
    from hpo_kit.progress import Progress

    ledger = Ledger(Goal("loss"))
    for _ in range(4 if resumed else 0):  # a resumed study's earlier trials
        t = ledger.create({}, budget=None)
        ledger.start(t.id, "w")
        ledger.end_step(t.id, TrialStatus.COMPLETED)
    study = type("S", (), {"ledger": ledger, "n_trials": 8, "max_epochs": None, "name": "demo",
                           "optimizer": {"name": "random"}})()
    bar = Progress.for_study(study, file=None)
    t = ledger.create({}, budget=None)
    ledger.start(t.id, "w")
    ledger.end_step(t.id, TrialStatus.COMPLETED)
    bar.trial_ended(0.5, running=0)
    assert (bar._bar.n, bar._bar.total) == ((5 if resumed else 1), 8)
    bar.close()


def test_a_redraw_before_the_loop_applied_a_tune_keeps_the_box_for_the_next_edit(story):
    """The policy reports the old value until the loop applies a tune: a redraw must not put it back meanwhile.

    It did, then put the new value back once applied, under the user's next edit: the next
    click sent the old number again (journalled b=0.3 after a typed 0.1; 50 twice).
    """
    import concurrent.futures

    from hpo_kit.ui.panel import ControlPanel

    live = {"b": 0.3, "switch_after_trials": None}
    sent = []

    class Study:
        name, state, concurrency = "lag", "running", 2
        optimizer = type("Opt", (), {"name": "bo", "live_params": ("b", "switch_after_trials"),
                                     "state": lambda self: dict(live)})()

        def tune(self, reason="", **params):
            sent.append(params)
            return concurrent.futures.Future()

    panel = ControlPanel(Study(), records=lambda: story)
    panel.switch_trials.value = "50"  # committed: sent
    panel.refresh(story)  # the loop has not applied it: the policy still says None
    assert panel.switch_trials.value == "50"
    live["switch_after_trials"] = 50
    panel.refresh(story)  # applied now: the box still shows the value the user sent
    assert panel.switch_trials.value == "50"
    panel.switch_trials.value = "60"
    assert sent == [{"switch_after_trials": 50}, {"switch_after_trials": 60}]
    panel.b.value = "abc"
    assert "refused" in panel.message.value and panel.b.value == "0.3"  # back to the value in force at once
    live["b"] = 0.05  # tuned from a cell: the redraw shows it, and that is not an edit to send back
    panel.refresh(story)
    assert panel.b.value == "0.05" and sent == [{"switch_after_trials": 50}, {"switch_after_trials": 60}]
