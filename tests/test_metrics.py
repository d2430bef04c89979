"""The papers' study metrics on hand-computed examples."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from hpo_kit import Trial, TrialStatus
from hpo_kit.metrics import best_so_far, time_to_reach, top_k_gain, top_k_hit_ratio, tsba, worker_utilisation


def trial(tid, accs, start=100.0, epoch_s=10.0, busy=0.0, ended=None):
    """Reports at start + epoch_s, start + 2 epoch_s, ...; created at 100 (the study start)."""
    t = Trial(id=tid, config={}, status=TrialStatus.COMPLETED, created=100.0, started=start, busy=busy, ended=ended)
    t.reports = [{"epoch": e, "t": start + e * epoch_s, "metrics": {"val_acc": a}} for e, a in enumerate(accs, 1)]
    return t


def test_top_k_hit_ratio_counts_the_pooled_top():
    method = [0.99, 0.98, 0.97, 0.50]
    baseline = [0.96, 0.95, 0.40]
    # pooled top-4: 0.99, 0.98, 0.97 (method) and 0.96 (baseline)
    assert top_k_hit_ratio(method, baseline, k=4) == pytest.approx(0.75)
    assert top_k_gain(method, baseline, k=4) == pytest.approx(2.0)  # 3 vs 1: 200% more
    # lower is better: top-2 losses 0.40 (baseline), 0.50 (method)
    assert top_k_hit_ratio(method, baseline, k=2, mode="min") == pytest.approx(0.5)
    assert top_k_hit_ratio(method, baseline, k=100) == pytest.approx(4 / 7)  # k larger than the pool


def test_top_k_ties_at_the_cut_share_the_last_places():
    # top-3 of the pool: 0.9 (method) and then four 0.8s for 2 places: 1 method, 3 baseline tied
    method, baseline = [0.9, 0.8, 0.1], [0.8, 0.8, 0.8]
    assert top_k_hit_ratio(method, baseline, k=3) == pytest.approx((1 + 2 * 1 / 4) / 3)


def test_top_k_reads_results_frames_and_trial_lists_and_skips_nonfinite_scores():
    frame_m = pd.DataFrame({"score": [0.9, math.nan, 0.7]})
    frame_b = pd.DataFrame({"score": [0.8, 0.6]})
    assert top_k_hit_ratio(frame_m, frame_b, k=2) == pytest.approx(0.5)
    trials_m = {0: trial(0, [0.5, 0.9]), 1: trial(1, [math.nan])}
    trials_b = [trial(0, [0.8]), trial(1, [0.6])]
    assert top_k_hit_ratio(trials_m, trials_b, k=2, metric="val_acc") == pytest.approx(0.5)
    assert math.isnan(top_k_hit_ratio([], [math.nan]))
    assert top_k_gain([0.9], [0.1], k=1) == math.inf
    with pytest.raises(ValueError, match="mode"):
        top_k_hit_ratio([1.0], [1.0], mode="up")


def test_best_so_far_and_time_to_reach():
    trials = [trial(0, [0.5, 0.7, 0.6]), trial(1, [0.65, 0.9], start=105.0)]
    # reports: t0 110 (.5), 120 (.7), 130 (.6); t1 115 (.65), 125 (.9); origin 100
    assert best_so_far(trials, "val_acc") == [(10.0, 0.5), (15.0, 0.65), (20.0, 0.7), (25.0, 0.9)]
    assert time_to_reach(trials, 0.7, "val_acc") == 20.0
    assert time_to_reach(trials, 0.95, "val_acc") == math.inf
    assert time_to_reach(trials, 0.6, "val_acc", mode="min") == 10.0
    assert time_to_reach(trials, 0.7, "val_acc", start=90.0) == 30.0


def test_tsba_is_one_minus_the_time_ratio_to_the_baseline_best():
    baseline = [trial(0, [0.5, 0.8, 0.85, 0.9])]  # best 0.9 reached at 40 s
    method = [trial(0, [0.7, 0.92])]  # >= 0.9 at 20 s
    assert tsba(method, baseline, "val_acc") == pytest.approx(1 - 20 / 40)
    slower = [trial(0, [0.5, 0.6, 0.7, 0.8, 0.9])]  # 50 s
    assert tsba(slower, baseline, "val_acc") == pytest.approx(1 - 50 / 40)
    assert tsba([trial(0, [0.5])], baseline, "val_acc") == -math.inf
    with pytest.raises(ValueError, match="no finite"):
        tsba(method, [trial(0, [math.nan])], "val_acc")


def test_worker_utilisation_is_busy_time_over_worker_time():
    trials = [trial(0, [0.5], busy=30.0, ended=140.0), trial(1, [0.6], busy=20.0, ended=150.0)]
    # span 100 -> 150 = 50 s, 2 workers: 50 busy / 100
    assert worker_utilisation(trials, 2) == pytest.approx(0.5)
    assert worker_utilisation(trials, 1, start=100.0, end=200.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        worker_utilisation(trials, 0)


def sim_trial(tid, reports, started, created=0.0, busy=0.0, ended=None):
    """A simulator trial: the clock starts at 0.0, so created=0.0 is a real time, not a missing one."""
    t = Trial(id=tid, config={}, status=TrialStatus.COMPLETED, created=created, started=started, busy=busy,
              ended=ended)
    t.reports = [{"epoch": e, "t": when, "metrics": {"val_acc": a}} for e, (when, a) in enumerate(reports, 1)]
    return t


def test_a_creation_time_of_zero_is_the_origin_not_a_missing_value():
    trials = [sim_trial(0, [(8.0, 0.9)], started=3.0), sim_trial(1, [(10.0, 0.5)], started=5.0)]
    assert time_to_reach(trials, 0.9, "val_acc") == 8.0  # from 0.0, not from the first start (3.0)
    assert best_so_far(trials, "val_acc") == [(8.0, 0.9)]
    assert time_to_reach(trials, 0.9, "val_acc", start=0.0) == 8.0
    # no start time at all, created at 0.0: still a time, not "no trial has a creation time"
    assert time_to_reach([sim_trial(0, [(4.0, 0.9)], started=None)], 0.9, "val_acc") == 4.0


def test_tsba_and_utilisation_count_from_a_zero_creation_time():
    baseline = [sim_trial(0, [(4.0, 0.5), (10.0, 0.9)], started=2.0)]  # best 0.9 at 10 s
    method = [sim_trial(0, [(5.0, 0.95)], started=2.0)]  # >= 0.9 at 5 s
    assert tsba(method, baseline, "val_acc") == pytest.approx(1 - 5 / 10)
    trials = [sim_trial(0, [(20.0, 0.5)], started=10.0, busy=10.0, ended=20.0)]
    assert worker_utilisation(trials, 1) == pytest.approx(10 / 20)  # span 0 -> 20, not 10 -> 20


def test_origin_falls_back_to_the_start_only_when_the_creation_time_is_none():
    t = sim_trial(0, [(8.0, 0.9)], started=3.0, created=None)
    assert time_to_reach([t], 0.9, "val_acc") == 5.0
    with pytest.raises(ValueError, match="start="):
        time_to_reach([sim_trial(0, [(8.0, 0.9)], started=None, created=None)], 0.9, "val_acc")
