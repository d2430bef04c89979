"""The study page on the Dask dashboard, fetched over HTTP while a real study runs.

A real LocalCluster (2 single-threaded worker processes on 127.0.0.1) runs a toy
objective whose epochs sleep, so trials are live while the page is read.
"""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from hpo_kit import Real, Study
from hpo_kit.ui.dashboard import page_data, publish

pytestmark = pytest.mark.timeout(180)


def slow_quadratic(config, reporter):
    """Five 0.3 s epochs; the loss falls toward (x - 0.3)^2."""
    for epoch in range(1, 6):
        time.sleep(0.3)
        reporter.report(epoch=epoch, loss=(config["x"] - 0.3) ** 2 + 1.0 / epoch)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.read().decode()


def running_on(html: str) -> int | None:
    found = re.findall(r"class='hpo-running'>(\d+) running<", html)
    return int(found[0]) if found else None


@pytest.fixture
def study(tmp_path):
    s = Study(slow_quadratic, {"x": Real(0.0, 1.0)}, metric="loss", n_trials=40, n_workers=2,
              journal=tmp_path / "dash.jsonl")
    s.start()
    yield s
    s.stop(wait=False)
    s.wait(60)


def test_page_shows_the_live_trial_count_while_the_study_runs(study):
    pub = publish(study)
    assert pub.url.startswith("http://127.0.0.1:") and pub.url.endswith(f"/hpo-kit/{study.name}")
    deadline, count, page = time.time() + 60, None, ""
    while time.time() < deadline:
        page = get(pub.url)
        count = running_on(page)
        if count:
            break
        time.sleep(0.5)
    assert count in (1, 2), page[-2000:]  # two workers: one or two trials run at once
    assert study.state == "running"
    assert "Bokeh" in page and "hpo-fig-curves" in page
    assert not re.search(r"<script[^>]+src=", page)  # BokehJS inline: nothing fetched from elsewhere
    data = json.loads(get(pub.url + "/data.json"))
    assert data["summary"]["name"] == study.name and data["summary"]["running"] in (1, 2)
    assert data["summary"]["n_target"] == 40 and len(data["sources"]["timeline"]["trial"]) >= 1
    index = get(pub.url.rsplit("/", 1)[0] + "/")
    assert study.name in index
    with pytest.raises(urllib.error.HTTPError) as err:
        get(pub.url + "-missing")
    assert err.value.code == 404
    # the page keeps up: more trials have ended a few seconds later
    ended = data["summary"]["ended"]
    time.sleep(3)
    assert json.loads(get(pub.url + "/data.json"))["summary"]["ended"] > ended
    pub.close()


def test_page_data_is_strict_json_from_records():
    records = [{"v": 1, "t": 0.0, "event": "study_start", "name": "n", "goal": {"metric": "loss"},
                "settings": {"n_trials": 2}},
               {"v": 1, "t": 0.1, "event": "trial_create", "trial": 0, "config": {}, "budget": None},
               {"v": 1, "t": 0.2, "event": "trial_start", "trial": 0, "worker": "tcp://127.0.0.1:9"},
               {"v": 1, "t": 0.3, "event": "report", "trial": 0, "epoch": 1, "metrics": {"loss": float("nan")}}]
    data = page_data(records, now=1.0)
    text = json.dumps(data, allow_nan=False)  # raises on NaN
    assert data["summary"]["running"] == 1 and "1 running" in data["header"]
    assert data["sources"]["curves"]["ys"] == [[None]] and data["workers"] == ["127.0.0.1:9"]
    assert "NaN" not in text
