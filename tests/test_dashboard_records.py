"""The dashboard's records are validated and bounded per study (issue 26, item 6).

Any client of a scheduler may publish a study (the first to use a name owns it); before,
a study with malformed records made ``/hpo-kit/`` answer HTTP 500 for everyone, and a
study's records had no bound. Now each record is checked as it arrives (a bad one is
refused and logged, the good ones of the same message kept), each study holds at most
``max_records`` records and ``max_bytes`` bytes (further records are refused, and its page
says so), and each study is rendered on its own: one that cannot be drawn shows an error
line, the others render. Each test failed on a303939.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

import pytest

from hpo_kit import Real, Study
from hpo_kit.ui.dashboard import REFUSED, STREAM_OP, StudyBoard, index_page, publish

pytestmark = pytest.mark.timeout(180)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def quick(config, reporter):
    for epoch in range(1, 3):
        time.sleep(0.1)
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)


def start(name: str = "n", t: float | None = None) -> dict:
    return {"v": 1, "t": time.time() if t is None else t, "event": "study_start", "name": name,
            "goal": {"metric": "loss"}, "settings": {"n_trials": 2},
            "space": {"x": {"type": "real", "low": 0.0, "high": 1.0, "log": False}}}


GOOD = [{"v": 1, "t": 1.0, "event": "trial_create", "trial": 0, "config": {"x": 0.5}, "budget": None},
        {"v": 1, "t": 1.1, "event": "trial_start", "trial": 0, "attempt": 0, "worker": "tcp://127.0.0.1:9"},
        {"v": 1, "t": 1.2, "event": "report", "trial": 0, "epoch": 1, "metrics": {"loss": 0.5}},
        {"v": 1, "t": 1.3, "event": "trial_end", "trial": 0, "status": "COMPLETED", "score": 0.5, "busy": 0.2}]
BAD = [5, "x", None, [1, 2], {"event": 3, "t": 1.0}, {"event": "report"},
       {"v": 1, "t": "soon", "event": "trial_start", "trial": 0},
       {"v": 1, "t": 1.0, "event": "study_start", "goal": 5},
       {"v": 1, "t": 1.0, "event": "study_start", "goal": {"metric": "loss", "colour": "red"}},
       {"v": 1, "t": 1.0, "event": "study_start", "goal": {"metric": "loss"}, "space": {"x": 1}},
       {"v": 1, "t": 1.0, "event": "trial_create", "trial": "0", "config": {"x": 0.5}},
       {"v": 1, "t": 1.0, "event": "trial_create", "trial": 1, "config": [0.5]},
       {"v": 1, "t": 1.0, "event": "report", "trial": 0, "epoch": 2, "metrics": {"loss": "low"}},
       {"v": 1, "t": 1.0, "event": "trial_end", "trial": 0, "status": "DONE"},
       {"v": 1, "t": 1.0, "event": "flag", "trial": 0, "finding": "odd"},
       {"v": 1, "t": 1.0, "event": "report", "trial": 0, "epoch": 3, "metrics": {"loss": 1.0}, "pad": "p" * 2 ** 20}]


def _registered(name, dask_scheduler=None):
    board = dask_scheduler.plugins.get("hpo-kit-board")
    return board is not None and name in board.owners


def test_a_client_publishing_malformed_records_never_breaks_the_pages(client, tmp_path):
    """Two real clients of one LocalCluster: a study's own, and another that publishes a malformed study."""
    from distributed import Client

    study = Study(quick, {"x": Real(0.0, 1.0)}, n_trials=3, cluster=client, journal=tmp_path / "good.jsonl")
    study.start()
    try:
        pub = publish(study)
        assert study.wait(120)
        base = pub.url.rsplit("/", 1)[0]
        with Client(client.scheduler.address, timeout=30) as other:
            forged = [{"v": 1, "t": time.time(), "event": "study_start", "name": "forged", "goal": 5}, *BAD]
            other._send_to_scheduler({"op": STREAM_OP, "study": "forged", "records": json.dumps(forged)})
            deadline = time.time() + 20  # the stream's message arrives on its own time
            while not other.run_on_scheduler(_registered, "forged"):
                assert time.time() < deadline, "the forged study never reached the scheduler"
                time.sleep(0.1)
            code, index = get(base + "/")
            assert code == 200, index[-2000:]
            assert study.name in index and "3/3 trials ended" in index
            code, page = get(pub.url)
            assert code == 200 and "hpo-table" in page
            code, data = get(pub.url + "/data.json")
            assert code == 200 and json.loads(data)["summary"]["ended"] == 3
            code, page = get(base + "/forged")  # the forged study itself: empty, not broken
            assert code == 200, page[-2000:]
            (said,) = [m for _, m in other.get_events(REFUSED) if m.get("study") == "forged"]  # logged once
            assert said["client"] == other.id and said["refused"] == len(forged) and said["problem"]
    finally:
        study.stop(wait=False)
        study.wait(60)


