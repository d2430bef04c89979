"""Warm start: earlier results told to the searcher before its first ask; journalled; rebuilt by a resume."""
from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

from hpo_kit import Categorical, RandomSearch, Real, Study, read_journal
from hpo_kit.engine.audit import audited
from hpo_kit.goal import Goal
from hpo_kit.space import Space
from hpo_kit.testing import quadratic
from hpo_kit.warm_start import load_warm_start

SPACE = {"x": Real(0.0, 1.0), "sleep": Categorical([0.0])}


class Recording(RandomSearch):
    """A random searcher that keeps what it was told, and how many asks came before each tell."""

    def setup(self, space, goal, concurrency=1):
        super().setup(space, goal, concurrency)
        self.told, self.asks = [], 0

    def ask(self, trial_id):
        self.asks += 1
        return super().ask(trial_id)

    def tell(self, obs):
        self.told.append((obs.trial_id, dict(obs.config), obs.loss, self.asks))


def _earlier(client, path, n=6):
    return Study(quadratic, SPACE, n_trials=n, max_epochs=2, cluster=client, journal=path,
                 searcher=RandomSearch(seed=7)).run(progress=False)


def test_a_journal_warm_starts_the_searcher_and_a_resume_tells_it_again(client, tmp_path):
    old = _earlier(client, tmp_path / "old.jsonl")
    path = tmp_path / "new.jsonl"
    study = Study(quadratic, SPACE, n_trials=3, max_epochs=2, cluster=client, journal=path,
                  searcher=Recording(seed=1), warm_start=[tmp_path / "old.jsonl"])
    study.run(progress=False)
    told = study.optimizer.searcher.told
    warm = [t for t in told if t[0] < 0]
    assert [t[0] for t in told[:6]] == [-1, -2, -3, -4, -5, -6] and all(t[3] == 0 for t in warm)  # before any ask
    assert sorted(t[2] for t in warm) == sorted(old.results.score)  # min mode: loss = score
    assert len(study.trials) == 3  # not trials of this study, nor in its n_trials
    (rec,) = [r for r in read_journal(path) if r["event"] == "warm_start"]
    assert rec["count"] == 6 and rec["sources"][0]["source"] == str(tmp_path / "old.jsonl")
    assert rec["sources"][0]["used"] == 6

    (tmp_path / "old.jsonl").unlink()  # a resume needs only its own journal
    again = Study.resume(path, cluster=client, n_trials=4)
    again.run(progress=False)
    retold = again.optimizer.searcher.told
    assert retold[:6] == [(tid, c, loss, 0) for tid, c, loss, _ in warm]  # the same history, first
    assert {t[0] for t in retold[6:]} >= {0, 1, 2}
    assert len([r for r in read_journal(path) if r["event"] == "warm_start"]) == 1
    with pytest.raises(ValueError, match="warm_start"):
        Study.resume(path, cluster=client, warm_start=[old.results])


def test_a_results_frame_warm_starts_in_max_mode(client, tmp_path):
    old = _earlier(client, tmp_path / "old.jsonl", n=4)
    frame = old.results
    warm = load_warm_start([frame], Space(SPACE), Goal("loss", "max"), None)
    assert [o.loss for o in warm.observations] == [-s for s in frame.score]  # losses in minimisation orientation
    assert [o.config for o in warm.observations] == [t.config for t in old.trials.values()]
    assert all(o.trial_id < 0 and o.final for o in warm.observations)


