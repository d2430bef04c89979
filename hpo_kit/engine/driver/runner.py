"""The driver loop: Dask futures in, events out. Knows steps, not optimizers.

One thread runs :meth:`Runner.run`. It consumes a single queue fed by three sources:
an ``as_completed`` thread (finished steps), the Dask event subscription (reports
streamed from workers while steps run) and :meth:`Runner.call_soon` (user controls
from any thread). Everything that changes study state therefore happens on the loop
thread, in arrival order. The :class:`Handler` (the study's driver) decides what to submit.

Every step is one Dask task (``client.submit``), so Dask's scheduler knows every piece of
work: its delivery, its cancellation, the dashboard's task stream and other clients' fair
share (steps are submitted at :data:`PRIORITY`, below other clients' default, so a study
never queues ahead of someone else's work). Driver → worker control is the run's control
record (:mod:`.control`); worker → driver, a step's start and reports stream as Dask events
and its result is its future's value. A step is settled by whichever comes first: its
``"done"`` event (the worker sends its result on the event stream as it returns) or its
future; messages of a step that is no longer in the step table (:mod:`.steps`) are dropped.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from distributed import Client, Future, as_completed

from ..worker import step as W
from ..worker.context import RunPlugin, plugin_name
from .control import Control
from ..deaths import exits_reported
from .steps import Step, StepTable
from ..worker.step import StepResult, StepSpec

log = logging.getLogger(__name__)

PRIORITY = -1  # Dask task priority of a step: other clients' default-priority tasks go first


class Handler(Protocol):
    """What the runner calls back; implemented by the study."""

    def fill(self, runner: "Runner") -> None: ...
    def on_message(self, step: Step, msg: dict[str, Any]) -> None: ...
    def on_done(self, step: Step, result: StepResult | BaseException) -> None: ...
    def on_tick(self) -> None: ...
    def finished(self) -> bool: ...


class Runner:
    """Submits steps as Dask futures and turns their completions and reports into callbacks.

    Parameters
    ----------
    client
        A connected Dask client.
    study_id
        The run's id: names the event topic, the control record and the worker-side context.
    steps
        The run's step table (the runner reads it; the driver changes it).
    tick
        Seconds between ``on_tick`` calls when nothing happens (timeouts, time budget).
    """

    def __init__(self, client: Client, study_id: str, steps: StepTable | None = None, tick: float = 0.25) -> None:
        self.client = client
        self.study_id = study_id
        self.steps = steps if steps is not None else StepTable(study_id)
        self.tick = tick
        self._events: queue.Queue = queue.Queue()
        # Results are not gathered for every future: a step settled by its "done" event needs no fetch.
        self._ac = as_completed(loop=client.loop, with_results=False, raise_errors=False)  # not default_client()'s
        self._added = threading.Event()
        self._closing = threading.Event()
        self._stop = self._ended = False  # _ended: run() returned, calls are refused (see call_soon)
        self._ended_lock = threading.Lock()
        self.topic = f"hpo-kit-{study_id}"
        self.control = Control(client, study_id)  # before any step: a step reads it as it starts
        # Dask's set-up of the run's worker contexts, off the caller's path (a step makes its context
        # itself when it comes first); the tear-down at close waits for it, so they never cross.
        self._plugin = threading.Thread(target=self._register, name="hpo-kit-plugin", daemon=True)
        self._plugin.start()
        self.exits_reported = exits_reported(client)  # the nannies say why a worker died (engine.deaths)
        client.subscribe_topic(self.topic, self._on_event)
        self._feeder = threading.Thread(target=self._feed, name="hpo-kit-as-completed", daemon=True)
        self._feeder.start()

    # -- submission and control (loop thread) -----------------------------------------------
    def submit(self, key: str, spec: StepSpec, resources: dict[str, float] | None = None,
               near: str | None = None) -> Future:
        """Submit one step as a Dask task named ``key``; returns its future.

        ``near``: the worker where the trial is kept waiting (:mod:`.kept`). A loose restriction:
        Dask runs the step there while that worker lives, elsewhere (from the checkpoint) if it left.
        """
        place: dict[str, Any] = {"workers": [near], "allow_other_workers": True} if near else {}
        fut = self.client.submit(W.run_step, spec, key=key, pure=False, retries=0, resources=resources,
                                 priority=PRIORITY, **place)
        self._ac.add(fut)
        self._added.set()
        return fut

    def cancel(self, step: Step) -> None:
        """Cancel a step's task; a step that has started stops at its next epoch boundary by its record."""
        if step.future is not None:
            step.future.cancel()

    def signal_stop(self, step: Step, reason: str) -> None:
        """Ask the step to stop at its next epoch boundary (the run's control record)."""
        self.control.stop(step.seq, reason)

    def answer(self, step: Step, epoch: int, budget: int | None) -> None:
        """Answer a step waiting at its budget: go on to ``budget`` epochs, or (``None``) end the step now.

        A step that hears nothing ends by itself after a while and its trial resumes in a new step.
        """
        self.control.answer(step.seq, epoch, budget)

    def cutoffs(self, step: Step, cutoffs: dict[int, tuple[Any, int]]) -> None:
        """The step's rung cut-offs as they stand now (read by the step at its next epoch boundary)."""
        self.control.cutoffs(step.seq, cutoffs)

    def settled(self, step: Step) -> None:
        """The step left flight: its entries in the control record go."""
        self.control.settled(step.seq)

    def release(self, trial_id: int) -> None:
        """Release the trial where a worker keeps it waiting at a rung (a kill)."""
        self.control.release(trial_id)

    def fence(self) -> None:
        """Fence every step handed so far but those in flight (after a loss of steps whose tasks may still run)."""
        self.control.fence(self.steps.last_seq, self.steps.seqs())

    def set_paused(self, paused: bool) -> None:
        """Gate the workers: a step that starts while paused returns at once, unstarted (written now,
        before the pause is journalled, so no step starts after the journal says paused)."""
        self.control.pause(paused)

    def restart_worker(self, address: str) -> None:
        """Kill and restart a worker process (a hung trial cannot be interrupted otherwise).

        On a thread of its own: a restart takes seconds, and the loop must go on meanwhile.
        """
        def restart() -> None:
            try:
                self.client.restart_workers([address], timeout=30, raise_for_error=False)
            except Exception:  # noqa: BLE001 - a worker without a nanny cannot restart: report, go on
                log.warning("could not restart worker %s", address, exc_info=True)

        threading.Thread(target=restart, name="hpo-kit-restart", daemon=True).start()

    def reconnected(self) -> None:
        """The client reconnected to its scheduler (a restarted one, or the same after a network break):
        make again what a scheduler keeps per client and drops with it, the run's event subscription,
        worker plugin and control record (written by the writer thread: the loop does not wait)."""
        self.client.subscribe_topic(self.topic, self._on_event)
        self._plugin = threading.Thread(target=self._register, name="hpo-kit-plugin", daemon=True)
        self._plugin.start()
        self.control.resend()

    def _on_event(self, event: tuple[float, Any]) -> None:
        self._events.put(("msg", event[1]))

    # -- the loop -------------------------------------------------------------------------
    def call_soon(self, fn: Callable[[], Any], refuse: Callable[[], Any] | None = None) -> None:
        """Run ``fn`` on the loop thread (thread-safe); the way controls reach the loop.

        ``refuse`` runs instead (on the caller's thread, or the loop's as it ends) when the loop
        has ended or ends before reaching ``fn``, so a control sent as a study ends is answered.
        """
        with self._ended_lock:
            if not self._ended:
                self._events.put(("call", fn, refuse))
                return
        if refuse is not None:
            refuse()

    def request_exit(self) -> None:
        self.call_soon(self._set_stop)

    def _set_stop(self) -> None:
        self._stop = True

    def run(self, handler: Handler) -> None:
        """Drive ``handler`` until it is finished and nothing is in flight, or exit was requested."""
        try:
            self._loop(handler)
        finally:
            self._refuse_queued()

    def _loop(self, handler: Handler) -> None:
        while not self._stop:
            handler.fill(self)
            self.control.write_soon()  # what this turn changed, in one write, off the loop thread
            if handler.finished() and not len(self.steps):
                break
            try:
                kind, *payload = self._events.get(timeout=self.tick)
            except queue.Empty:
                kind = None
            if kind is None:  # outside the except: what a tick raises does not read "during queue.Empty"
                handler.on_tick()
                continue
            self._dispatch(handler, kind, payload)
            while True:  # drain what is already queued before deciding again
                try:
                    kind, *payload = self._events.get_nowait()
                except queue.Empty:
                    break
                self._dispatch(handler, kind, payload)
            handler.on_tick()

    def _refuse_queued(self) -> None:
        """The loop has ended: refuse the controls still queued, and any sent from now on."""
        with self._ended_lock:
            self._ended = True
        while True:
            try:
                kind, *payload = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "call" and payload[1] is not None:
                payload[1]()

    def _dispatch(self, handler: Handler, kind: str, payload: list) -> None:
        if kind == "msg":
            msg = payload[0]
            if msg.get("kind") == "batch":  # a step's held messages, in order (engine.outbox)
                for one in msg["msgs"]:
                    self._dispatch(handler, "msg", [{**one, "key": msg.get("key")}])
                return
            step = self.steps.get(msg.get("key"))
            if step is None:
                return  # from a step already settled (or of another run): its result is in
            if msg.get("kind") == "done":  # the worker's copy of the result, ahead of the future
                handler.on_done(step, W.StepResult(**msg["result"]))
            else:
                handler.on_message(step, msg)
        elif kind == "done":
            fut, result = payload
            if isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], BaseException):
                result = result[1]  # distributed hands errors back as (type, exception, traceback)
            step = self.steps.get(fut.key)
            if step is not None and step.future is fut:
                handler.on_done(step, result)
        elif kind == "call":
            payload[0]()

    def _feed(self) -> None:
        while not self._closing.is_set():
            try:
                for fut in self._ac:
                    if self.steps.get(fut.key) is None:
                        continue  # settled by its "done" event already: no fetch from the worker
                    try:
                        result: Any = fut.result()
                    except BaseException as exc:  # noqa: BLE001 - errors and cancellations are outcomes
                        result = exc
                    self._events.put(("done", fut, result))
            except Exception:  # noqa: BLE001 - keep feeding; the loop sees failures as results
                log.exception("as_completed feeder")
            self._added.wait(0.05)
            self._added.clear()

    def _register(self) -> None:
        try:
            self.client.register_plugin(RunPlugin(self.study_id), name=plugin_name(self.study_id))
        except Exception:  # noqa: BLE001 - contexts are made by the steps too; a closing client says more
            log.debug("registering the run's worker plugin failed", exc_info=True)

    def _unregister(self) -> None:
        self._plugin.join()
        try:
            self.client.unregister_worker_plugin(plugin_name(self.study_id))
        except Exception:  # noqa: BLE001 - a worker gone, a cluster closing
            pass

    def close(self) -> None:
        """End the run: its record says so (no step of it starts another epoch), its tasks are
        cancelled, its workers' contexts closed (kept trials released, data dropped)."""
        self._closing.set()
        self._added.set()
        written = self.control.end()
        flying = [s.future for s in self.steps if s.future is not None]
        try:  # one cancel for all: a call per future costs 0.1 s at the end of a study on 64 workers
            self.client.cancel(flying)
        except Exception:  # noqa: BLE001 - a closing cluster: its processes end, and their threads with them
            pass
        if flying:  # one of them may yet start: it must read the end (control.FENCE)
            self.control.settle(written)
        self._ac.clear()  # the feeder's wait ends now
        with self._ac.thread_condition:  # not at its next 0.1-s poll
            self._ac.thread_condition.notify_all()
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # noqa: BLE001 - the client may already be closing
            pass
        # Dask's tear-down of the run's worker plugin closes its contexts, not waited for: a worker busy in
        # a step's epoch answers late, and its context closes itself on "ended" anyway.
        threading.Thread(target=self._unregister, name="hpo-kit-teardown", daemon=True).start()
        self._feeder.join(timeout=2)
