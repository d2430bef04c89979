"""Driving JupyterLab in headless Debian chromium with Playwright: a lab server, cells, menus, the journal.

Used by the browser tests and by ``screenshots.py``. No browser is ever downloaded:
Playwright launches ``/usr/bin/chromium`` (``apt-get install -y chromium``).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psutil

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
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
# The background colour of the learning-curve figure as BokehJS holds it (the theme's doing).
PLOT_BACKGROUND_JS = """() => {
  const B = window.Bokeh;
  for (const view of (B && B.index && B.index.roots) ? B.index.roots : Object.values((B && B.index) || {})) {
    const fig = view && view.model && view.model.document && view.model.document.get_model_by_name("hpo-fig-curves");
    if (fig) return fig.background_fill_color;
  }
  return null;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


@contextmanager
def jupyter_lab(workdir: Path, notebooks: list[str]):
    """JupyterLab serving copies of ``notebooks`` in ``workdir/notebooks``; yields ``(base_url, notebook_dir)``."""
    nbdir = workdir / "notebooks"
    nbdir.mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        (nbdir / name).write_bytes((ROOT / "notebooks" / name).read_bytes())
    settings = workdir / "lab-settings" / "@jupyterlab"
    for ext, name, value in (("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),
                             ("notebook-extension", "tracker", {"windowingMode": "none"})):  # all cells in the DOM
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port = free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces"),
           "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"), "PYTHONUNBUFFERED": "1"}
    log = open(workdir / "jupyter.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={nbdir}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: the tests read the kernel's state
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=nbdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                get(base + "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (workdir / "jupyter.log").read_text()) from None
                time.sleep(0.5)
        yield base, nbdir
    finally:
        stop_lab(proc, base)
        log.close()


def stop_lab(proc: subprocess.Popen, base: str) -> None:
    """Shut the kernels down through the REST API, stop the server, then end anything of ours still alive."""
    try:
        family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    try:
        for k in json.loads(get(base + "/api/kernels")):
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


def journal_records(nbdir: Path) -> list[dict]:
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


def controls(nbdir: Path, action: str) -> list[dict]:
    return [r for r in journal_records(nbdir) if r["event"] == "control" and r.get("action") == action]


def wait(fn, timeout: float, what: str, every: float = 0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# The current notebook's kernel as JupyterLab holds it: "connected:idle" once it can run cells.
KERNEL_STATE_JS = """() => {
  const app = window.jupyterapp, w = app && app.shell.currentWidget, ctx = w && w.sessionContext;
  const k = ctx && ctx.session && ctx.session.kernel;
  return k ? `${k.connectionStatus}:${k.status}` : null;
}"""


def open_notebook(page, base: str, name: str) -> None:
    """Open a notebook and wait until its kernel is connected and idle (a "Select Kernel" dialog accepted)."""
    page.goto(f"{base}/lab/tree/{name}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    wait_for_kernel(page)


def wait_for_kernel(page, timeout: float = 180) -> None:
    """Wait for the notebook's kernel to be connected and idle, accepting any kernel dialog on the way.

    The dialog can open late (after the notebook is on screen): a *Run All* sent before it
    was lost. This waits for the state JupyterLab itself holds, not for a fixed time.
    """
    wait(lambda: accept_dialog(page) or page.evaluate(KERNEL_STATE_JS) == "connected:idle", timeout,
         "the notebook's kernel to be connected and idle", 0.5)


def run_all(page, cells: list[dict]) -> None:
    """*Run -> Run All Cells* once the kernel is ready; again if the first code cell did not start."""
    first = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    for _ in range(3):
        wait_for_kernel(page)
        menu(page, "Run", "Run All Cells")
        try:
            wait(lambda: accept_dialog(page) or prompt(page, first) not in ("[ ]:", ""), 30, "the first cell to start")
            return
        except AssertionError:
            continue
    raise AssertionError("Run All did not start the notebook")


def cell_outputs(page) -> list[str]:
    """The text of every cell's output area, in order (what the user sees)."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    return [cells.nth(i).locator(".jp-OutputArea").inner_text() if cells.nth(i).locator(".jp-OutputArea").count()
            else "" for i in range(cells.count())]


def tracebacks(page) -> list[str]:
    """Outputs that show a traceback (a red error with frames, or a logged one on stderr)."""
    return [t for t in cell_outputs(page) if "Traceback" in t or "Error Traceback" in t or "---> " in t]


def accept_dialog(page) -> None:
    """Accept JupyterLab's "Select Kernel" dialog (it sometimes opens with the notebook) with its default."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        dialog.locator(".jp-mod-accept").first.click()
        dialog.first.wait_for(state="detached", timeout=10_000)


def menu(page, *path: str) -> None:
    """Click through the menu bar, e.g. ``menu(page, "Run", "Run All Cells")``."""
    accept_dialog(page)
    page.locator(".lm-MenuBar-itemLabel", has_text=path[0]).first.click()
    for label in path[1:-1]:  # submenus open on hover
        page.locator(".lm-Menu-itemLabel").filter(has_text=label).first.hover()
    page.locator(".lm-Menu-itemLabel").filter(has_text=path[-1]).first.click()


def prompt(page, index: int) -> str:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-prompt").inner_text().strip()


def run_cells(page, cells: list[dict], indices: range) -> None:
    """Run the code cells among ``indices`` as a user would: select the cell, press Ctrl+Enter."""
    for i in indices:
        if cells[i]["cell_type"] != "code":
            continue
        cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
        before = prompt(page, i)  # a cell run before shows its old number: it started when that changes
        for _ in range(3):  # a key press that lands while the page is busy can be lost: press again
            accept_dialog(page)
            cell.locator(".jp-InputPrompt").click()
            page.keyboard.press("Escape")
            page.keyboard.press("Control+Enter")
            try:
                wait(lambda: prompt(page, i) not in ("[ ]:", "", before), 5, f"cell {i} to start")
                break
            except AssertionError:
                continue
        else:
            raise AssertionError(f"cell {i} did not start")


def cell_index(cells: list[dict], text: str) -> int:
    return next(i for i, c in enumerate(cells) if c["cell_type"] == "code" and text in "".join(c["source"]))


def notebook_cells(nbdir: Path, name: str) -> list[dict]:
    return json.loads((nbdir / name).read_text())["cells"]


def screenshot_dir(tmp_path: Path) -> Path:
    """Where tests put their screenshots: ``$HPO_SCREENSHOTS`` if set (``screenshots.py``), else a temporary folder."""
    out = Path(os.environ.get("HPO_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def assert_panels_ended(page, state: str = "finished") -> None:
    """Every panel on the page says ``state``, its controls are off and no cell output shows a traceback."""
    panels = page.locator(".hpo-panel")
    for i in range(panels.count()):
        panel = panels.nth(i)
        wait(lambda: state in panel.locator(".hpo-state").inner_text(), 30, f"panel {i} to say {state}")
        for control in ("pause", "resume", "kill", "kill-flagged", "concurrency"):
            assert panel.locator(f"button.hpo-{control}").is_disabled(), f"panel {i}: {control} is still on"
        assert panel.locator(".hpo-concurrency-input input").is_disabled()
        assert "applied" not in panel.locator(".hpo-message").inner_text()  # said while it ran, cleared at the end
    assert tracebacks(page) == [], tracebacks(page)
