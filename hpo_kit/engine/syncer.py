"""The journal's group-commit fsync on a background thread, so the study loop never waits on the disk.

Hand-written (a dozen lines) rather than a ``concurrent.futures`` executor: requests made while
an fsync runs must merge into one, which an event does and a queue of futures does not.
"""
from __future__ import annotations

import os
import threading


class Syncer:
    """One daemon thread that fsyncs a descriptor whenever asked; requests made while it works merge.

    Parameters
    ----------
    fd
        The descriptor; it must stay open until :meth:`close` returns.
    """

    def __init__(self, fd: int) -> None:
        self._fd, self._wanted, self._closed = fd, threading.Event(), False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="hpo_kit-journal-fsync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for an fsync (returns at once)."""
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closed:
                return
            try:
                os.fsync(self._fd)
            except OSError as e:  # ENOSPC, EIO: the loop raises it at its next sync
                self.error = e

    def close(self) -> None:
        """Stop the thread after the fsync under way, if any."""
        self._closed = True
        self._wanted.set()
        self._thread.join()
