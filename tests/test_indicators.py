"""The indicators and the Diagnosis monitor on constructed histories: no torch, no cluster."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from hpo_kit import Trial
from hpo_kit.diagnosis import indicators as ind
from hpo_kit.diagnosis.monitor import Diagnosis, Thresholds
from hpo_kit.monitor import Finding

HEALTHY_G = [2e-3, 3e-3, 5e-3, 1e-2]  # mean |grad| per layer, input to output


def test_indicators_and_the_monitor_import_no_torch():
    code = "import sys, hpo_kit.diagnosis.indicators, hpo_kit.diagnosis.monitor; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ratios_are_adjacent_quotients_and_zero_denominators_are_nonfinite():
    assert ind.ratios([4.0, 2.0, 1.0]) == [2.0, 2.0]
    q = ind.ratios([1.0, 0.0, 0.0])
    assert q[0] == math.inf and math.isnan(q[1])
    assert ind.ratios([1.0]) == []


@pytest.mark.parametrize("epoch, budget, first", [(1, 20, True), (10, 20, True), (11, 20, False), (4, 9, True),
                                                  (5, 9, False)])
def test_first_half_is_relative_to_the_budget(epoch, budget, first):
    assert ind.first_half(epoch, budget) is first


# -- AGV -----------------------------------------------------------------------------------
def test_nonfinite_fires_on_nan_loss_grad_or_weight_and_not_on_missing_values():
    assert ind.nonfinite([math.nan])["rule"] == "loss"
    assert ind.nonfinite([0.5, math.inf])["rule"] == "loss"
    assert ind.nonfinite([0.5], [1e-3, math.nan]) == {"rule": "grad", "layers": 1}
    assert ind.nonfinite([0.5], HEALTHY_G, nonfinite_grad=2)["layers"] == 2
    assert ind.nonfinite([0.5], HEALTHY_G, nonfinite_weight=1) == {"rule": "weight", "layers": 1}
    assert ind.nonfinite([0.5, None], HEALTHY_G) is None


# -- EAG -----------------------------------------------------------------------------------
def test_exploding_fires_on_large_median_gradient_with_its_numbers():
    v = ind.exploding([1e5, 2e5, 3e5])
    assert v["rule"] == "median_grad" and v["median_grad"] == 2e5 and v["threshold"] == 1e4
    assert ind.exploding([1e5, 2e5, 3e5], max_grad=1e6) is None  # threshold respected


def test_exploding_fires_on_large_adjacent_ratios():
    g = [1e2, 1e-2, 1e-6, 1e-9]  # each layer >= 1e3 times the next: gradients grow towards the input
    v = ind.exploding(g)
    assert v["rule"] == "median_ratio" and v["median_ratio"] >= 1e3
    assert ind.exploding(g, max_ratio=1e5) is None


def test_exploding_leaves_zero_and_nonfinite_gradients_to_other_rules():
    assert ind.exploding([1e5, 0.0, 1e5]) is None  # ERG's case
    assert ind.exploding([math.nan, 1.0]) is None  # AGV's case
    assert ind.exploding(HEALTHY_G) is None
    assert ind.exploding([]) is None


# -- ERG -----------------------------------------------------------------------------------
def test_vanishing_fires_in_the_first_half_only():
    g = [1e-9, 1e-8, 1e-7, 1e-2]
    assert ind.vanishing(g, epoch=1, max_epochs=20)["rule"] == "median_grad"
    assert ind.vanishing(g, epoch=10, max_epochs=20) is not None
    assert ind.vanishing(g, epoch=11, max_epochs=20) is None
    assert ind.vanishing(g, epoch=1, max_epochs=20, min_grad=1e-10) is None  # threshold respected (q ~ 0.1)


def test_vanishing_fires_on_a_zero_layer_and_on_small_ratios():
    assert ind.vanishing([1e-3, 0.0, 1e-2], 1, 20) == {"rule": "zero_grad", "layers": [1]}
    v = ind.vanishing([1e-9, 1e-4, 1e1], 1, 20, min_grad=1e-12)  # q = 1e-5, 1e-5
    assert v["rule"] == "median_ratio" and v["median_ratio"] == pytest.approx(1e-5)
    assert ind.vanishing([1e-9, 1e-4, 1e1], 1, 20, min_grad=1e-12, min_ratio=1e-6) is None
    assert ind.vanishing(HEALTHY_G, 1, 20) is None


# -- LAR -----------------------------------------------------------------------------------
def test_dying_needs_min_epochs_and_a_median_zero_ratio_above_threshold():
    z = [0.9, 0.8, 0.1]
    assert ind.dying(z, epoch=4) is None
    v = ind.dying(z, epoch=5)
    assert v == {"rule": "median_zero", "median_zero": 0.8, "threshold": 0.5}
    assert ind.dying(z, epoch=5, max_zero=0.85) is None
    assert ind.dying(z, epoch=2, min_epochs=2) is not None
    assert ind.dying([0.1, 0.2, 0.9], epoch=9) is None  # one dead layer is not the median


# -- PLC -----------------------------------------------------------------------------------
def test_passive_fires_on_a_flat_loss_in_the_first_half():
    flat = [2.302585, 2.302586, 2.302585]
    assert ind.passive(flat[:2], 2, 20) is None  # needs 3 epochs
    v = ind.passive(flat, 3, 20)
    assert v["rule"] == "flat" and v["cv"] < 1e-4
    assert ind.passive(flat, 3, 20, min_cv=1e-9) is None
    assert ind.passive([2.3, 1.5, 0.9], 3, 20) is None


def test_passive_second_half_fires_when_the_later_history_varies_more():
    late_start = [2.30, 2.29, 2.28, 2.27, 2.26, 2.0, 1.6, 1.0, 0.6, 0.4, 0.3]  # starts converging late
    v = ind.passive(late_start, 11, 20)
    assert v["rule"] == "slowing" and v["cv_late"] > v["cv_early"]
    healthy = [2.0, 1.0, 0.6, 0.45, 0.4, 0.37, 0.35, 0.34, 0.335, 0.33, 0.328]
    assert ind.passive(healthy, 11, 20) is None
    assert ind.passive(late_start[:5], 11, 20, late_epochs=6) is None  # too short a history


def test_passive_second_half_spares_steady_exponential_decay_unless_asked_for_the_authors_rule():
    steady = [2.0 * 0.85 ** i for i in range(11)]  # CV 0.228 (epochs 1-5) vs 0.275 (epochs 6-11)
    assert ind.passive(steady, 11, 20) is None
    v = ind.passive(steady, 11, 20, slow_ratio=1.0)  # the authors' rule fires on steady progress
    assert v["cv_late"] == pytest.approx(0.275, abs=1e-3) and v["cv_early"] == pytest.approx(0.228, abs=1e-3)


@pytest.mark.parametrize("shift", [100.0, -100.0])
def test_passive_and_unstable_spare_a_falling_loss_whatever_its_sign(shift):
    # -100: a negative log-likelihood or ELBO; the signed mean made its CV negative, i.e. "flat"
    falling = [2.3 + shift, 1.5 + shift, 0.9 + shift]
    assert ind.passive(falling, 3, 20) is None
    steady = [2.0 * 0.85 ** i + shift for i in range(11)]
    assert ind.passive(steady[:3], 3, 20) is None
    assert ind.passive(steady, 11, 20) is None
    assert ind.unstable(steady, 11, 20) is None


def test_passive_still_fires_on_a_flat_negative_loss():
    v = ind.passive([-100.0, -100.000001, -100.0], 3, 20)
    assert v["rule"] == "flat" and 0 <= v["cv"] < 1e-4
    late_start = [-x for x in [2.30, 2.29, 2.28, 2.27, 2.26, 2.0, 1.6, 1.0, 0.6, 0.4, 0.3]]  # mirror image
    v = ind.passive(late_start, 11, 20)
    assert v["rule"] == "slowing" and v["cv_late"] > 2 * v["cv_early"] > 0


def test_cv_of_a_loss_around_zero_uses_the_scale_of_the_values():
    assert ind.passive([0.0, 0.0, 0.0], 3, 20)["cv"] == 0.0  # nothing moves: flat, not a division by 0
    assert ind.passive([0.5, -0.5, 0.5], 3, 20) is None  # mean 0, but the loss moves: CV 1
    assert ind.passive([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], 11, 20) is None  # both halves CV 1, not inf vs inf


# -- ULC -----------------------------------------------------------------------------------
def test_unstable_fires_on_a_rising_oscillating_tail_in_the_second_half():
    losses = [2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.6, 0.2, 0.9, 0.3, 1.2]
    v = ind.unstable(losses, 11, 20)
    assert v["rule"] == "oscillating" and v["slope"] >= 0.01 and v["cv"] > 0.2
    assert ind.unstable(losses, 10, 20) is None  # first half
    assert ind.unstable(losses, 11, 20, min_slope=1.0) is None
    assert ind.unstable(losses, 11, 20, max_cv=5.0) is None
    assert ind.unstable([2.0, 1.8, 1.6, 1.4, 1.2, 1.0], 11, 20) is None  # falling


def test_unstable_fires_on_a_rising_oscillating_negative_tail():
    losses = [-2.0, -1.0, -0.6, -0.4, -0.3, -0.2, -1.6, -0.3, -1.2, -0.2, -0.1]  # std/mean was < 0
    v = ind.unstable(losses, 11, 20)
    assert v["rule"] == "oscillating" and v["slope"] >= 0.01 and v["cv"] > 0.2


# -- NMG -----------------------------------------------------------------------------------
def test_no_gain_compares_the_last_two_half_windows():
    assert ind.no_gain([1.0, 0.9, 0.8, 0.7, 0.6, 0.5]) is None
    assert ind.no_gain([0.5, 0.4, 0.3, 0.35, 0.4, 0.45]) is None  # equal means: no loss of gain
    v = ind.no_gain([0.9, 0.5, 0.4, 0.3, 0.4, 0.45, 0.5])  # only the last 6 count
    assert v == {"rule": "no_gain", "head_mean": pytest.approx(0.4), "tail_mean": pytest.approx(0.45)}
    assert ind.no_gain([0.3, 0.4, 0.5]) is None  # shorter than the window
    assert ind.no_gain([0.3, 0.2, 0.4, 0.5], window=4)["rule"] == "no_gain"
    assert ind.no_gain([0.3, 0.2, 0.1, 0.4, 0.5, 0.6]) is not None


# -- protection ----------------------------------------------------------------------------
def test_protection_covers_the_best_percent_once_enough_peers_exist():
    peers = [0.1 * i for i in range(1, 11)]  # 10 peers, 0.1 .. 1.0
    assert ind.protected(0.05, peers)
    assert ind.protected(0.19, peers)  # 10th percentile of the peers is 0.19
    assert not ind.protected(0.2, peers)
    assert not ind.protected(0.05, peers[:9])  # 9 peers: nobody is protected yet
    assert ind.protected(0.05, peers[:5], min_peers=5)
    assert ind.protected(0.5, peers, percent=50)
    assert not ind.protected(math.nan, peers)
    assert not ind.protected(0.05, [math.nan] * 5 + peers[:5])  # non-finite peers do not count


# -- the monitor ---------------------------------------------------------------------------
def _trial(tid, losses, diags=None, flags=()):
    t = Trial(id=tid, config={}, budget=20)
    for e, loss in enumerate(losses, start=1):
        r = {"epoch": e, "t": float(e), "metrics": {"train_loss": loss, "val_loss": loss}}
        if diags is not None:
            r["diag"] = diags[e - 1]
        t.reports.append(r)
    t.flags.extend(flags)
    return t


def _diag(g, z=None):
    return {"grad_abs": g, "grad_zero": z or [0.0] * len(g), "nonfinite_grad": 0, "nonfinite_weight": 0}


def test_diagnosis_returns_a_finding_with_the_numbers_that_fired_it():
    t = _trial(0, [2.3], [_diag([1e-9, 1e-8, 1e-8, 1e-2])])
    f = Diagnosis().check(t, {0: t}, 20)
    assert isinstance(f, Finding) and f.indicator == "ERG" and f.epoch == 1
    assert f.values["median_grad"] < 1e-5 and f.values["max_epochs"] == 20
    assert "ERG" in f.message and "epoch 1" in f.message


def test_diagnosis_hard_rules_come_first_and_thresholds_are_parameters():
    t = _trial(0, [math.nan], [_diag([1e5, 1e5])])
    assert Diagnosis().check(t, {0: t}, 20).indicator == "AGV"
    t = _trial(0, [2.3], [_diag([1e5, 2e5])])
    assert Diagnosis().check(t, {0: t}, 20).indicator == "EAG"
    assert Diagnosis(max_grad=1e6).check(t, {0: t}, 20) is None
    assert Diagnosis(Thresholds(max_grad=1e6)).check(t, {0: t}, 20) is None
    with pytest.raises(ValueError, match="unknown threshold"):
        Diagnosis(max_gard=1.0)
    with pytest.raises(ValueError, match="unknown indicator"):
        Diagnosis(indicators=["XYZ"])


def test_diagnosis_without_watcher_statistics_uses_the_loss_rules_only():
    t = _trial(0, [2.302585, 2.302585, 2.302585])
    f = Diagnosis().check(t, {0: t}, 20)
    assert f.indicator == "PLC" and f.values["rule"] == "flat"
    assert Diagnosis(indicators=["AGV", "ERG"]).check(t, {0: t}, 20) is None


def test_diagnosis_skips_indicators_that_already_flagged_the_trial():
    t = _trial(0, [2.302585] * 6, [_diag(HEALTHY_G, [0.9] * 4)] * 6, flags=[{"indicator": "LAR"}])
    assert Diagnosis().check(t, {0: t}, 20).indicator == "PLC"


def test_diagnosis_protects_the_best_trials_from_the_soft_rules_only():
    dying = [_diag(HEALTHY_G, [0.9] * 4)] * 5
    peers = {i: _trial(i, [1.0 + i] * 5) for i in range(1, 11)}
    top = _trial(0, [0.5, 0.4, 0.3, 0.2, 0.1], dying)
    assert Diagnosis().check(top, {0: top, **peers}, 20) is None  # LAR fires, but protected
    assert Diagnosis().check(top, {0: top}, 20).indicator == "LAR"  # no peers, no protection
    assert Diagnosis(protect_min_peers=11).check(top, {0: top, **peers}, 20).indicator == "LAR"
    exploding = _trial(0, [0.5], [_diag([1e5, 1e5])])
    assert Diagnosis().check(exploding, {0: exploding, **{i: _trial(i, [9.0]) for i in range(1, 11)}},
                             20).indicator == "EAG"


def test_diagnosis_epoch_windows_follow_the_budget():
    vanishing = [_diag([1e-9, 1e-9, 1e-2])] * 6
    t = _trial(0, [2.0, 1.5, 1.2, 1.0, 0.9, 0.8], vanishing)
    assert Diagnosis().check(t, {0: t}, 20).indicator == "ERG"  # epoch 6 of 20: first half
    assert Diagnosis().check(t, {0: t}, 10) is None  # epoch 6 of 10: second half
    assert Diagnosis(max_epochs=20).check(t, {0: t}, 10).indicator == "ERG"  # override
    t.budget = 10
    assert Diagnosis().check(t, {0: t}, None) is None  # no study budget: the trial's


def test_diagnosis_can_read_the_activation_zero_ratio():
    d = [{**_diag(HEALTHY_G), "act_zero": [0.95, 0.9]}] * 5
    t = _trial(0, [2.0, 1.5, 1.2, 1.0, 0.9], d)
    assert Diagnosis().check(t, {0: t}, 20) is None
    assert Diagnosis(zero_ratio="activation").check(t, {0: t}, 20).indicator == "LAR"


def test_the_default_indicators_have_one_definition_that_diagnosis_uses():
    from hpo_kit.diagnosis import Diagnosis
    from hpo_kit.diagnosis import indicators, monitor

    assert monitor.DEFAULT_INDICATORS is indicators.DEFAULT_INDICATORS
    assert tuple(Diagnosis().indicators) == indicators.DEFAULT_INDICATORS == ("AGV", "EAG", "ERG", "LAR", "PLC")
