"""Widget messages for a blocked cell on ipykernel >= 7, where jupyter_ui_poll has nothing to drive.

jupyter_ui_poll calls ``kernel.do_one_iteration()``, which ipykernel 7.4 no longer has:
there a *shell channel thread* receives every shell message and hands the main shell's
ones to the main thread through an in-process ZMQ socket, read by the main thread's
event loop. While a cell blocks that loop, a :class:`ShellPump` reads that socket
itself: comm messages (a widget's click, a changed value) are handled at once, exactly
as the kernel would handle them; every other message (the next cells of *Run All*, a
completion request) is held and handed back to the kernel's loop, in order, when the
wait ends, so it runs after the blocked cell as it would have.

Between cells the kernel's loop reads every queued message at once and turns each into a
task that waits its turn behind the queued cells; a click made while an earlier cell ran
would then wait for the whole *Run All*. :meth:`ShellPump.install` therefore puts a
receiver in front of the main shell's stream that handles comm messages the moment the
loop reads them (as ipykernel itself does for comms that arrive while an async cell
runs), and passes everything else on unchanged.

While it waits, the blocked cell sleeps in :meth:`ShellPump.wait`, a ``zmq`` poll on that
socket (the GIL released), so a message is handled the moment it arrives, not at the end
of a time slice; before the wait gives the socket back it reads it empty
(:meth:`ShellPump.release`), so no message is left behind a wake-up that the kernel's
loop will never see.

Each comm message handled here is wrapped in the ``status`` messages that ipykernel's own
``dispatch_shell`` sends around every shell message: *busy*, then *idle*, both with the
comm message as their parent. The browser needs them: ipywidgets sends a model's next
update only once the kernel said *idle* for its last one, so without them every box sent
its first edit and never another. Where a cell is running (the wait, or an async cell),
*busy* is then said again for that cell, so the kernel's indicator does not read idle
while it still runs. ``dispatch_shell`` itself is not called: it catches a
``KeyboardInterrupt`` raised in a handler ("KeyboardInterrupt caught in kernel"), and an
interrupt that lands while a click is handled must still end the waiting cell.

It relies on ipykernel's internals (``shell_channel_thread.manager``,
``shell_handlers``, ``shell_main``, pyzmq's ``ZMQStream``), checked in
:meth:`ShellPump.for_kernel`; a kernel without them gets ``None`` and a plain wait.
"""
from __future__ import annotations

import functools
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)

#: Shell messages handled while a cell blocks; everything else waits for the cell to end.
HANDLED_NOW = frozenset({"comm_msg", "comm_open", "comm_close"})


class ShellPump:
    """Context manager: ``with ShellPump(kernel, socket) as poll: poll(10)`` handles up to 10 messages."""

    def __init__(self, kernel: Any, socket: Any) -> None:
        self.kernel, self.socket = kernel, socket
        self.held: list[Any] = []

    @classmethod
    def for_kernel(cls, kernel: Any) -> ShellPump | None:
        """A pump for this kernel, or ``None`` if it does not work the way this module expects."""
        manager = getattr(getattr(kernel, "shell_channel_thread", None), "manager", None)
        pair = getattr(manager, "_shell_channel_to_main", None)
        socket = getattr(pair, "to_socket", None)
        needed = ("shell_main", "shell_handlers", "session", "set_parent", "get_parent", "io_loop", "_publish_status")
        if socket is None or not all(hasattr(kernel, name) for name in needed):
            return None
        return cls(kernel, socket)

    @classmethod
    def install(cls, kernel: Any) -> bool:
        """Handle comm messages as soon as the kernel's loop reads them (see the module docstring); idempotent."""
        pump = cls.for_kernel(kernel)
        stream = getattr(getattr(getattr(kernel.shell_channel_thread, "manager", None), "_shell_channel_to_main",
                                 None), "to_stream", None) if pump is not None else None
        original = getattr(stream, "_recv_callback", None)
        if original is None or getattr(original, "_hpo_kit", False):
            return original is not None

        def receive(raw: Any) -> Any:
            if pump._msg_type(raw) in HANDLED_NOW:
                pump._handle(raw)
                return None
            return original(raw)

        receive._hpo_kit = True  # type: ignore[attr-defined]
        stream.on_recv(receive, copy=getattr(stream, "_recv_copy", False))
        return True

    def __enter__(self) -> Any:
        return self.poll

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def wait(self, timeout: float) -> bool:
        """Sleep until a message waits or ``timeout`` seconds passed (the GIL released); True if one waits."""
        import zmq

        return bool(self.socket.poll(max(0, int(timeout * 1000)), zmq.POLLIN))

    def poll(self, n: int = 1) -> int:
        """Handle up to ``n`` waiting messages (comms now, others held); returns how many were read."""
        import zmq

        read = 0
        while read < n:
            try:
                raw = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            read += 1
            if self._msg_type(raw) in HANDLED_NOW:
                self._handle(raw)
            else:
                self.held.append(raw)
        return read

    def release(self) -> None:
        """Give the held messages back to the kernel's loop, in order (they run after the current cell).

        First reads what is still waiting (comms handled, others held): a message that woke
        :meth:`wait` but was not read would otherwise wait for the next one to arrive.
        """
        while self.poll(100):
            pass
        held, self.held = self.held, []
        for raw in held:
            self.kernel.io_loop.add_callback(functools.partial(self.kernel.shell_main, None, raw))

    def _msg_type(self, raw: list[Any]) -> str | None:
        try:
            _, frames = self.kernel.session.feed_identities(raw, copy=False)
            return self.kernel.session.deserialize(frames, content=False, copy=False)["header"]["msg_type"]
        except Exception:  # noqa: BLE001 - not ours to judge: the kernel will see it later
            return None

    def _handle(self, raw: list[Any]) -> None:
        """Handle one comm message as ``dispatch_shell`` would: status busy, the handler, status idle."""
        kernel = self.kernel
        parent = kernel.get_parent("shell")
        ident = kernel._get_shell_context_var(kernel._shell_parent_ident) \
            if hasattr(kernel, "_get_shell_context_var") else getattr(kernel, "_parent_ident", {}).get("shell")
        msg = None
        try:
            idents, frames = kernel.session.feed_identities(raw, copy=False)
            msg = kernel.session.deserialize(frames, content=True, copy=False)
            kernel.set_parent(idents, msg, channel="shell")  # output of the callback goes where it belongs
            kernel._publish_status("busy", "shell", parent=msg)
            handler = kernel.shell_handlers.get(msg["header"]["msg_type"])
            if handler is not None:
                handler(None, idents, msg)
        except Exception:  # noqa: BLE001 - a widget callback's error must not end the wait
            log.exception("hpo_kit: a widget message failed while the cell waited")
        finally:
            if msg is not None:  # also after an interrupt: the browser must not wait for this idle forever
                for stream in (sys.stdout, sys.stderr):  # the handler's output before its idle, as the kernel does
                    if stream is not None:
                        stream.flush()
                kernel._publish_status("idle", "shell", parent=msg)
            kernel.set_parent(ident, parent, channel="shell")  # back to the blocked cell's output
            if msg is not None and parent and self._cell_running():
                kernel._publish_status("busy", "shell", parent=parent)  # that cell still runs

    def _cell_running(self) -> bool:
        """True while a cell holds the main shell (its lock taken): the wait, or an async cell awaiting."""
        lock = getattr(self.kernel, "_main_asyncio_lock", None)
        return bool(lock is not None and lock.locked())
