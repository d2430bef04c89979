"""``study.wait()`` in a real Jupyter kernel: widget clicks are handled while it blocks; an interrupt pauses.

A kernel is started with jupyter_client, as JupyterLab does. A cell builds a button whose
click pauses the study, starts the study and blocks in ``study.wait()``. The test sends
the click as the browser would (a ``comm_msg`` on the shell channel) while that cell
runs: the pause must be journalled within 2 s, long before the cell ends. Then it
interrupts the kernel (SIGINT to its process group, as *Kernel -> Interrupt* does): the
cell ends with ``KeyboardInterrupt`` (one line), the study is paused, the same workers are alive,
and the study resumes and completes; a cell queued behind the waiting one runs after it.
No browser needed (see ``tests/browser`` for one).
"""
from __future__ import annotations

import json
import queue
import textwrap
import time

import pytest

pytest.importorskip("jupyter_client")
pytestmark = pytest.mark.timeout(300)

SETUP = textwrap.dedent("""
    import json, os, time
    import ipywidgets as W
    from hpo_kit import Real, Study

    def slow(config, reporter):
        for epoch in range(1, 4):
            time.sleep(0.5)
            reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)

    study = Study(slow, {"x": Real(0.0, 1.0)}, n_trials=10, n_workers=2, journal=JOURNAL)
    button, again = W.Button(description="Pause"), W.Button(description="Resume")
    button.on_click(lambda _: study.pause(reason="clicked"))
    again.on_click(lambda _: study.resume(reason="clicked"))
    study.start()
    workers = sorted(study.client.run(os.getpid).values())
    print(json.dumps({"comm": button.comm.comm_id, "resume": again.comm.comm_id, "workers": workers}))
""")


def _run(kc, code: str, timeout: float = 120) -> tuple[list[str], dict]:
    """Execute ``code``; return its stdout lines and its execute_reply content."""
    msg_id = kc.execute(code)
    out: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out += msg["content"]["text"].splitlines()
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=30)
    return out, reply["content"]


def _records(path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _wait(fn, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _click(kc, comm: str) -> float:
    """Send a button click as the browser does; returns when it was sent."""
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm, "data": {
        "method": "custom", "content": {"event": "click"}}}))
    return time.time()


def _control(journal, action: str, n: int = 1) -> dict:
    found = _wait(lambda: [r for r in _records(journal) if r["event"] == "control" and r["action"] == action][n - 1:],
                  10, f"the {action} in the journal")
    return found[0]


def test_a_click_is_handled_while_wait_blocks_and_an_interrupt_pauses(tmp_path, kernel):
    km, kc = kernel
    journal = tmp_path / "kernel.jsonl"
    out, reply = _run(kc, f"JOURNAL = {str(journal)!r}\n" + SETUP)
    assert reply["status"] == "ok", reply
    setup = json.loads(out[-1])
    _wait(lambda: any(r["event"] == "trial_start" for r in _records(journal)), 60, "a trial to start")

    waiting = kc.execute("study.wait()\nprint('wait returned')")
    time.sleep(1.0)  # the cell is now blocked in study.wait()
    for comm, action in ((setup["comm"], "pause"), (setup["resume"], "resume")):
        sent = _click(kc, comm)
        rec = _control(journal, action)
        assert rec["reason"] == "clicked" and rec["t"] - sent <= 2.0, (action, rec["t"] - sent)

    km.interrupt_kernel()  # SIGINT to the kernel's process group, as Kernel -> Interrupt does
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != waiting:
        reply = kc.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "StudyInterrupted"
    shown = reply["content"]["traceback"]  # what the notebook shows: one line, not the wait's frames
    assert len(shown) == 1 and shown[0].startswith("KeyboardInterrupt: hpo_kit: interrupted;") and \
        "is paused" in shown[0], shown

    out, reply = _run(kc, "print(json.dumps({'state': study.state, "
                          "'workers': sorted(study.client.run(os.getpid).values())}))")
    after = json.loads(out[-1])
    assert after == {"state": "paused", "workers": setup["workers"]}, "paused, with the same workers"
    pauses = [r for r in _records(journal) if r["event"] == "control" and r["action"] == "pause"]
    assert [p["reason"][:11] for p in pauses] == ["clicked", "interrupted"]

    # Run All: the cell queued behind a waiting one runs after it, not during the wait
    kc.execute("order = []\nstudy.resume().result(30)\nstudy.wait()\norder.append('wait')")
    out, reply = _run(kc, "order.append('next')\n"
                          "print(json.dumps({'order': order, 'state': study.state, 'n': len(study.trials), "
                          "'ok': sum(t.status.value == 'COMPLETED' for t in study.trials.values())}))",
                      timeout=180)
    assert reply["status"] == "ok", reply
    assert json.loads(out[-1]) == {"order": ["wait", "next"], "state": "finished", "n": 10, "ok": 10}


