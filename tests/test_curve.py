"""LearningCurve: extrapolation on known curves, the stopping rule, shadow mode and AnyOf in a real Study."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_kit import Categorical, Real, Space, Study, Trial, TrialStatus, read_journal
from hpo_kit.diagnosis import AnyOf, Diagnosis, LearningCurve
from hpo_kit.diagnosis.curve import LCE, extrapolate
from hpo_kit.monitor import Finding


def trial(tid: int, values: list[float], metric: str = "acc") -> Trial:
    t = Trial(id=tid, config={}, status=TrialStatus.RUNNING)
    t.reports = [{"epoch": e + 1, "metrics": {metric: v}} for e, v in enumerate(values)]
    return t


def saturating(final: float, rate: float, epochs: int, start: float = 0.1) -> list[float]:
    return [final - (final - start) * math.exp(-rate * e) for e in range(1, epochs + 1)]


def peers(n: int = 10, final: float = 0.95, epochs: int = 20) -> dict[int, Trial]:
    """``n`` finished trials ending near ``final``, with a little epoch-to-epoch noise."""
    rng = np.random.default_rng(0)
    return {i: trial(i, [v + rng.normal(0, 0.003) for v in saturating(final + 0.002 * i, 0.5, epochs)])
            for i in range(n)}


@pytest.mark.parametrize("curve, final", [(lambda x: 0.9 - 0.8 * x ** -0.7, 0.9 - 0.8 * 20 ** -0.7),
                                          (lambda x: 0.8 - 0.7 * math.exp(-0.3 * x), 0.8 - 0.7 * math.exp(-6))])
def test_extrapolation_recovers_a_known_curve(curve, final):
    members = dict((name, pred) for name, pred, _ in extrapolate([curve(x) for x in range(1, 9)], 20))
    assert set(members) == {"pow3", "exp3", "log2"}
    assert min(abs(p - final) for p in members.values()) < 0.01  # the true family is within 1%
    assert all(p >= curve(8) for p in members.values())  # floored at the best so far


def test_a_healthy_trial_that_cannot_win_is_stopped_and_one_that_can_goes_on():
    monitor = LearningCurve("acc", "max", k=3)
    others = peers()
    slow = trial(99, saturating(0.6, 0.5, 20))  # plateaus at 0.6; the 3rd best ends near 0.96
    fast = trial(98, saturating(0.99, 0.3, 20))
    found = {}
    for t in (slow, fast):
        for e in range(1, 20):
            seen = trial(t.id, t.values("acc")[:e])
            f = monitor.check(seen, {**others, t.id: seen}, 20)
            if f is not None:
                found[t.id] = f
                break
    assert set(found) == {99}
    f = found[99]
    assert f.indicator == LCE and 3 <= f.epoch <= 8 and f.values["p"] < 0.05
    assert f.values["threshold"] == pytest.approx(sorted(max(t.values("acc")) for t in others.values())[-3])
    assert f.message.startswith("LCE") and "3rd best" in f.message


def test_no_decision_without_enough_epochs_or_peers_and_only_once():
    monitor = LearningCurve("acc", "max", k=3, min_epochs=4)
    others = peers()
    low = saturating(0.5, 0.8, 20)
    assert monitor.check(trial(99, low[:3]), {**others, 99: trial(99, low[:3])}, 20) is None  # 3 < min_epochs
    two_peers = {0: others[0], 1: others[1]}
    assert monitor.check(trial(99, low[:8]), {**two_peers, 99: trial(99, low[:8])}, 20) is None  # 2 < k peers
    t = trial(99, low[:8])
    f = monitor.check(t, {**others, 99: t}, 20)
    assert f is not None
    t.flags.append(f.to_dict())
    assert monitor.check(t, {**others, 99: t}, 20) is None  # flagged once (shadow mode keeps it running)


def test_a_flat_or_accelerating_curve_waits_until_flat_patience():
    monitor = LearningCurve("acc", "max", k=3)
    others = peers()
    flat = [0.1] * 12  # at chance: a plateau before take-off looks the same, so no judgement yet
    checks = [monitor.check(trial(99, flat[:e]), {**others, 99: trial(99, flat[:e])}, 20) for e in range(3, 13)]
    assert [f is None for f in checks] == [True] * 7 + [False] * 3  # judged from epoch 10 = 0.5 x 20
    rising = [0.1, 0.12, 0.2, 0.4]  # still accelerating
    assert monitor.check(trial(99, rising), {**others, 99: trial(99, rising)}, 20) is None


def test_losses_to_minimise_and_parameters():
    monitor = LearningCurve("loss", "min", k=2)
    others = {i: trial(i, [1.0 / (e + 1) + 0.01 * i for e in range(20)], "loss") for i in range(5)}
    stuck = trial(9, [2.0 - 0.5 * (1 - math.exp(-e)) for e in range(1, 8)], "loss")
    f = monitor.check(stuck, {**others, 9: stuck}, 20)
    assert f is not None and f.values["threshold"] == pytest.approx(1 / 20 + 0.01)
    for bad in ({"mode": "up"}, {"k": 0}, {"p_min": 1.5}, {"min_epochs": 2}, {"models": ["cubic"]},
                {"flat_patience": 2}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LearningCurve("loss", **bad)


class Fires:
    def __init__(self, name: str, at: int) -> None:
        self.name, self.at = name, at

    def check(self, trial, trials, max_epochs):
        return Finding(self.name, self.at) if trial.reports[-1]["epoch"] == self.at else None


def test_any_of_returns_the_first_finding_in_order():
    both = AnyOf(Fires("A", 2), Fires("B", 2), Fires("C", 3))
    assert both.check(trial(0, [0.1, 0.2]), {}, 5).indicator == "A"
    assert both.check(trial(0, [0.1, 0.2, 0.3]), {}, 5).indicator == "C"
    with pytest.raises(ValueError):
        AnyOf()
    with pytest.raises(ValueError, match="check"):
        AnyOf(object())


# -- a real Study ----------------------------------------------------------------------------------
def learner(config: dict, reporter) -> None:
    """A curve that saturates at ``ceiling`` (the configuration decides whether it can win)."""
    for epoch in range(1, (reporter.max_epochs or 12) + 1):
        reporter.report(epoch=epoch, acc=config["ceiling"] * (1 - 0.8 * math.exp(-0.6 * epoch)))


@pytest.mark.parametrize("on_flag", ["flag", "stop"])
def test_shadow_mode_journals_what_it_would_stop_and_stop_mode_stops_it(tmp_path, on_flag):
    space = Space({"ceiling": Real(0.2, 1.0), "unused": Categorical(["a"])})
    monitor = AnyOf(Diagnosis(), LearningCurve("acc", "max", k=2, min_peers=3))
    study = Study(learner, space, metric="acc", mode="max", optimizer="random", n_trials=16, max_epochs=12,
                  n_workers=2, monitor=monitor, on_flag=on_flag, journal=tmp_path / "s.jsonl", seed=0)
    study.run(progress=False)
    flags = [r for r in read_journal(study.journal_path) if r["event"] == "flag"]
    assert flags and all(r["finding"]["indicator"] == LCE and r["policy"] == on_flag for r in flags)
    flagged = {r["trial"] for r in flags}
    best = max(t.config["ceiling"] for t in study.trials.values())
    assert all(study.trials[i].config["ceiling"] < best for i in flagged)  # never the winner
    statuses = {study.trials[i].status for i in flagged}
    if on_flag == "flag":  # shadow mode: flagged, nothing stopped, every trial ran its 12 epochs
        assert all(t.status is TrialStatus.COMPLETED and t.epochs == 12 for t in study.trials.values())
    else:  # (an epoch of this objective takes microseconds: the stop may land only at its end)
        assert statuses == {TrialStatus.STOPPED}


def test_the_defaults_spare_a_trial_that_ends_in_the_top_half_but_not_the_top_10():
    # 30 peers ending 0.40..0.98: the 10th best ends at 0.80, the 20th at 0.60. A trial heading for 0.70
    # (15th of 31: in the top half, not the top 10) is a good trial by issue 27's definition: the defaults (k=20,
    # p_min=0.01, chosen so that <= 5% of the top half is stopped) let it run; k=10, p_min=0.05 stop it.
    rng = np.random.default_rng(1)
    others = {i: trial(i, [v + rng.normal(0, 0.003) for v in saturating(0.40 + 0.02 * i, 0.5, 20)])
              for i in range(30)}
    mid = saturating(0.70, 0.5, 20)

    def first(monitor: LearningCurve) -> Finding | None:
        for e in range(1, 20):
            seen = trial(99, mid[:e])
            f = monitor.check(seen, {**others, 99: seen}, 20)
            if f is not None:
                return f
        return None

    assert (LearningCurve("acc", "max").k, LearningCurve("acc", "max").p_min) == (20, 0.01)
    assert first(LearningCurve("acc", "max")) is None
    f = first(LearningCurve("acc", "max", k=10, p_min=0.05))
    assert f is not None and f.values["threshold"] == pytest.approx(0.80, abs=0.01)
