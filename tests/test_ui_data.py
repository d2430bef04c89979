"""The views' data, from hand-built journal records with known answers (no browser, no widgets, no cluster)."""
from __future__ import annotations

import math

import pytest

from hpo_kit import Goal, Real, Study
from hpo_kit.engine.journal import Journal
from hpo_kit.ui import data as D
from hpo_kit.ui import status as S
from hpo_kit.ui import timeline as T
from hpo_kit.ui.feed import Feed

T0 = 1000.0
W1, W2 = "tcp://127.0.0.1:1", "tcp://127.0.0.1:2"


def rec(event: str, t: float, **fields) -> dict:
    return {"v": 1, "t": T0 + t, "event": event, **fields}


def start(metric="val_loss", mode="min", score="best", optimizer=None, n_trials=4) -> dict:
    return rec("study_start", 0.0, name="demo", goal={"metric": metric, "mode": mode, "score": score},
               optimizer=optimizer or {"name": "random", "seed": 0},
               settings={"n_trials": n_trials, "concurrency": 2})


def report(trial, epoch, t, value, **extra) -> dict:
    return rec("report", t, trial=trial, epoch=epoch, metrics={"val_loss": value, **extra})


def end(trial, t, status="COMPLETED", score=None, told=None, busy=1.0, event="trial_end", **extra) -> dict:
    return rec(event, t, trial=trial, status=status, score=score, told=told, busy=busy, reason=None,
               discard=False, **extra)


@pytest.fixture
def story() -> list[dict]:
    """Trial 0 on W1 (0.5-3.0, completed), trial 1 on W2 (0.6-2.0, killed, flagged), trial 2 on W2 from 2.1,
    still running, trial 3 pending; the user paused at 2.5."""
    return [start(),
            rec("trial_create", 0.1, trial=0, config={"lr": 0.1}, budget=3),
            rec("trial_create", 0.2, trial=1, config={"lr": 0.5}, budget=3),
            rec("trial_start", 0.5, trial=0, worker=W1, attempt=0),
            rec("trial_start", 0.6, trial=1, worker=W2, attempt=0),
            report(0, 1, 1.0, 2.0), report(1, 1, 1.1, 3.0),
            report(0, 2, 1.5, 1.0), report(1, 2, 1.6, math.nan),
            rec("flag", 1.7, trial=1, finding={"indicator": "AGV", "epoch": 2}, policy="flag"),
            rec("control", 1.8, action="kill", source="user", reason="bad", value=None, trial=1, discard=False),
            end(1, 2.0, "KILLED", score=3.0, told=3.0, busy=1.4),
            rec("trial_create", 2.05, trial=2, config={"lr": 0.2}, budget=3),
            rec("trial_start", 2.1, trial=2, worker=W2, attempt=0),
            report(0, 3, 2.2, 1.5),
            report(2, 1, 2.3, 0.5),
            rec("control", 2.5, action="pause", source="user", reason="", value=None),
            end(0, 3.0, "COMPLETED", score=1.0, told=1.0, busy=2.5),
            rec("trial_create", 3.1, trial=3, config={"lr": 0.3}, budget=3)]


def test_learning_curves_one_line_per_reporting_trial_coloured_by_status_and_flag(story):
    c = D.learning_curves(story)
    assert c["trial"] == [0, 1, 2]
    assert c["xs"] == [[1, 2, 3], [1, 2], [1]]
    assert c["ys"][0] == [2.0, 1.0, 1.5] and math.isnan(c["ys"][1][1])
    assert c["status"] == ["COMPLETED", "KILLED", "RUNNING"]
    assert c["category"] == ["COMPLETED", D.FLAGGED, "RUNNING"]
    assert c["flags"] == ["", "AGV", ""]
    assert D.learning_curves(story, metric="nope")["trial"] == []


