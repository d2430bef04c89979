"""The study page on the Dask dashboard, fetched over HTTP while a real study runs.

A real LocalCluster (2 single-threaded worker processes on 127.0.0.1) runs a toy
objective whose epochs sleep, so trials are live while the page is read; a second test
runs a study on a scheduler started apart (``dask scheduler`` / ``dask worker``), as
notebook 06 does. A thread polling ``data.json`` once a second stands in for an open page.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from hpo_kit import Categorical, Real, Study
from hpo_kit.testing import quadratic
from hpo_kit.ui.dashboard import MENU_ENTRY, REFUSED, STREAM_OP, RefusedStudy, StudyBoard, page_data, publish

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
    assert "Bokeh" in page and "hpo-fig-curves" in page and "hpo-table" in page and "read-only" in page
    assert not re.search(r"<script[^>]+src=", page)  # BokehJS inline: nothing fetched from elsewhere
    data = json.loads(get(pub.url + "/data.json"))
    assert data["summary"]["name"] == study.name and data["summary"]["running"] in (1, 2)
    assert data["summary"]["n_target"] == 40 and len(data["sources"]["timeline"]["trial"]) >= 1
    index = get(pub.url.rsplit("/", 1)[0] + "/")
    assert study.name in index
    with pytest.raises(urllib.error.HTTPError) as err:
        get(pub.url + "-missing")
    assert err.value.code == 404
    seen = data["n_records"]
    for _ in range(50):  # a page that has every record (and the latest importance) is told "unchanged"
        again = json.loads(get(pub.url + f"/data.json?n={seen}"))
        if again.get("unchanged"):
            break
        seen = again["n_records"]
    assert again.get("unchanged") and "sources" not in again
    # the page keeps up: more trials have ended a few seconds later
    ended = data["summary"]["ended"]
    time.sleep(3)
    assert json.loads(get(pub.url + "/data.json"))["summary"]["ended"] > ended
    # the Dask dashboard's own pages list the study page in their "More..." menu
    status = get(pub.url.split("/hpo-kit/")[0] + "/status")
    assert f'<a href="{MENU_ENTRY["url"]}">{MENU_ENTRY["name"]}</a>' in status
    pub.close()


class PageWatcher(threading.Thread):
    """Polls a study page's data.json once a second, as the page's script does; notes when it first said finished."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.finished_at, self.states, self.gone = url + "/data.json", None, [], False
        self.start()

    def run(self) -> None:
        while self.finished_at is None:
            try:
                d = json.loads(get(self.url))
            except OSError:
                self.gone = True
                return
            self.states.append(d["summary"]["state"])
            if d["summary"]["state"] == "finished":
                self.finished_at = time.time()
            time.sleep(1.0)


def _end_time(study) -> float:
    from hpo_kit import read_journal

    return next(r["t"] for r in read_journal(study.journal_path) if r["event"] == "study_end")


def quick(config, reporter):
    for epoch in range(1, 3):
        time.sleep(0.2)
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)


