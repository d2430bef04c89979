"""Every widget update handled by hpo_kit's shell pump gets the kernel's busy/idle status, as ipykernel gives it.

The browser's ipywidgets sends a model's next update only after the kernel said *idle*
for the last one (its parent header is that update). A kernel started with
jupyter_client stands in for JupyterLab; the test plays that throttle: it sends an
``IntText``'s next value only once the idle for the previous one arrived. Each value
must reach the kernel, both while a cell blocks in ``hpo_kit.ui.wait_until`` and between
cells after ``prepare_kernel()`` (what ``hpo_kit.ui.show`` calls), and the kernel's
status must read *busy* again while the blocked cell still runs.
"""
from __future__ import annotations

import json
import queue
import time

import pytest

pytest.importorskip("jupyter_client")
pytestmark = pytest.mark.timeout(240)

SETUP = ("import json\nimport ipywidgets as W\nfrom hpo_kit.ui import poll\n"
         "box = W.IntText(value=0)\nseen = []\nbox.observe(lambda c: seen.append(c['new']), 'value')\n"
         "poll.prepare_kernel()\nprint(box.comm.comm_id)")


@pytest.fixture
def kc(kernel):
    """A client of a Python kernel started as JupyterLab starts one (conftest's ``kernel``)."""
    return kernel[1]


def _statuses(kc, parent: str, timeout: float = 10.0) -> list[str]:
    """The execution states published for ``parent`` until its idle (or ``timeout``)."""
    states: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline and "idle" not in states:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == parent:
            states.append(msg["content"]["execution_state"])
    return states


def _output(kc, code: str) -> str:
    msg_id = kc.execute(code)
    text, deadline = "", time.time() + 60
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return text
    raise AssertionError(f"no idle for {code!r}")


def _edit(kc, comm: str, value: int) -> list[str]:
    """Send a new value as the browser does; returns the states the kernel published for it."""
    msg = kc.session.msg("comm_msg", {"comm_id": comm, "data": {
        "method": "update", "state": {"value": value}, "buffer_paths": []}})
    kc.shell_channel.send(msg)
    return _statuses(kc, msg["header"]["msg_id"])


def test_every_update_gets_busy_and_idle_while_a_cell_waits_and_between_cells(kc):
    comm = _output(kc, SETUP).split()[-1]
    # between cells, with the pump's receiver installed
    for value in (1, 2):
        assert _edit(kc, comm, value) == ["busy", "idle"], value
    # while a cell blocks in wait_until, handled by the pump
    waiting = kc.execute("from hpo_kit.ui import wait_until\nwait_until(lambda: len(seen) >= 5, timeout=60)\n"
                         "print(json.dumps(seen))")
    time.sleep(1.0)
    for value in (3, 4, 5):
        assert _edit(kc, comm, value) == ["busy", "idle"], value
    states, deadline = [], time.time() + 10
    while time.time() < deadline and "idle" not in states:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == waiting and msg["msg_type"] == "status":
            states.append(msg["content"]["execution_state"])
        if msg["parent_header"].get("msg_id") == waiting and msg["msg_type"] == "stream":
            assert json.loads(msg["content"]["text"]) == [1, 2, 3, 4, 5]
    assert "busy" in states, "the waiting cell is said busy again after each handled update"