def test_best_so_far_steps_down_at_each_improvement_then_runs_on_to_now(story):
    b = D.best_so_far(story)
    assert b["elapsed"] == pytest.approx([1.0, 1.5, 2.3, 3.1])  # the last record is at 3.1
    assert (b["best"], b["trial"]) == ([2.0, 1.0, 0.5, 0.5], [0, 0, 2, 2])
    assert D.best_so_far(story, now=T0 + 10.0)["elapsed"][-1] == pytest.approx(10.0)
    assert D.best_so_far(story[:1]) == {"elapsed": [], "best": [], "trial": []}


def test_best_so_far_max_mode_and_last_score():
    recs = [start(mode="max", score="last"), report(0, 1, 1.0, 0.9), end(0, 2.0, score=0.5),
            end(1, 3.0, score=0.7), end(2, 4.0, score=0.6), end(3, 5.0, score=math.nan)]
    assert D.best_so_far(recs) == {"elapsed": [2.0, 3.0, 5.0], "best": [0.5, 0.7, 0.7], "trial": [0, 1, 1]}


def test_trial_scores_are_one_point_per_ended_trial(story):
    s = D.trial_scores(story)
    assert s["trial"] == [0, 1] and s["score"] == [1.0, 3.0]  # trial 2 runs, trial 3 is pending
    assert s["elapsed"] == pytest.approx([3.0, 2.0]) and s["category"] == ["COMPLETED", D.FLAGGED]


def test_robust_range_leaves_a_diverged_trial_out():
    values = [1.0, 0.9, 0.8, 0.7, 0.65, 0.6, 1e6, float("nan")]
    lo, hi = D.robust_range(values, pad=0.0)
    assert (lo, hi) == (0.6, 1.0)
    lo, hi = D.robust_range(values)  # padded by 5 % of the width
    assert lo == pytest.approx(0.58) and hi == pytest.approx(1.02)
    llo, lhi = D.robust_range([0.1, 1.0, 10.0, -5.0], log=True, pad=0.0)  # non-positive values dropped
    assert (llo, lhi) == pytest.approx((0.1, 10.0))
    assert D.robust_range([]) is None and D.robust_range([2.0, 2.0], pad=0.0) == (1.75, 2.25)


def test_stagger_puts_close_labels_on_different_levels():
    assert D.stagger([0.0, 1.0, 50.0, 51.0, 52.0], span=100.0) == [0, 1, 0, 1, 2]
    assert D.stagger([40.0, 0.0], span=100.0) == [0, 0]  # far apart: same level
    assert D.stagger([10.0, 0.0], span=100.0) == [1, 0]
    assert D.stagger([], span=1.0) == []


def test_worker_timeline_segments_from_start_to_end_and_open_ones_to_now(story):
    tl = T.worker_timeline(story, now=T0 + 4.0)
    assert tl["trial"] == [1, 0, 2]
    assert tl["worker"] == [W2, W1, W2]
    assert tl["start"] == pytest.approx([0.6, 0.5, 2.1])
    assert tl["end"] == pytest.approx([2.0, 3.0, 4.0])
    assert tl["status"] == ["KILLED", "COMPLETED", "RUNNING"]
    assert tl["running"] == [False, False, True]
    # W1 busy 2.5 s, W2 1.4 + 1.9 s, over 2 workers x 4 s
    assert T.utilisation(tl, 2, (0.0, 4.0)) == pytest.approx((2.5 + 1.4 + 1.9) / 8)
    assert T.utilisation(tl, 2, (1.0, 1.0)) == 0.0


def test_worker_timeline_paused_and_resumed_trial_has_two_segments_and_retry_closes_one():
    recs = [start(), rec("trial_create", 0, trial=0, config={}, budget=1),
            rec("trial_start", 1, trial=0, worker=W1), end(0, 2, "PAUSED", event="trial_pause"),
            rec("trial_resume", 3, trial=0, budget=3), rec("trial_start", 4, trial=0, worker=W2),
            rec("trial_retry", 5, trial=0, attempt=1), rec("trial_start", 6, trial=0, worker=W1),
            end(0, 7)]
    tl = T.worker_timeline(recs)
    assert list(zip(tl["worker"], tl["start"], tl["end"], tl["status"])) == [
        (W1, 1, 2, "PAUSED"), (W2, 4, 5, "RETRIED"), (W1, 6, 7, "COMPLETED")]


