"""The rung cut-off a step applies alone (hpo_kit.engine.cutoff) agrees with the scheduler's own ranking."""
from __future__ import annotations

import math
import random

from hpo_kit.engine.cutoff import RungRule, rank_key
from hpo_kit.schedulers.rungs import Rung, promotable


def test_a_newcomer_that_beats_the_cutoff_is_exactly_one_the_scheduler_would_promote():
    rng = random.Random(1)
    for eta in (2, 3, 4):
        rung = Rung(1, 3)
        for tid in range(300):
            loss = rng.choice([rng.random(), rng.random(), math.inf, 0.5])
            cut = rung.cutoff(eta)
            beats = cut is not None and rank_key(tid, loss) < cut and math.isfinite(loss)
            rung.add(tid, loss)
            assert beats == (tid in promotable(rung, eta, {tid: 1})), (eta, tid, loss)
            if beats or rng.random() < 0.5:
                rung.promote(tid)


def test_the_rule_reads_the_study_score_rule_sign_and_prior_epochs():
    cut = rank_key(0, 0.5)
    rule = RungRule({3: (cut, 9)}, sign=1.0, score="best", prior=(0.9,))
    assert rule.decide(7, 3, {2: 0.8, 3: 0.6}) is None  # best of 0.9, 0.8, 0.6 is 0.6 > 0.5
    assert rule.decide(7, 3, {2: 0.4, 3: 0.6}) == 9  # best so far 0.4
    assert rule.decide(7, 3, {1: 0.1, 2: 0.8, 3: 0.6}) is None  # epoch 1 is the prior's (0.9), not a retrain's
    last = RungRule({3: (cut, 9)}, score="last")
    assert last.decide(7, 3, {1: 0.1, 3: 0.6}) is None and last.decide(7, 3, {3: 0.4}) == 9
    maxed = RungRule({3: (rank_key(0, -0.9), 9)}, sign=-1.0)  # accuracy: loss = -acc; beat acc 0.9
    assert maxed.decide(7, 3, {3: 0.95}) == 9 and maxed.decide(7, 3, {3: 0.85}) is None
    assert RungRule({3: (None, 9)}).decide(7, 3, {3: 0.0}) is None  # nobody can go up yet
    assert rule.decide(7, 3, {3: math.nan, 2: math.nan}) is None  # no finite loss: never promoted
    assert rule.decide(7, 1, {1: 0.0}) is None  # not a rung of the rule
