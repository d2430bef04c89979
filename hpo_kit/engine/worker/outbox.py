"""A step's messages to the driver, coalesced on the worker: one Dask event per burst, none for a short step.

Every Dask event costs a message from the worker to the scheduler and one from the scheduler
to the driver, and a turn of the driver's loop (a journal write among them). A step's
``"start"`` and its reports are therefore *held* for up to :data:`HOLD` seconds:

* a step that ends meanwhile sends only its ``"done"`` event, which carries its result (its
  reports, its worker, pid and start time): a short trial costs one event, not three;
* a step that runs on sends what it holds as one ``"batch"`` event when the hold expires (a
  timer on the worker's event loop, no thread), then holds the next messages afresh;
* a message the driver must answer before the step can go on (the report at the budget of a
  step that waits for the driver's promotion, :mod:`hpo_kit.engine.driver.promotion`) is sent at once, with
  what is held before it (:meth:`Outbox.flush`).

So the driver hears of a running step and of its reports at most ``HOLD`` later than it
would otherwise: a kill or a monitor's stop lands that much later, a dashboard is that much
behind; the engine's reconciliation of a step's reports from its result is unchanged.
Hand-written rather than Dask's own batching (``BatchedSend`` already batches within a few
ms): the point here is to send nothing at all for what the ``"done"`` event carries anyway.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

HOLD = 0.1  # seconds a step's start and reports may wait on the worker before they are sent


class Outbox:
    """Holds one step's messages and sends them in batches (thread-safe).

    Parameters
    ----------
    send
        Sends one message to the driver (``Worker.log_event`` on the study's topic).
    later
        ``later(seconds, fn)`` calls ``fn`` after ``seconds`` on another thread (the worker's
        event loop); ``None`` sends every message at once.
    hold
        Seconds a message may be held (:data:`HOLD`).
    """

    def __init__(self, send: Callable[[dict], None], later: Callable[[float, Callable[[], None]], None] | None,
                 hold: float = HOLD) -> None:
        self._send = send
        self._later = later if hold > 0 else None
        self._hold = hold
        self._held: list[dict[str, Any]] = []
        self._armed = False
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self, msg: dict[str, Any]) -> None:
        """Send ``msg`` within the hold (at once when holding is off or the step has ended)."""
        with self._lock:
            if self._later is None or self._closed:
                batch = [*self._held, msg]
                self._held = []
            else:
                self._held.append(msg)
                if self._armed:
                    return
                self._armed = True
                batch = []
        if batch:
            self._ship(batch)
        else:
            self._later(self._hold, self._expire)

    def flush(self) -> None:
        """Send what is held now (the driver must answer the last message before the step goes on)."""
        with self._lock:
            batch, self._held = self._held, []
        if batch:
            self._ship(batch)

    def close(self, drop: bool) -> None:
        """The step has ended: drop what is held (``drop``: its ``"done"`` event carries it) or send it;
        later messages go at once."""
        with self._lock:
            batch, self._held, self._closed = ([] if drop else self._held), [], True
        if batch:
            self._ship(batch)

    def _expire(self) -> None:
        with self._lock:
            self._armed = False
            batch, self._held = self._held, []
        if batch:
            self._ship(batch)

    def _ship(self, batch: list[dict[str, Any]]) -> None:
        self._send(batch[0] if len(batch) == 1 else {"kind": "batch", "msgs": batch})


def later_on(worker: Any) -> Callable[[float, Callable[[], None]], None]:
    """``later(seconds, fn)`` on ``worker``'s event loop, callable from any thread."""
    loop = worker.loop

    def later(seconds: float, fn: Callable[[], None]) -> None:
        loop.add_callback(loop.call_later, seconds, fn)  # add_callback is the thread-safe entry

    return later