def test_warmup_is_its_own_segment_before_the_step_and_not_trial_time():
    """The driver journals a step's warm-up (usually as it ends): the step's first seconds become WARMUP."""
    recs = [start(), rec("trial_create", 0, trial=0, config={}, budget=1),
            rec("trial_start", 1, trial=0, worker=W1), rec("trial_warmup", 4, trial=0, seconds=2.5),
            end(0, 5, "PAUSED", event="trial_pause"), rec("trial_resume", 6, trial=0, budget=3),
            rec("trial_start", 6, trial=0, worker=W2), end(0, 8), rec("trial_warmup", 8, trial=0, seconds=0.5)]
    tl = T.worker_timeline(recs)
    assert list(zip(tl["worker"], tl["start"], tl["end"], tl["status"], tl["label"])) == [
        (W1, 1, 3.5, "WARMUP", ""), (W1, 3.5, 5, "PAUSED", "0"),
        (W2, 6, 6.5, "WARMUP", ""), (W2, 6.5, 8, "COMPLETED", "0")]  # the record after the end: its last step
    assert T.utilisation(tl, 2, (0.0, 8.0)) == pytest.approx((1.5 + 1.5) / 16)  # warm-up is not trial time
    assert T.warmup_seconds(recs) == {0: 3.0}
    running = T.worker_timeline(recs[:4], now=T0 + 5.0)  # still running: warm-up then the open trial segment
    assert list(zip(running["status"], running["running"])) == [("WARMUP", False), ("RUNNING", True)]


def test_ledger_add_warmup_journals_it_and_keeps_it_on_the_trial():
    from hpo_kit.ledger import Ledger

    ledger = Ledger(Goal("loss"))
    t = ledger.create({}, budget=1)
    seen = []
    ledger.listeners.append(seen.append)
    ledger.add_warmup(t.id, 1.25)
    ledger.add_warmup(t.id, 0.0)  # nothing measured: nothing journalled
    ledger.add_warmup(t.id, 0.75)
    assert ledger[t.id].warmup == 2.0 and ledger[t.id].busy == 0.0
    assert [(r["event"], r["seconds"]) for r in seen] == [("trial_warmup", 1.25), ("trial_warmup", 0.75)]


def test_rungs_count_trials_reaching_each_budget_level():
    # eta=3: four trials to 1 epoch, one promoted to 3 (resumed), which is running
    recs = [start()]
    for i in range(4):
        recs += [rec("trial_create", i, trial=i, config={}, budget=1), rec("trial_start", i + .1, trial=i),
                 report(i, 1, i + .5, float(i)), end(i, i + .6, "PAUSED", event="trial_pause")]
    recs += [rec("trial_resume", 5, trial=0, budget=3), rec("trial_start", 5.1, trial=0), report(0, 2, 6, 0.1)]
    per_trial, per_rung = D.rungs(recs)
    assert per_trial["epochs"] == [2, 1, 1, 1]
    assert per_trial["budget"] == [3, 1, 1, 1]
    assert per_trial["status"] == ["RUNNING", "PAUSED", "PAUSED", "PAUSED"]
    assert per_rung == {"rung": [1, 3], "reached": [4, 0], "running": [0, 1]}


