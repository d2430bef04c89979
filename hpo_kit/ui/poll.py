"""Waiting for a study without freezing its panel: ``study.wait()`` / ``study.run()`` in a notebook.

A Jupyter kernel handles widget messages (a click on *Pause*) on its main thread, between
cells. A cell blocked in ``thread.join()`` would hold them until it ends, so in a kernel's
main thread :func:`join` waits in short slices and, between slices, lets the kernel
process the UI messages that arrived: with `jupyter_ui_poll
<https://pypi.org/project/jupyter-ui-poll/>`_ (its ``ui_events``) on kernels that have the
``do_one_iteration`` it drives, and with :mod:`hpo_kit.ui.shellpump` on ipykernel >= 7.4,
which has none. Cells queued behind the blocked one (*Run All*) stay queued and run after
it. Outside a kernel, from any other thread, or on ipykernel 6 without jupyter_ui_poll,
it is a plain wait.

An interrupt while waiting (*Kernel -> Interrupt*, Ctrl+C) **pauses** the study and
raises :class:`StudyInterrupted` (a ``KeyboardInterrupt``), so control returns and *Run All*
stops there; a notebook shows it as one line that says what happened and what to do, not
the frames of the wait it interrupted (IPython's ``_render_traceback_``). The
workers stay alive (see :mod:`hpo_kit.engine.cluster`), and ``study.resume()`` then
``study.wait()`` carries on, or ``study.stop()`` ends it. A pause rather than a stop: an
interrupt is often a "wait, let me look", and a paused study loses nothing.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: Reason journalled with the pause that an interrupt makes.
INTERRUPT_REASON = "interrupted (KeyboardInterrupt): study.resume() to go on, study.stop() to end"

_active = False  # a polling wait is running (ui_events cannot nest: a widget callback that waits joins plainly)


def in_kernel() -> bool:
    """True in the main thread of a Jupyter (ipykernel) kernel."""
    if threading.current_thread() is not threading.main_thread() or "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _ui_events() -> Any:
    """A context manager whose value ``poll(n)`` handles up to n UI messages, or ``None`` (plain wait).

    jupyter_ui_poll where the kernel has the ``do_one_iteration`` it drives (ipykernel 6);
    on ipykernel >= 7.4, which has none, :class:`~hpo_kit.ui.shellpump.ShellPump`.
    """
    if _active or not in_kernel():
        return None
    from IPython import get_ipython

    kernel = get_ipython().kernel
    if not hasattr(kernel, "do_one_iteration"):
        from .shellpump import ShellPump

        ShellPump.install(kernel)
        return ShellPump.for_kernel(kernel)
    try:
        from jupyter_ui_poll import ui_events
    except ImportError:  # optional: pip install jupyter-ui-poll (the notebooks extra has it)
        return None
    try:
        return ui_events()
    except Exception:  # noqa: BLE001 - an unknown kernel: fall back to a plain wait
        return None


def prepare_kernel() -> None:
    """In a kernel without ``do_one_iteration`` (ipykernel >= 7.4): clicks are handled between cells at once.

    Called when a panel is shown, so that a click made while any cell runs is not queued
    behind the rest of *Run All* (see :mod:`hpo_kit.ui.shellpump`).
    """
    if not in_kernel():
        return
    from IPython import get_ipython

    kernel = get_ipython().kernel
    if not hasattr(kernel, "do_one_iteration"):
        from .shellpump import ShellPump

        ShellPump.install(kernel)


def alive(thread: threading.Thread) -> bool:
    """``thread.is_alive()``, without the lock dance that an interrupt can break.

    In CPython 3.11/3.12 a ``KeyboardInterrupt`` that lands inside ``Thread.join()`` or
    ``is_alive()`` releases the running thread's state lock and marks it stopped, so every
    later join returns at once. Reading whether that lock is held takes no part in it.
    """
    lock = getattr(thread, "_tstate_lock", None)
    if lock is not None:
        return lock.locked()
    return thread.is_alive()  # 3.13+: no such lock, and no such bug


def join(thread: threading.Thread, timeout: float | None = None, every: float = 0.05) -> bool:
    """Wait for ``thread`` to end, handling the kernel's widget messages meanwhile; True if it ended.

    Waits in ``time.sleep`` slices (never in ``Thread.join``, see :func:`alive`), so an
    interrupt lands in a sleep and leaves the thread as it was.

    Parameters
    ----------
    thread
        The thread to wait for.
    timeout
        Seconds at most (``None``: until it ends).
    every
        Seconds between two looks at the thread (and, with jupyter_ui_poll, at the UI
        messages: a click waits at most about this long there).
    """
    return wait_until(lambda: not alive(thread), timeout, every)


def wait_until(done: Callable[[], Any], timeout: float | None = None, every: float = 0.1) -> bool:
    """Wait until ``done()`` is true, handling the kernel's widget messages meanwhile; True if it became so.

    What a notebook cell should use instead of a ``while ...: time.sleep()`` loop, so the
    panel keeps answering: ``hpo_kit.ui.wait_until(lambda: len(study.trials) >= 6)``.
    """
    global _active
    deadline = None if timeout is None else time.monotonic() + timeout
    events = _ui_events()
    poll = None
    sleep = time.sleep
    if events is not None:
        poll = events.__enter__()
        sleep = getattr(events, "wait", None) or sleep  # ShellPump: wakes as soon as a message arrives
        _active = True
    try:
        while True:
            if poll is not None:
                poll(50)  # at most 50 queued messages per slice
            if done():  # also when a message just handled made it so: no slice slept first
                return True
            left = every if deadline is None else min(every, deadline - time.monotonic())
            if left <= 0:
                return False
            sleep(left)
    finally:
        if events is not None:
            _active = False
            events.__exit__(None, None, None)


class StudyInterrupted(KeyboardInterrupt):
    """An interrupt that ended a wait for a study; in a notebook it shows as its one-line message."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of the traceback: the frames would be the wait's own
        # (a sleep, a zmq poll), nothing the user wrote or can act on
        return [f"KeyboardInterrupt: {self}"]