def test_bad_records_are_refused_one_by_one_and_logged(caplog):
    board = StudyBoard()
    with caplog.at_level(logging.WARNING, logger="hpo_kit.ui.dashboard"):
        assert board.receive("n", "Client-a", json.dumps([start(), *GOOD, *BAD]))
    assert board.studies["n"] == [start(t=board.studies["n"][0]["t"]), *GOOD]
    assert board.intake["n"].refused == len(BAD)
    warned = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warned) == 1 and "Client-a" in warned[0] and f"{len(BAD)} record(s)" in warned[0], warned
    data = board.data("n", board.studies["n"])
    assert data["summary"]["ended"] == 1 and f"{len(BAD)} record(s) refused" in data["header"]
    assert not board.receive("n", "Client-a", "{not json")  # a message that is no JSON list at all
    assert board.intake["n"].refused == len(BAD) + 1 and len(board.studies["n"]) == 1 + len(GOOD)


def test_a_studys_records_are_bounded_in_number_and_bytes():
    board = StudyBoard(max_records=2_000, max_bytes=1_000_000)
    assert board.receive("big", "Client-a", json.dumps([start("big")]))
    assert board.receive("small", "Client-b", json.dumps([start("small"), *GOOD]))
    report = {"v": 1, "t": 2.0, "event": "report", "trial": 0, "epoch": 1, "metrics": {"loss": 0.5}}
    padded = {**report, "info": "i" * 1000}  # about 1 kB each
    for _ in range(40):  # 20,000 records of 1 kB, in batches as a publisher sends them
        board.receive("big", "Client-a", json.dumps([padded] * 500))
    big = board.intake["big"]
    assert sum(len(json.dumps(r)) for r in board.studies["big"]) <= 1_000_000 and big.n_bytes <= 1_000_000
    assert big.refused >= 19_000 and len(board.studies["big"]) + big.refused == 20_001
    for _ in range(10):  # small records: the count is the bound
        board.receive("many", "Client-c", json.dumps([start("many"), *[report] * 999]))
    assert len(board.studies["many"]) == 2_000 and board.intake["many"].refused == 8_000
    end = {"v": 1, "t": 3.0, "event": "study_end", "state": "finished"}
    board.receive("many", "Client-c", json.dumps([end]))
    assert board.studies["many"][-1] == end  # past the cap the end is still shown
    assert "refused" in board.data("big", board.studies["big"])["header"]
    assert "refused" not in board.data("small", board.studies["small"])["header"]  # the other study: untouched
    assert len(board.studies["small"]) == 1 + len(GOOD)


def test_each_study_is_rendered_on_its_own(monkeypatch):
    """A study whose records pass the checks but still cannot be drawn shows an error line; the others render."""
    from hpo_kit.ui import page as P

    summary = P.S.summary

    def breaks_on_bad(records, now=None):
        if records and records[0].get("name") == "bad":
            raise KeyError("something the checks did not foresee")
        return summary(records, now)

    monkeypatch.setattr(P.S, "summary", breaks_on_bad)
    html = index_page({"good": [start("good"), *GOOD], "bad": [start("bad")]})
    assert "1/2 trials ended" in html  # the good study's header
    assert "bad" in html and "cannot be shown" in html and "KeyError" in html