def test_rows_outside_the_new_space_are_skipped_with_a_warning():
    frame = pd.DataFrame({"config.x": [0.1, 0.6, 0.2, 0.4], "config.old": [1, 2, 3, 4],
                          "score": [0.5, 0.4, float("nan"), 0.3], "last.loss": [0.5, 0.4, 0.3, 0.3],
                          "status": ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED"]})
    with pytest.warns(UserWarning) as caught:
        warm = load_warm_start(frame, Space({"x": Real(0.0, 0.5)}), Goal("loss"), 3)
    text = " ".join(str(w.message) for w in caught)
    assert "outside the space: ['x']" in text and "['old'] not in this space" in text
    assert "no finite value" in text and "status FAILED" in text
    assert [(o.config, o.loss, o.epochs) for o in warm.observations] == [({"x": 0.1}, 0.5, 3)]
    assert warm.sources == [{"source": "DataFrame", "rows": 4, "used": 1,
                             "skipped": {"outside the space: ['x']": 1, "no finite value": 1, "status FAILED": 1}}]
    with pytest.warns(UserWarning, match=r"missing \['y'\]"):  # a new dimension the old results lack
        assert load_warm_start(frame, Space({"x": Real(0.0, 1.0), "y": Real(0, 1)}), Goal("loss"), 3) \
            .observations == []
    own = pd.DataFrame({"x": [0.2, 0.3], "loss": [1.0, 2.0]})  # a frame of the user's own
    assert [o.loss for o in load_warm_start([own], Space({"x": Real(0, 1)}), Goal("loss"), 1).observations] \
        == [1.0, 2.0]


@pytest.mark.parametrize("source, word", [
    (pd.DataFrame({"config.y": [0.1], "loss": [1.0]}), "shares no dimension"),
    (pd.DataFrame({"config.x": [0.1], "acc": [1.0]}), "no column 'loss'"),
    (42, "neither a journal path nor a pandas DataFrame"),
    ("/nonexistent/old.jsonl", "no journal file"),
])
def test_an_incompatible_source_is_refused_naming_warm_start(source, word, journal):
    with pytest.raises(ValueError, match=f"warm_start.*{word}"):
        Study(quadratic, {"x": Real(0, 1)}, metric="loss", warm_start=[source], journal=journal)
    assert not journal.exists()


def test_a_journal_of_another_metric_is_refused(client, tmp_path):
    _earlier(client, tmp_path / "old.jsonl", n=2)
    with pytest.raises(ValueError, match="warm_start=.*no trial of it reported metric='acc'"):
        Study(quadratic, SPACE, metric="acc", mode="max", warm_start=[tmp_path / "old.jsonl"])


def test_bo_uses_the_warm_start_from_its_first_ask(client, tmp_path):
    from hpo_kit import TimeAwareBO

    old = _earlier(client, tmp_path / "old.jsonl", n=12)
    study = Study(quadratic, SPACE, n_trials=2, max_epochs=2, cluster=client, journal=tmp_path / "bo.jsonl",
                  searcher=TimeAwareBO(n_initial_points=5, background=False, seed=0), warm_start=[old.results])
    study.run(progress=False)
    assert set(study.results.source) == {"surrogate"}  # no random initial points: 12 results were known
    assert all(math.isfinite(s) for s in study.results.score)


def test_the_audit_skips_a_warm_start_outside_the_space():
    start = {"event": "study_start", "space": {"x": {"type": "real", "low": 0.0, "high": 1.0, "log": False}}}
    bad = {"event": "warm_start", "count": 1, "sources": [], "observations": [{"config": {"x": 3.0}, "loss": 1.0}]}
    damaged = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        kept = [n for n, _ in audited([(1, start), (2, bad)], damaged=damaged)]
    assert kept == [1] and damaged == [2]


def test_a_results_frame_of_another_metric_uses_its_last_value():
    frame = pd.DataFrame({"config.x": [0.1, 0.2], "score": [0.9, 0.8], "last.loss": [0.5, 0.4]})
    frame.attrs["metric"] = "val_loss"  # as study.results marks it: the score is val_loss's
    warm = load_warm_start(frame, Space({"x": Real(0, 1)}), Goal("loss"), 1)
    assert [o.loss for o in warm.observations] == [0.5, 0.4]


def test_a_conditional_space_warm_starts_from_rows_without_their_inactive_dimensions(tmp_path):
    import warnings as w

    from hpo_kit import Categorical
    from hpo_kit.warm_start import load_warm_start

    space = Space({"opt": Categorical(["sgd", "adam"]), "x": Real(0.0, 1.0),
                   "momentum": Real(0.0, 0.9, when=("opt", "sgd"))})
    frame = pd.DataFrame({"config.opt": ["adam", "sgd", "sgd"], "config.x": [0.1, 0.2, 0.3],
                          "config.momentum": [float("nan"), 0.5, float("nan")], "loss": [1.0, 2.0, 3.0]})
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        warm = load_warm_start([frame], space, Goal("loss"), None)
    configs = [o.config for o in warm.observations]
    assert configs == [{"opt": "adam", "x": 0.1}, {"opt": "sgd", "x": 0.2, "momentum": 0.5}]
    assert ["missing ['momentum']" in str(c.message) for c in caught] == [True]  # only the sgd row without it
