"""What one worker process knows of one run of a study: its control record, data, kept trials.

A :class:`StudyContext` exists per run id in each worker process that ran a step of it. It
reads the run's control record (:mod:`.control`) through Dask's ``Variable`` — at a step's
start, at each epoch boundary, and every :data:`POLL` s while trials are kept waiting at a
rung — and decides from it alone whether a step may go on (:meth:`StudyContext.verdict`).
It caches the study's data (loaded once per process and run) and owns the trials kept at a
rung (:class:`~hpo_kit.engine.worker.kept.KeptTrials`).

Its life is Dask's: the driver registers a :class:`RunPlugin` (a ``WorkerPlugin``, Dask's
set-up API) when the run starts and unregisters it at the end, whose ``teardown`` closes the
context (kept trials released, data dropped). If that never arrives (a driver killed, a
worker unreachable), the context closes itself when it reads ``ended`` or a heartbeat frozen
for :data:`~hpo_kit.engine.driver.control.LEASE` s. Contexts are keyed by run id, so no state is
shared between studies, and a later run of the same study (a resume) never sees an older
run's stops, answers or kept trials.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ..driver.control import FENCE, LEASE, variable_name
from .kept import KeptTrials

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between reads of the record while trials are kept waiting here
FRESH = 0.05  # a read younger than this is reused: steps and epochs of one process share it
STALE = 0.2  # a read younger than this is used while a newer one runs behind; an older one is waited for

_CONTEXTS: dict[str, "StudyContext"] = {}
_LOCK = threading.Lock()


class StudyContext:
    """One run's state in this worker process (see the module docstring)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.kept = KeptTrials()
        self._state: dict[str, Any] = {}
        self._read_at = -1.0
        self._asked_at = -1.0  # when the read behind ``_state`` was asked: it holds every write acked before
        self._inflight: tuple[float, threading.Event] | None = None  # a read behind: (asked at, done)
        self._hb: Any = None
        self._hb_seen = time.monotonic()
        self._data: dict[str, Any] = {}
        self._var: Any = None
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self.closed = False
        self._retry_at = 0.0
        self._local = False
        self._reading = False


    # -- the control record ---------------------------------------------------------------------
    def refresh(self, force: bool = False, fresh: float = FRESH, wait: bool = False) -> dict[str, Any]:
        """The run's control record: reused if read within ``fresh`` s; if read within :data:`STALE` s,
        reused now while a read runs behind (short epochs never wait on the scheduler); else, or with
        ``wait``, read now.

        A failed read keeps the last state: a slow scheduler must not stop training.
        """
        now = time.monotonic()
        age = now - self._read_at
        if self._local or (not force and age < fresh) or now < self._retry_at or not self._ensure_var():
            return self._state
        if not (force or wait) and age < STALE:
            self._read_behind()
            return self._state
        return self._read()

    def fenced(self, fence: float = FENCE) -> dict[str, Any]:
        """The record as read by a read asked at most ``fence`` s ago, waiting for one if need be.

        The driver waits ``fence`` s after writing a pause or the end (:meth:`Control.pause`,
        :meth:`Control.end`), so a step that starts after those calls return sees them, as if it had
        read the record itself; a read asked at the previous step's end (:meth:`prefetch`) usually
        serves, and the scheduler round trip leaves the step's start.
        """
        now = time.monotonic()
        if self._local or not self._ensure_var() or now < self._retry_at:
            return self._state
        if now - self._asked_at <= fence:
            return self._state
        inflight = self._inflight
        if inflight is not None and now - inflight[0] <= fence and inflight[1].wait(5) \
                and self._asked_at >= inflight[0]:
            return self._state
        return self._read()

    def _ensure_var(self) -> bool:
        """Make the run's Variable (in a step's thread, where get_client() is the worker's); False off a worker."""
        if self._var is None:
            if not _on_worker():
                self._local = True  # a direct call (tests): no record to read, nothing stops it
                return False
            from distributed import Variable, get_client

            self._var = Variable(variable_name(self.run_id), client=get_client())
        return True

    def prefetch(self) -> None:
        """Ask for the record behind (a step ended: the next one here starts on this read)."""
        if not self._local and self._var is not None:
            self._read_behind()

    def _read(self) -> dict[str, Any]:
        asked = time.monotonic()
        try:
            state = self._var.get(timeout=5)
        except Exception:  # noqa: BLE001 - no news is not an order to stop
            log.debug("control read for run %s failed", self.run_id, exc_info=True)
            self._retry_at = time.monotonic() + 1.0  # a read that failed is not tried at every epoch
            return self._state
        with self._lock:
            if asked >= self._asked_at:  # a read behind that ends after a newer one must not win
                self._state, self._read_at, self._asked_at = state, time.monotonic(), asked
                if state.get("hb") != self._hb:
                    self._hb, self._hb_seen = state.get("hb"), self._read_at
        return state

    def _read_behind(self) -> None:
        """One read on a thread of its own, unless one runs already."""
        with self._lock:
            if self._reading:
                return
            self._reading = True
            done = threading.Event()
            self._inflight = (time.monotonic(), done)

        def read() -> None:
            try:
                self._read()
            finally:
                self._reading = False
                done.set()

        threading.Thread(target=read, name=f"hpo-kit-read-{self.run_id}", daemon=True).start()

    @property
    def ended(self) -> bool:
        """The run is over (its record says so, or its driver fell silent for LEASE s)."""
        return bool(self._state.get("ended")) or (self._hb is not None and time.monotonic() - self._hb_seen > LEASE)

    @property
    def paused(self) -> bool:
        return bool(self._state.get("paused"))

    def verdict(self, seq: int, fresh: float = FRESH, fence: float | None = None) -> str | None:
        """Why step ``seq`` must not start another epoch, or ``None`` if it may (reads the record;
        with ``fence``, a read asked within ``fence`` s: a step's start, see :meth:`fenced`)."""
        state = self.refresh(fresh=fresh) if fence is None else self.fenced(fence)
        if self.ended:
            return "the study ended" if state.get("ended") else f"the study's driver fell silent for {LEASE:g} s"
        floor = state.get("floor", 0)
        if floor and seq <= floor and seq not in state.get("keep", ()):
            return "a newer attempt of this trial superseded this step"
        return state.get("stops", {}).get(str(seq))

    def answer(self, seq: int, epoch: int) -> tuple[bool, int | None]:
        """The driver's rung answer for step ``seq`` at ``epoch``: (answered, budget or ``None`` to end)."""
        budget = self.refresh().get("answers", {}).get(f"{seq}:{epoch}")
        if budget is None:
            return False, None
        return True, (None if budget < 0 else int(budget))

    def cutoffs(self, seq: int) -> dict[int, tuple[Any, int]] | None:
        """Step ``seq``'s current rung cut-offs from the record (newer than its spec's), if the driver wrote any."""
        fresh = self.refresh().get("cutoffs", {}).get(str(seq))
        if not fresh:
            return None
        return {int(r): (None if cut is None else tuple(cut), int(up)) for r, (cut, up) in fresh.items()}

    # -- data -----------------------------------------------------------------------------------
    def data(self, loader: Callable[[], Any] | None) -> Any:
        """``loader()``, called once per process and run."""
        if loader is None:
            return None
        from dask.base import tokenize

        key = tokenize(loader)
        if key not in self._data:
            self._data[key] = loader()
        return self._data[key]

    # -- kept trials ----------------------------------------------------------------------------
    def watch_kept(self) -> None:
        """Make sure a poller releases this run's kept trials that are killed, and all at its end."""
        with self._lock:
            if self._poller is not None and self._poller.is_alive():
                return
            self._poller = threading.Thread(target=self._poll, name=f"hpo-kit-kept-{self.run_id}", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while len(self.kept) and not self.closed:
            time.sleep(POLL)
            state = self.refresh(force=True)
            if self.ended:
                close(self.run_id)
                return
            self.kept.release(state.get("release", ()))

    def close(self) -> None:
        self.closed = True
        self.kept.release_all()
        self._data.clear()


def _on_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except ValueError:
        return False


def context(run_id: str) -> StudyContext:
    """This process's context of ``run_id`` (created at its first step here)."""
    with _LOCK:
        ctx = _CONTEXTS.get(run_id)
        if ctx is None:
            ctx = _CONTEXTS[run_id] = StudyContext(run_id)
        return ctx


def close(run_id: str) -> bool:
    """Close and forget this process's context of ``run_id``; False if it had none."""
    with _LOCK:
        ctx = _CONTEXTS.pop(run_id, None)
    if ctx is None:
        return False
    ctx.close()
    return True


def runs() -> list[str]:
    """Run ids with a context in this process (tests, diagnostics)."""
    with _LOCK:
        return list(_CONTEXTS)


def kept_here(run_id: str | None = None) -> list[int]:
    """Trial ids kept waiting in this process (of ``run_id``, or of every run)."""
    with _LOCK:
        ctxs = [c for r, c in _CONTEXTS.items() if run_id is None or r == run_id]
    return [t for c in ctxs for t in c.kept.ids()]


class RunPlugin(WorkerPlugin):
    """Dask's set-up/tear-down of one run on every worker: its teardown closes the run's context."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.name = plugin_name(run_id)

    def setup(self, worker: Any) -> None:
        context(self.run_id)

    def teardown(self, worker: Any) -> None:
        close(self.run_id)


def plugin_name(run_id: str) -> str:
    return f"hpo-kit-run-{run_id}"
