"""TimeAwareBO reads running trials from the ledger (issue 22 item 8), on a real Study and cluster."""
from __future__ import annotations

import time

from hpo_kit import Categorical, Real, Space, Study, TrialStatus
from hpo_kit.engine.replay import replay
from hpo_kit.ledger import Ledger
from hpo_kit.searchers.bo import TimeAwareBO
from hpo_kit.testing import pid_and_sleep


def test_a_discarded_kill_is_not_pending_and_a_live_and_a_resumed_bo_propose_the_same(client, journal):
    space = Space({"x": Real(0.0, 1.0), "sleep": Categorical([0.1]), "epochs": Categorical([12])})
    bo = TimeAwareBO(strategy="constant_liar", n_initial_points=2, background=False, seed=0)
    study = Study(pid_and_sleep, space, metric="loss", n_trials=5, cluster=client, journal=journal, optimizer=bo,
                  concurrency=2, prefetch=0).start()
    deadline = time.time() + 60
    while (not study.trials or study.trials[0].epochs < 1) and time.time() < deadline:
        time.sleep(0.02)
    study.kill(0, reason="a bad start", discard=True)
    assert study.wait(120)
    assert study.trials[0].status is TrialStatus.KILLED and study.trials[0].discard
    ledger_pending = sum(not t.status.is_terminal for t in study.trials.values())
    assert bo.state()["n_pending"] == ledger_pending == 0, "the discarded trial still counts as running"

    rep = replay(str(journal))  # what Study.resume reads
    ledger = Ledger(study.goal)
    observations = ledger.restore(rep.trials, rep.ends)
    resumed = TimeAwareBO(**bo.params())
    resumed.bind(ledger.trials)
    resumed.setup(space, study.goal, 2)
    resumed.restore(sorted(ledger, key=lambda t: t.id), observations)
    assert resumed.state()["n_pending"] == 0
    live_start, resumed_start = bo.ask(5), resumed.ask(5)
    assert live_start.info["source"] == resumed_start.info["source"] == "surrogate"
    assert live_start.config == resumed_start.config, "a live and a resumed BO propose differently"
    assert len(bo.surrogate.yi) == len(resumed.surrogate.yi) == 4, "a liar point for a trial that ended"
