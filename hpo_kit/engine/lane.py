"""A lane: one long Dask task per worker thread that runs a study's steps one after another.

Dask starts each task through its worker's event loop and state machine, ~1.5-2 ms between
one task's end and the next one's start on a loaded machine (and several scheduler
transitions per task). A study's steps are many and short (ASHA's first rungs), so by
default each worker thread the study may use runs one *lane* task for the whole run: the
driver hands it steps (:func:`lane_put`, through ``Client.run``), the lane runs each with
:func:`~hpo_kit.engine.worker.run_step` under the step's own key, and takes the next from its
inbox as soon as the last returns, with no Dask task in between. Its results travel as today,
as the step's ``"done"`` event; the runner's side is :mod:`.lanes`.

A lane ends when the driver closes it (``None`` in its inbox, after what is queued), or when
its task is cancelled or released (the client went away), which it checks whenever it is idle;
as it ends it releases the study's trials kept waiting in its process (:mod:`.kept`).
A step handed to a lane that has ended is sent back (a ``"lane-gone"`` event); a queued step
can be taken back (:func:`lane_withdraw`) so that an idle lane runs it instead.
"""
from __future__ import annotations

import os
import threading
import time
from traceback import format_exc
from collections import deque
from typing import Any

from distributed.protocol.pickle import loads

from .kept import release_all

LANE_POLL = 0.5  # seconds an idle lane waits before it checks whether its task is still wanted

_LANES: dict[str, "Inbox"] = {}  # lane task key -> its inbox, in this worker process
_IDLE = object()


class Inbox:
    """A lane's queue of ``(step key, spec)``: FIFO, with removal of a queued step (thread-safe)."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._cv = threading.Condition()
        self._closed = False

    def put(self, item: Any) -> bool:
        """Queue ``item``; False when the lane has ended (nobody would run it)."""
        with self._cv:
            if self._closed:
                return False
            self._items.append(item)
            self._cv.notify()
            return True

    def close(self) -> list[Any]:
        """The lane ends: refuse further items; return the steps still queued."""
        with self._cv:
            self._closed = True
            items, self._items = [i for i in self._items if i is not None], deque()
        return items

    def take(self, timeout: float) -> Any:
        """The next item, or ``_IDLE`` after ``timeout`` s with none."""
        with self._cv:
            if not self._items:
                self._cv.wait(timeout)
            return self._items.popleft() if self._items else _IDLE

    def withdraw(self, key: str) -> bool:
        """Remove the queued step ``key``; False when it has started (or was never here)."""
        with self._cv:
            for item in self._items:
                if item is not None and item[0] == key:
                    self._items.remove(item)
                    return True
        return False


def run_lane(study: str) -> int:
    """The lane task: run the steps handed to this lane until it is closed; returns how many ran."""
    from distributed import get_worker

    from .worker import run_step

    worker = get_worker()
    key = worker.get_current_task()
    inbox = _LANES[key] = Inbox()
    topic = f"hpo-kit-{study}"
    # The runner hands this lane steps only once it has heard where it runs.
    worker.log_event(topic, {"kind": "lane", "lane": key, "worker": worker.address, "pid": os.getpid()})
    ran = 0
    try:
        while True:
            item = inbox.take(LANE_POLL)
            if item is _IDLE:
                if _unwanted(worker, key):
                    break
                continue
            if item is None:
                break
            step_key, blob = item
            try:
                run_step(loads(blob), key=step_key)  # unpickled here: a first load may be slow (imports)
            except Exception as exc:  # noqa: BLE001 - the engine's own failure (a trial's is its result)
                worker.log_event(topic, {"kind": "step-error", "lane": key, "key": step_key,
                                         "error": f"{type(exc).__name__}: {exc}", "traceback": format_exc()})
            ran += 1
    finally:
        _LANES.pop(key, None)
        for item in inbox.close():  # handed over as it ended: back to the runner, unrun
            worker.log_event(topic, {"kind": "lane-gone", "lane": key, "key": item[0]})
        # A lane ends with its study (closed, or its task cancelled or released by a client gone):
        # the study's trials kept waiting in this process can never be resumed.
        release_all(study)
    return ran


def _unwanted(worker: Any, key: str) -> bool:
    """The lane's task was cancelled or released (its client left): no one will hand it steps."""
    ts = worker.state.tasks.get(key)
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


async def lane_put(study: str, lane: str, key: str, blob: bytes, dask_worker: Any = None) -> None:
    """Hand the step ``key`` (its pickled spec) to ``lane`` (``Client.run(..., wait=False)``, which
    needs a coroutine)."""
    inbox = _LANES.get(lane)
    if (inbox is None or not inbox.put((key, blob))) and dask_worker is not None:
        # The lane has ended: the runner places the step again.
        dask_worker.log_event(f"hpo-kit-{study}", {"kind": "lane-gone", "lane": lane, "key": key})


async def lane_withdraw(study: str, lane: str, key: str, dask_worker: Any = None) -> None:
    """Take the step ``key`` back from ``lane`` if it has not started (an idle lane will run it)."""
    inbox = _LANES.get(lane)
    took = inbox is not None and inbox.withdraw(key)
    if dask_worker is not None:
        dask_worker.log_event(f"hpo-kit-{study}", {"kind": "withdrawn", "lane": lane, "key": key, "took": took,
                                                   "t": time.time()})


async def lane_close(lanes: list[str]) -> None:
    """Close these lanes after the steps they hold (the study ends)."""
    for lane in lanes:
        inbox = _LANES.get(lane)
        if inbox is not None:
            inbox.put(None)