def test_bo_cost_uses_the_b_in_force_and_marks_each_change():
    recs = [start(optimizer={"name": "bo", "b": 0.5, "time_unit": "seconds"}),
            end(0, 1.0, told=1.0, busy=2.0),
            rec("control", 2.0, action="tune", source="user", reason="", value={"b": 0.1}),
            end(1, 3.0, told=2.0, busy=10.0),
            end(2, 3.5, told=None, busy=1.0),  # told nothing: not a point
            rec("control", 4.0, action="tune", source="user", reason="", value={"switch_after_trials": 0}),
            end(3, 6.0, told=0.5, busy=4.0)]
    points, markers = D.bo_cost(recs, state={"b": 0.1, "switched": {"reason": "after 0 finished trials",
                                                                      "n_finished": 2, "elapsed": 5.0}})
    assert points["trial"] == [0, 1, 3]
    assert points["cost"] == pytest.approx([1.0 + 0.5 * 2, 2.0 + 0.1 * 10, 0.5])
    assert points["b"] == [0.5, 0.1, 0.0]
    assert markers["param"] == ["b", "switch_after_trials", "switched"]
    assert markers["elapsed"] == [2.0, 4.0, 5.0]
    assert markers["label"][0] == "b=0.1"


def test_bo_cost_in_median_units_divides_by_the_median_time_told_so_far():
    recs = [start(optimizer={"name": "bo", "b": 1.0}), end(0, 1, told=1.0, busy=2.0), end(1, 2, told=1.0, busy=6.0),
            end(2, 3, told=1.0, busy=1.0)]
    points, markers = D.bo_cost(recs)
    # medians so far: 2, 4, 2  ->  T = 1, 1.5, 0.5
    assert points["time"] == pytest.approx([1.0, 1.5, 0.5])
    assert points["cost"] == pytest.approx([2.0, 2.5, 1.5]) and markers["param"] == []


def test_summary_tells_state_progress_best_and_flagged(story):
    s = S.summary(story, now=T0 + 4.0)
    assert s["name"] == "demo" and s["state"] == "paused" and s["elapsed"] == 4.0
    assert (s["n_trials"], s["n_target"], s["running"], s["pending"], s["ended"]) == (4, 4, 1, 1, 2)
    assert s["best_trial"] == 2 and s["best_score"] == 0.5 and s["metric"] == "val_loss"
    assert s["flagged"] == []  # trial 1 was flagged but has ended
    assert s["concurrency"] == 2
    later = story + [rec("control", 5, action="resume", source="user", reason="", value=None),
                     rec("control", 6, action="concurrency", source="user", reason="", value=1),
                     rec("study_end", 7, state="finished", n_trials=4)]
    assert S.summary(later)["state"] == "finished" and S.summary(later)["concurrency"] == 1
    assert S.study_state(story[:-3] + [rec("control", 9, action="resume")]) == "running"


def test_trial_rows_newest_first_with_liveness(story):
    rows = S.trial_rows(story)
    assert [r["trial"] for r in rows] == [3, 2, 1, 0]
    assert [r["live"] for r in rows] == [True, True, False, False]
    assert rows[2]["flags"] == "AGV" and rows[3]["score"] == 1.0 and rows[3]["last"] == 1.5


def test_live_controls_enable_b_and_switch_only_for_a_policy_that_has_them():
    off = S.live_controls((), "random")
    assert not off["b"]["enabled"] and "time-aware BO only" in off["b"]["hint"]
    on = S.live_controls(("b", "switch_after_trials", "switch_after_seconds"), "bo", {"b": 0.2})
    assert on["b"] == {"enabled": True, "value": 0.2, "hint": S.BO_PARAMS["b"]}
    assert on["switch_after_trials"]["enabled"] and on["switch_after_seconds"]["value"] is None
    assert S.fmt(None) == "-" and S.fmt(math.nan) == "-" and S.fmt(0.123456) == "0.1235" and S.fmt(3) == "3"


def test_fold_matches_the_engines_replay(story, tmp_path):
    from hpo_kit import replay

    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        for r in story:
            j.write(r["event"], **{k: v for k, v in r.items() if k not in ("v", "event")})
    mine, theirs = D.fold_trials(story), replay(path).trials
    assert {i: (t.status, t.epochs, t.worker, len(t.flags)) for i, t in mine.items()} == \
           {i: (t.status, t.epochs, t.worker, len(t.flags)) for i, t in theirs.items()}
    assert D.goal_of(story) == Goal("val_loss")


