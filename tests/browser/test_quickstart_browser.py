"""The quickstart in a real browser: JupyterLab on 127.0.0.1 driven through Debian's chromium by Playwright.

It opens ``notebooks/01_quickstart.ipynb`` (a temporary copy), runs its cells with
Shift+Enter as a user would, sees the control panel and a Bokeh plot render, reads the
plot's data twice from BokehJS and sees it grow, clicks **Pause**, and checks that the
journal shows the pause and that no trial starts for 5 s; then it clicks **Resume**,
runs the rest of the notebook (whose last cell asserts on the study) and saves a
screenshot of the panel to ``docs/panel.png``.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and ``playwright`` (pip); no
browser is ever downloaded. Skips, saying why, only when chromium is absent.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "01_quickstart.ipynb"
SCREENSHOT = ROOT / "docs" / "panel.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Sums the points of the learning-curve source in every Bokeh document on the page.
CURVE_POINTS_JS = """() => {
  const B = window.Bokeh;
  if (!B) return -1;
  const docs = [...(B.documents || [])];
  for (const view of (B.index && B.index.roots) ? B.index.roots : Object.values(B.index || {})) {
    if (view && view.model && view.model.document) docs.push(view.model.document);
  }
  let best = -1;
  for (const doc of docs) {
    const src = doc.get_model_by_name("hpo-curves");
    if (src) best = Math.max(best, src.data.xs.reduce((n, xs) => n + xs.length, 0));
  }
  return best;
}"""

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420),
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium (CI installs it)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a temporary copy of the notebooks; yields ``(base_url, notebook_dir)``."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, nbdir / NOTEBOOK)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)  # every cell in the DOM, so that the n-th .jp-Cell is the notebook's n-th cell
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "jupyter.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={nbdir}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=nbdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                _get(base + "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "jupyter.log").read_text()) from None
                time.sleep(0.5)
        yield base, nbdir
    finally:
        _stop_lab(proc, base)
        log.close()


def _stop_lab(proc: subprocess.Popen, base: str) -> None:
    """Shut the kernels down through the REST API, stop the server, then end anything of ours still alive."""
    try:
        family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    try:
        for k in json.loads(_get(base + "/api/kernels")):
            urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels/{k['id']}", method="DELETE"),
                                   timeout=20)
    except OSError:
        pass
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    for pid in family:  # the kernel and its Dask workers, if the shutdown left any
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass


def _journal_records(nbdir: Path) -> list[dict]:
    journals = sorted((nbdir / "hpo-runs").glob("*.jsonl"), key=os.path.getmtime)
    if not journals:
        return []
    out = []
    for line in journals[-1].read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line being written
    return out


def _wait(fn, timeout: float, what: str, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _accept_dialog(page) -> None:
    """Accept JupyterLab's "Select Kernel" dialog (it sometimes opens with the notebook) with its default."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        dialog.locator(".jp-mod-accept").click()
        dialog.wait_for(state="detached", timeout=10_000)


def _run_cells(page, cells: list[dict], indices: range) -> None:
    """Run the code cells among ``indices`` as a user would: select the cell, press Ctrl+Enter."""
    for i in indices:
        if cells[i]["cell_type"] != "code":
            continue
        cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
        prompt = cell.locator(".jp-InputArea-prompt")
        for _ in range(3):  # a key press that lands while the page is busy can be lost: press again
            _accept_dialog(page)
            cell.locator(".jp-InputPrompt").click()
            page.keyboard.press("Escape")
            page.keyboard.press("Control+Enter")
            try:
                _wait(lambda p=prompt: p.inner_text().strip() not in ("[ ]:", ""), 5, f"cell {i} to start")
                break
            except AssertionError:
                continue
        else:
            raise AssertionError(f"cell {i} did not start")


def test_quickstart_runs_live_and_pauses_from_the_panel(lab):
    from playwright.sync_api import sync_playwright

    base, nbdir = lab
    cells = json.loads((nbdir / NOTEBOOK).read_text())["cells"]
    show_cell = next(i for i, c in enumerate(cells)
                     if c["cell_type"] == "code" and "hpo_kit.ui.show(" in "".join(c["source"]))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            time.sleep(2)  # let a kernel dialog open, if one will
            _run_cells(page, cells, range(show_cell + 1))  # imports, start the study, show the panel

            panel = page.locator(".hpo-panel")
            panel.wait_for(state="visible", timeout=40_000)
            page.locator(".hpo-plots canvas").first.wait_for(state="visible", timeout=60_000)
            first = _wait(lambda: max(0, page.evaluate(CURVE_POINTS_JS)), 90, "plot points")
            grown = _wait(lambda: (n := page.evaluate(CURVE_POINTS_JS)) > first and n, 60,
                          f"the plot to grow past {first} points")
            assert grown > first
            assert "running" in panel.locator(".hpo-state").inner_text()
            _wait(lambda: int(panel.locator(".hpo-count").inner_text().split("/")[0]) >= 3, 120,
                  "three trials to end (for a screenshot worth showing)")
            panel.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.locator(".jp-OutputArea-output:has(.hpo-panel)").screenshot(path=str(SCREENSHOT))

            page.locator("button.hpo-pause").click()
            pause = _wait(lambda: next((r for r in _journal_records(nbdir) if r["event"] == "control"
                                        and r.get("action") == "pause"), None), 15, "the pause in the journal")
            assert pause["source"] == "user"
            _wait(lambda: "paused" in panel.locator(".hpo-state").inner_text(), 10, "the panel to say paused")
            time.sleep(max(0.0, pause["t"] + 5.5 - time.time()))
            # 0.5 s of grace: a step that began on a worker just before the pause reached it still reports its start
            late = [r for r in _journal_records(nbdir) if r["event"] == "trial_start" and r["t"] > pause["t"] + 0.5]
            assert late == [], f"trials started while paused: {late}"

            page.locator("button.hpo-resume").click()
            _wait(lambda: any(r["event"] == "control" and r.get("action") == "resume"
                              for r in _journal_records(nbdir)), 15, "the resume in the journal")
            _run_cells(page, cells, range(show_cell + 1, len(cells)))  # wait for the end, then the checks
            page.get_by_text("quickstart: all checks passed").wait_for(timeout=240_000)
        except Exception:
            shot = nbdir.parent / "failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"browser state at the failure: {shot}")
            raise
        finally:
            browser.close()