def test_an_open_page_shows_the_end_of_an_embedded_study_before_its_cluster_closes(tmp_path):
    study = Study(quick, {"x": Real(0.0, 1.0)}, n_trials=6, n_workers=2, journal=tmp_path / "embedded.jsonl")
    study.start()
    watcher = PageWatcher(publish(study).url)
    study.wait()
    watcher.join(10)
    assert watcher.finished_at is not None, watcher.states  # seen before the scheduler went away with the study
    assert watcher.finished_at - _end_time(study) <= 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_page_shows_the_end_of_a_study_run_by_address_and_stays(tmp_path):
    port, dash = _free_port(), _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address",
                                      f"127.0.0.1:{dash}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    procs.append(subprocess.Popen(dask + ["worker", address, "--nworkers", "2", "--nthreads", "1", "--host",
                                          "127.0.0.1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        study = Study(quadratic, {"x": Real(0.0, 1.0), "sleep": Categorical([0.2])}, n_trials=6, cluster=address,
                      journal=tmp_path / "remote.jsonl")  # an objective the remote processes can import
        study.start()
        pub = publish(study)
        watcher = PageWatcher(pub.url)
        study.wait()
        assert all(t.status.value == "COMPLETED" for t in study.trials.values())
        watcher.join(15)
        assert watcher.finished_at is not None and watcher.finished_at - _end_time(study) <= 5.0, watcher.states
        time.sleep(1.5)  # the study's client is closed now; the scheduler still serves its final state
        data = json.loads(get(pub.url + "/data.json"))
        assert data["summary"]["state"] == "finished" and data["summary"]["ended"] == 6
        assert data["ended"] and not data["disconnected"]
        elapsed = data["summary"]["elapsed"]
        time.sleep(1.1)
        assert json.loads(get(pub.url + "/data.json"))["summary"]["elapsed"] == elapsed  # the clock stopped
        assert MENU_ENTRY["name"] in get(f"http://127.0.0.1:{dash}/status")
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_board_says_disconnected_when_a_live_study_goes_quiet():
    board = StudyBoard()
    records = [{"v": 1, "t": time.time(), "event": "study_start", "name": "n", "goal": {"metric": "loss"},
                "settings": {"n_trials": 2}}]
    assert board.receive("n", "Client-a", json.dumps(records))
    assert board.data("n", board.studies["n"])["disconnected"] is False
    board.heard["n"] -= 60  # a minute without a record or a heartbeat
    quiet = board.data("n", board.studies["n"])
    assert quiet["disconnected"] is True and quiet["silent_s"] >= 60
    # Importance is computed off the thread: a reply carries the full data once more when its result lands.
    deadline = time.monotonic() + 30
    while "unchanged" not in (same := board.data("n", board.studies["n"], seen="1")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert same["unchanged"] is True and same["disconnected"] is True
    end = {"v": 1, "t": time.time(), "event": "study_end", "state": "finished"}
    assert board.receive("n", "Client-a", json.dumps([end]))
    board.heard["n"] -= 60
    final = board.data("n", board.studies["n"])
    assert final["ended"] and not final["disconnected"]
    assert board.watch_state("n") == {"watched": True, "shown_end": True}


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


def test_page_follows_the_browsers_dark_scheme():
    """The served page defines JupyterLab's colour variables, light and, under prefers-color-scheme, dark:
    the trial table's stylesheet reads them (it stayed white on a dark browser)."""
    from hpo_kit.ui.dashboard import index_page, render_page
    from hpo_kit.ui.page import PAGE_COLOURS
    from hpo_kit.ui.theme import TABLE_CSS

    records = [{"v": 1, "t": 0.0, "event": "study_start", "name": "n", "goal": {"metric": "loss"},
                "settings": {"n_trials": 2}, "space": {"x": {"type": "real", "low": 0.0, "high": 1.0, "log": False}}}]
    for page in (render_page("n", records), index_page({"n": records})):
        head = page[:page.rindex("</head><body")]
        assert "<meta name='color-scheme' content='light dark'>" in head
        style = head[head.index("<meta name='color-scheme'"):]  # ours (BokehJS, inline before it, has @media too)
        media = style.index("@media (prefers-color-scheme: dark)")
        for scheme, css in (("light", style[:media]), ("dark", style[media:])):
            for var in ("layout-color1", "layout-color2", "ui-font-color1", "border-color3"):
                assert f"--jp-{var}: {PAGE_COLOURS[scheme][var]};" in css, (scheme, var)
        assert "background: var(--jp-layout-color0)" in style  # the page itself, not only the table
    assert int(PAGE_COLOURS["dark"]["layout-color1"][1:3], 16) < 0x40  # dark means dark
    for var in ("--jp-layout-color1", "--jp-layout-color2", "--jp-ui-font-color1"):
        assert f"var({var}," in TABLE_CSS  # what the table's cells are painted with
    assert "prefers-color-scheme: dark" in render_page("n", records)  # the figures' theme script, too


def _board_of(name, dask_scheduler=None):
    board = dask_scheduler.plugins["hpo-kit-board"]
    return {"owner": board.owners.get(name), "refused": sorted(board.refused.get(name, ())),
            "n": len(board.studies.get(name, []))}


def test_records_are_accepted_only_from_the_client_that_registered_the_study(client, tmp_path):
    """Two real clients of one LocalCluster: the study's own, and another that tries to write on its page."""
    from types import SimpleNamespace

    from distributed import Client

    # cluster=client: the study's client stays connected after the end (an owner that left frees the name)
    study = Study(quick, {"x": Real(0.0, 1.0)}, n_trials=4, cluster=client, journal=tmp_path / "owned.jsonl")
    study.start()
    try:
        pub = publish(study)
        study.wait(120)
        deadline = time.time() + 30
        while json.loads(get(pub.url + "/data.json"))["summary"]["state"] != "finished" and time.time() < deadline:
            time.sleep(0.2)
        before = json.loads(get(pub.url + "/data.json"))
        assert before["summary"]["ended"] == 4
        fake = [{"v": 1, "t": time.time(), "event": "trial_create", "trial": 99, "config": {"x": 9.0}}]
        with Client(client.scheduler.address, timeout=30) as other:
            other.log_event("hpo-kit-ui", {"study": study.name, "records": json.dumps(fake)})  # the old way in
            other._send_to_scheduler({"op": STREAM_OP, "study": study.name, "records": json.dumps(fake)})
            with pytest.raises(RefusedStudy, match="another client"):  # a study of the same name elsewhere
                publish(SimpleNamespace(client=other, name=study.name, cluster=None))
            deadline = time.time() + 10  # the stream's messages arrive on their own time
            while not (state := other.run_on_scheduler(_board_of, study.name))["refused"] and time.time() < deadline:
                time.sleep(0.05)
            assert state["owner"] != other.id and state["refused"] == [other.id], state
            refused = [msg for _, msg in other.get_events(REFUSED)]
            assert {"study": study.name, "client": other.id, "owner": state["owner"]} in refused  # logged once
            assert len([m for m in refused if m["study"] == study.name]) == 1
        after = json.loads(get(pub.url + "/data.json"))
        assert after["n_records"] == before["n_records"] and 99 not in after["sources"]["table"]["trial"]
        assert after["summary"]["ended"] == 4
    finally:
        study.stop(wait=False)
        study.wait(60)


def test_a_study_name_is_free_again_once_its_owner_disconnected(client, tmp_path):
    """A study resumed from a new kernel on the same scheduler shows its page again, afresh."""
    from distributed import Client

    def run(c, n):
        study = Study(quick, {"x": Real(0.0, 1.0)}, n_trials=n, cluster=c, name="resumable",
                      journal=tmp_path / f"run{n}.jsonl")
        study.start()
        deadline = time.time() + 30  # the scheduler drops a client that left on its own time
        while True:
            try:
                pub = publish(study)
                break
            except RefusedStudy:
                assert time.time() < deadline, "the name stayed owned by a client that had left"
                time.sleep(0.1)
        assert study.wait(120)
        pub.close()
        return pub

    with Client(client.scheduler.address, timeout=30) as first:
        run(first, 2)
        assert client.run_on_scheduler(_board_of, "resumable")["owner"] == first.id
    with Client(client.scheduler.address, timeout=30) as second:
        pub = run(second, 3)
        assert client.run_on_scheduler(_board_of, "resumable")["owner"] == second.id
        assert json.loads(get(pub.url + "/data.json"))["summary"]["ended"] == 3  # the new run only