def wait_loop(study: Any, thread: threading.Thread, timeout: float | None = None) -> bool:
    """:func:`join` the study's loop thread; an interrupt pauses the study, then raises :class:`StudyInterrupted`."""
    try:
        return join(thread, timeout)
    except KeyboardInterrupt:
        raise StudyInterrupted(interrupted(study, pause_on_interrupt(study))) from None


def interrupted(study: Any, paused: bool) -> str:
    """The one line an interrupt of a wait for ``study`` shows."""
    if paused:
        return (f"hpo_kit: interrupted; study {study.name!r} is paused and its workers are alive. "
                f"study.resume() then study.wait() to go on; study.stop() to end it.")
    return f"hpo_kit: interrupted while waiting for study {study.name!r} ({study.state})."


def pause_on_interrupt(study: Any) -> bool:
    """Pause ``study`` after an interrupt; False if it could not be paused (not running).

    Outside a notebook (a script's Ctrl+C) it also says so on stderr, where the traceback follows.
    """
    try:
        study.pause(reason=INTERRUPT_REASON).result(10)
    except Exception:  # noqa: BLE001 - ended, already paused or stopping: nothing to pause
        return False
    if not in_kernel():
        print(interrupted(study, True), file=sys.stderr)
    return True


def drive_in_kernel(study: Any, drive: Any) -> bool:
    """``study.run()`` in a kernel: ``drive(study)`` on a thread, waited for as :func:`wait_loop` does.

    Returns False (and does nothing) outside a kernel's main thread. After an interrupt the
    thread is ``study._thread``, so that ``study.wait()`` waits for the resumed loop.
    """
    if not in_kernel():
        return False
    loop = threading.Thread(target=drive, args=(study,), name=f"hpo-kit-{study.name}", daemon=True)
    loop.start()
    try:
        wait_loop(study, loop)
    finally:
        study._thread = loop
    return True
