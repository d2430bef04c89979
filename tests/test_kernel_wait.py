"""``study.wait()`` in a real Jupyter kernel: widget clicks are handled while it blocks; an interrupt pauses.

A kernel is started with jupyter_client, as JupyterLab does. A cell builds a button whose
click pauses the study, starts the study and blocks in ``study.wait()``. The test sends
the click as the browser would (a ``comm_msg`` on the shell channel) while that cell
runs: the pause must be journalled within 2 s, long before the cell ends. Then it
interrupts the kernel (SIGINT to its process group, as *Kernel -> Interrupt* does): the
cell ends with ``KeyboardInterrupt``, the study is paused, the same workers are alive,
and the study resumes and completes. No browser needed (see ``tests/browser`` for one).
"""
from __future__ import annotations

import json
import queue
import textwrap
import time

import pytest

pytest.importorskip("jupyter_client")
pytest.importorskip("jupyter_ui_poll")
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


def test_a_click_is_handled_while_wait_blocks_and_an_interrupt_pauses(tmp_path):
    from jupyter_client import KernelManager

    journal = tmp_path / "kernel.jsonl"
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        out, reply = _run(kc, f"JOURNAL = {str(journal)!r}\n" + SETUP)
        assert reply["status"] == "ok", reply
        setup = json.loads(out[-1])
        _wait(lambda: any(r["event"] == "trial_start" for r in _records(journal)), 60, "a trial to start")

        waiting = kc.execute("study.wait()\nprint('wait returned')")
        time.sleep(1.0)  # the cell is now blocked in study.wait()
        for comm, action in ((setup["comm"], "pause"), (setup["resume"], "resume")):
            sent = time.time()
            kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm, "data": {
                "method": "custom", "content": {"event": "click"}}}))
            rec = _wait(lambda a=action: next((r for r in _records(journal) if r["event"] == "control"
                                               and r["action"] == a), None), 10, f"the {action} in the journal")
            assert rec["reason"] == "clicked" and rec["t"] - sent <= 2.0, (action, rec["t"] - sent)

        km.interrupt_kernel()  # SIGINT to the kernel's process group, as Kernel -> Interrupt does
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != waiting:
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"

        out, reply = _run(kc, "print(json.dumps({'state': study.state, "
                              "'workers': sorted(study.client.run(os.getpid).values())}))")
        after = json.loads(out[-1])
        assert after == {"state": "paused", "workers": setup["workers"]}, "paused, with the same workers"
        pauses = [r for r in _records(journal) if r["event"] == "control" and r["action"] == "pause"]
        assert [p["reason"][:11] for p in pauses] == ["clicked", "interrupted"]

        out, reply = _run(kc, "study.resume().result(30)\nstudy.wait()\n"
                              "print(json.dumps({'state': study.state, 'n': len(study.trials), "
                              "'ok': sum(t.status.value == 'COMPLETED' for t in study.trials.values())}))",
                          timeout=180)
        assert reply["status"] == "ok", reply
        assert json.loads(out[-1]) == {"state": "finished", "n": 10, "ok": 10}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
