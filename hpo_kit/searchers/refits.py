"""The background refit thread of :class:`~hpo_kit.searchers.bo.TimeAwareBO` (kept apart from the skopt code).

:class:`RefitThread` runs the searcher's refit job on a daemon thread whenever it is woken
(wakes coalesce), so the engine's loop never waits on a model fit; :func:`warm_up` imports
scikit-optimize on that thread before the first refit.
"""
from __future__ import annotations

import threading
import traceback
import weakref
from collections.abc import Callable

from ..imports import heavy


def warm_up() -> None:
    """Import scikit-optimize (about 2 s) before the first refit, off the loop thread."""
    heavy("skopt")  # not beside another thread's first import of scikit-learn


class RefitThread:
    """Run ``job`` on a daemon thread each time :meth:`wake` is called (wakes coalesce).

    The thread holds only a weak reference to the job's owner, so a forgotten policy is
    garbage-collected and its thread ends. An exception in ``job`` is kept in
    :attr:`error` (the thread goes on; the policy falls back to random points).
    """

    def __init__(self, job: Callable[[], None], name: str = "hpo-kit-refit",
                 warm_up: Callable[[], None] | None = None) -> None:
        self._job = weakref.WeakMethod(job)
        self._warm_up = warm_up
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        # The owner may be dropped without close(): end the thread then (no join in a finaliser).
        weakref.finalize(job.__self__, self._signal_stop)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def _signal_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread after its current refit (if any); waits up to ``timeout`` seconds."""
        self._signal_stop()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        if self._warm_up is not None:
            try:
                self._warm_up()
            except Exception:  # noqa: BLE001 - the first refit will report it
                self.error = traceback.format_exc()
        while True:
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            job = self._job()
            if job is None:
                return
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed refit must not end the study
                self.error = traceback.format_exc()
            del job  # do not keep the owner alive while waiting