def test_run_in_a_kernel_keeps_the_panel_answering(tmp_path, kernel):
    """``study.run()`` in a notebook runs the loop on a thread and waits as ``wait()`` does."""
    _, kc = kernel
    journal = tmp_path / "run.jsonl"
    out, reply = _run(kc, f"JOURNAL = {str(journal)!r}\n" + SETUP.replace("study.start()\n", "")
                      .replace("workers = sorted(study.client.run(os.getpid).values())", "workers = []"))
    assert reply["status"] == "ok", reply
    setup = json.loads(out[-1])
    running = kc.execute("print('returned', study.run(progress=False).state)")
    _wait(lambda: any(r["event"] == "trial_start" for r in _records(journal)), 60, "a trial to start")
    sent = _click(kc, setup["comm"])
    assert _control(journal, "pause")["t"] - sent <= 2.0
    _click(kc, setup["resume"])
    _control(journal, "resume")
    reply = kc.get_shell_msg(timeout=180)
    while reply["parent_header"].get("msg_id") != running:
        reply = kc.get_shell_msg(timeout=180)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert [r["state"] for r in _records(journal) if r["event"] == "study_end"] == ["finished"]


def test_a_click_during_a_busy_cell_is_handled_before_the_cells_queued_after_it(kernel):
    """*Run All*: a click made while a cell computes is handled when that cell ends, not after the queue."""
    _, kc = kernel
    out, reply = _run(kc, "import json, time\nimport ipywidgets as W\nfrom hpo_kit.ui import poll, wait_until\n"
                          "clicks = []\nbutton = W.Button()\nbutton.on_click(lambda _: clicks.append(time.time()))\n"
                          "poll.prepare_kernel()  # what hpo_kit.ui.show does\nprint(button.comm.comm_id)")
    assert reply["status"] == "ok", reply
    kc.execute("time.sleep(3)")  # busy, handling nothing
    waiting = kc.execute("t0 = time.time()\nfound = wait_until(lambda: clicks, timeout=30)\n"
                         "print(json.dumps({'found': found, 'waited': time.time() - t0}))")
    time.sleep(1.0)
    _click(kc, out[-1])
    lines = []
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == waiting and msg["msg_type"] == "stream":
            lines += msg["content"]["text"].splitlines()
            break
    result = json.loads(lines[-1])
    assert result["found"] and result["waited"] < 5.0, result  # not the 30 s timeout


def test_a_click_is_handled_when_it_arrives_not_at_the_end_of_a_wait_slice(kernel):
    """The blocked cell sleeps on the shell socket itself: a click wakes it, whatever ``every`` is.

    ``every=5`` makes the slices long enough to see: with fixed sleeps the click sent 1 s in
    was handled 5 s in. The cell queued behind the wait (sent before the click) runs as soon as
    the click ends the wait, not one slice later.
    """
    _, kc = kernel
    out, reply = _run(kc, "import json, time\nimport ipywidgets as W\nfrom hpo_kit.ui.poll import wait_until\n"
                          "clicks = []\nbutton = W.Button()\nbutton.on_click(lambda _: clicks.append(time.time()))\n"
                          "print(button.comm.comm_id)")
    assert reply["status"] == "ok", reply
    kc.execute("found = wait_until(lambda: clicks, timeout=30, every=5.0)")
    time.sleep(0.5)
    queued = kc.execute("print(json.dumps({'found': found, 'handled': clicks[0], 'ran': time.time()}))")
    time.sleep(0.5)  # the cell is in its first 5 s slice, the next one queued behind it
    sent = _click(kc, out[-1])
    lines: list[str] = []
    deadline = time.time() + 40
    while time.time() < deadline and not lines:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == queued and msg["msg_type"] in ("stream", "error"):
            lines = msg["content"].get("text", str(msg["content"])).splitlines()
    result = json.loads(lines[-1])
    assert result["found"] and result["handled"] - sent < 1.0, result["handled"] - sent
    assert result["ran"] - result["handled"] < 2.0, "the queued cell ran right after the wait"