def test_feed_backfills_the_journal_and_appends_live_records_once(story, tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        for r in story[:5]:
            j.write(r["event"], **{k: v for k, v in r.items() if k not in ("v", "event")})
    study = Study(lambda c, r: None, {"x": Real(0, 1)}, journal=path)
    feed = Feed(study)
    assert len(feed) == 5 and study.listeners
    seen = []
    assert len(feed.subscribe(seen.extend)) == 5
    for r in story[5:8]:
        for fn in study.listeners:
            fn(r)
    assert [r["event"] for r in feed.records()[5:]] == ["report"] * 3 and len(seen) == 3
    feed.close()
    assert not study.listeners and len(Feed.from_journal(path)) == 5


def test_views_follow_the_policy_and_the_journal(story):
    from hpo_kit.optimizers import ASHA, Hypersearch, RandomSearch, TimeAwareBO
    from hpo_kit.ui.plots import default_views, views_for

    tail = ("parallel", "importance", "slice")  # always: configurations -> score, which parameters matter
    assert default_views(RandomSearch()) == ("curves", "best", "timeline", *tail)
    assert default_views(ASHA())[-4] == default_views(Hypersearch())[-5] == "rungs"
    assert default_views(Hypersearch())[-4] == "lineage"  # which trial's weights seeded which
    assert default_views(TimeAwareBO(b=0.1, background=False))[-5:-3] == ("cost", "front")  # b's point on the front
    assert views_for(story) == ("curves", "best", "timeline", *tail)
    paused = [start(optimizer={"name": "bo", "b": 0.2}), end(0, 1, "PAUSED", event="trial_pause")]
    assert views_for(paused) == ("curves", "best", "timeline", "rungs", "cost", "front", *tail)
    seeded = [start(), rec("trial_create", 0, trial=0, config={}), rec("trial_create", 1, trial=1, config={}, parent=0)]
    assert views_for(seeded) == ("curves", "best", "timeline", "lineage", *tail)


def test_lineage_puts_each_trial_one_generation_below_the_trial_it_started_from():
    from hpo_kit.ui.lineage import lineage

    recs = [start()] + [rec("trial_create", i, trial=i, config={}, parent=p)
                        for i, p in enumerate([None, None, 0, 2, 0, 1])]
    nodes, edges = lineage(recs)
    assert nodes["trial"] == [0, 1, 2, 3, 4, 5]
    assert nodes["generation"] == [0, 0, 1, 2, 1, 1]
    assert nodes["parent"] == [-1, -1, 0, 2, 0, 1]
    assert list(zip(edges["x0"], edges["y0"], edges["x1"], edges["y1"])) == [
        (0, 0, 2, 1), (2, 1, 3, 2), (0, 0, 4, 1), (1, 0, 5, 1)]


def test_a_one_epoch_trial_is_a_marker_in_the_curves_and_rung_labels_say_what_they_count():
    from hpo_kit.ui.plots import PALETTE, legend_html, view_data

    recs = [start()]
    for i in range(3):
        recs += [rec("trial_create", i, trial=i, config={}, budget=1), rec("trial_start", i + .1, trial=i),
                 report(i, 1, i + .5, float(i)), end(i, i + .6, "PAUSED", event="trial_pause")]
    recs += [rec("trial_resume", 4, trial=0, budget=3), rec("trial_start", 4.1, trial=0), report(0, 2, 5, 0.1)]
    sources = view_data(recs)["sources"]
    ends = sources["curve_ends"]
    assert list(zip(ends["trial"], ends["x"], ends["y"])) == [(0, 2, 0.1), (1, 1, 1.0), (2, 1, 2.0)]
    assert sources["rung_levels"]["label"] == ["rung 1 epoch: 3 trials reached it", "rung 3 epochs: 0 trials reached it"]
    legend = legend_html()
    assert len(PALETTE) == 10 and all(c.lower() in legend for c in PALETTE)  # 9 statuses and flags, and warm-up
