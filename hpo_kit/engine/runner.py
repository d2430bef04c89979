"""The driver loop: Dask futures in, events out. Knows steps, not optimizers.

One thread runs :meth:`Runner.run`. It consumes a single queue fed by three sources:
an ``as_completed`` thread (finished steps), the Dask event subscription (reports
streamed from workers while steps run) and :meth:`Runner.call_soon` (user controls
from any thread). Everything that changes study state therefore happens on the loop
thread, in arrival order. The :class:`Handler` (the study) decides what to submit.

A step is settled by whichever comes first: its ``"done"`` event (the worker sends its
result on the event stream as it returns) or its future. The event saves the fetch of
the result from the worker, one round trip, which is most of the driver's lag under
load; the future remains the path for errors and lost workers. Every message carries
its step's key, and messages of a step that is no longer in flight are dropped.

With ``lanes`` (the default) a step is not a Dask task: it is handed to a long-running lane task
(:mod:`.lanes`, :mod:`.lane`); its done event is its only result, a lane's end settles it as lost.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from distributed import CancelledError, Client, Future, as_completed
from distributed.protocol.pickle import dumps

from . import worker as W
from .deaths import exits_reported
from .kept import release_study
from .lane import lane_close
from .lanes import KINDS as LANE_KINDS
from .lanes import PREFIX as LANE_PREFIX
from .lanes import Lanes, post
from .worker import StepResult, StepSpec

log = logging.getLogger(__name__)


class Handler(Protocol):
    """What the runner calls back; implemented by the study."""

    def fill(self, runner: "Runner") -> None: ...
    def on_message(self, msg: dict[str, Any]) -> None: ...
    def on_done(self, spec: StepSpec, result: StepResult | BaseException) -> None: ...
    def on_tick(self) -> None: ...
    def finished(self) -> bool: ...


class Runner:
    """Submits steps as Dask futures and turns their completions and reports into callbacks.

    Parameters
    ----------
    client
        A connected Dask client.
    study_id
        Names the event topic and the worker-side flags.
    tick
        Seconds between ``on_tick`` calls when nothing happens (timeouts, time budget).
    lanes
        Run steps in lane tasks (:mod:`.lanes`) rather than one Dask task each.
    """

    CHECK_LANES = 2.0  # seconds between checks that the lanes' workers are still in the cluster

    def __init__(self, client: Client, study_id: str, tick: float = 0.25, lanes: bool = False) -> None:
        self.client = client
        self.study_id = study_id
        self.tick = tick
        self._events: queue.Queue = queue.Queue()
        self._specs: dict[str, StepSpec] = {}
        self._futures: dict[str, Future] = {}
        # Results are not gathered for every future: a step settled by its "done" event needs no fetch.
        self._ac = as_completed(loop=client.loop, with_results=False, raise_errors=False)  # not default_client()'s
        self._added = threading.Event()
        self._closing = threading.Event()
        self._stop = self._ended = False  # _ended: run() returned, calls are refused (see call_soon)
        self._ended_lock = threading.Lock()
        self._seq = 0
        self.topic = f"hpo-kit-{study_id}"
        self._lanes = Lanes(client, study_id) if lanes else None
        self._lanes_checked = time.monotonic()
        self.exits_reported = exits_reported(client)  # the nannies say why a worker died (engine.deaths)
        client.subscribe_topic(self.topic, lambda ev: self._events.put(("msg", ev[1])))
        self._feeder = threading.Thread(target=self._feed, name="hpo-kit-as-completed", daemon=True)
        self._feeder.start()

    # -- submission and signals (loop thread) ---------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._specs)

    @property
    def lanes_live(self) -> int:
        """Lanes that have said where they run (0 without lanes)."""
        return 0 if self._lanes is None else sum(1 for lane in self._lanes.lanes.values() if lane.worker)

    def specs(self) -> list[StepSpec]:
        return list(self._specs.values())

    def submit(self, spec: StepSpec, resources: dict[str, float] | None = None, near: str | None = None) -> str:
        """Submit one step; returns its future's key.

        ``near``: the worker where the trial is kept waiting (:mod:`.kept`); a loose restriction,
        so the step runs elsewhere (from the checkpoint) if that worker is gone.
        """
        self._seq += 1  # a key per step: a resumed trial must never hit its previous step's result
        key = f"hpo-step-{self.study_id}-{spec.trial_id}-{self._seq}"
        if self._lanes is not None:
            if not self._lanes.lanes:  # nobody planned them (a direct user of the runner): one per thread
                self.plan_lanes(sum(self.client.nthreads().values()), 2, resources)
            blob = dumps(spec)  # here, so that a step that cannot be sent fails in the caller (the driver)
            self._specs[key] = spec
            self._lanes.place(key, blob, near)
            return key
        place: dict[str, Any] = {"workers": [near], "allow_other_workers": True} if near else {}
        fut = self.client.submit(W.run_step, spec, key=key, pure=False, retries=0, resources=resources, **place)
        self._specs[fut.key] = spec
        self._futures[fut.key] = fut
        self._ac.add(fut)
        self._added.set()
        return fut.key

    def plan_lanes(self, n: int, depth: int, resources: dict[str, float] | None = None) -> None:
        """Keep ``n`` lanes of up to ``depth`` steps each (no-op without lanes, or once closing)."""
        if self._lanes is None or self._closing.is_set():
            return
        for fut in self._lanes.plan(n, depth, resources):
            self._ac.add(fut)
            self._added.set()

    def forget(self, key: str) -> None:
        """Cancel a step and drop it: its later messages and result are ignored."""
        self.cancel(key)
        self._specs.pop(key, None)
        self._futures.pop(key, None)
        if self._lanes is not None:
            self._lanes.settled(key)

    def cancel(self, key: str) -> None:
        """Cancel a step that has not started; it settles as cancelled (a started one runs on)."""
        fut = self._futures.get(key)
        if fut is not None:
            fut.cancel()
        elif self._lanes is not None and key in self._specs and self._lanes.cancel(key):
            self._events.put(("lost", key, CancelledError(key)))

    def signal_stop(self, trial_id: int, attempt: int, reason: str, worker: str | None = None) -> None:
        """Ask this attempt of the trial to stop at its next epoch boundary: on ``worker`` when known
        (the step runs there), else on every worker (a queued step may start anywhere)."""
        self._broadcast(W.request_stop, self.study_id, trial_id, attempt, reason,
                        workers=[worker] if worker else None)

    def answer(self, worker: str | None, trial_id: int, attempt: int, epoch: int, budget: int | None) -> None:
        """Answer a step waiting at its budget: go on to ``budget`` epochs, or (``None``) end the step now.

        Fire and forget (``wait=False``): the loop never blocks on it; a step that hears nothing
        ends by itself after a while and its trial resumes in a new step.
        """
        try:
            self.client.run(W.answer, self.study_id, trial_id, attempt, epoch, budget,
                            workers=[worker] if worker else None, wait=False, on_error="ignore")
        except Exception:  # noqa: BLE001 - a lost worker must not end the study
            log.warning("answer to trial %s failed", trial_id, exc_info=True)

    def set_paused(self, paused: bool) -> None:
        """Gate the workers: a step that starts while paused returns at once, unstarted."""
        self._broadcast(W.set_paused, self.study_id, paused)

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

    def _broadcast(self, fn: Callable, *args: Any, workers: list[str] | None = None) -> None:
        try:
            self.client.run(fn, *args, workers=workers, on_error="ignore")
        except Exception:  # noqa: BLE001 - a worker lost mid-broadcast must not end the study
            log.warning("broadcast %s failed", fn.__name__, exc_info=True)

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
            if self._lanes is not None:
                self._check_lanes(handler)
            if handler.finished() and not self._specs:
                break
            try:
                kind, *payload = self._events.get(timeout=self.tick)
            except queue.Empty:
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
            if msg.get("kind") in LANE_KINDS:
                if self._lanes is not None:
                    lost, cancelled = self._lanes.on_message(msg)
                    self._lose(handler, lost + [(k, CancelledError(k)) for k in cancelled])
                return
            key = msg.get("key")
            if key is not None and key not in self._specs:
                return  # from a step already settled (or a re-run of one): its result is in
            if msg.get("kind") == "done":  # the worker's copy of the result, ahead of the future
                self._settle(handler, key, W.StepResult(**msg["result"]))
            else:
                handler.on_message(msg)
        elif kind == "done":
            fut, result = payload
            if isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], BaseException):
                result = result[1]  # distributed hands errors back as (type, exception, traceback)
            if self._lanes is not None and fut.key.startswith(LANE_PREFIX):
                self._lose(handler, self._lanes.ended(fut.key, result))
            else:
                self._settle(handler, fut.key, result)
        elif kind == "lost":
            self._settle(handler, payload[0], payload[1])
        elif kind == "call":
            payload[0]()

    def _lose(self, handler: Handler, lost: list[tuple[str, BaseException]]) -> None:
        for key, exc in lost:
            self._settle(handler, key, exc)

    def _check_lanes(self, handler: Handler) -> None:
        """Idle lanes take queued steps back from busy ones (after the handler has filled what it
        could); every ``CHECK_LANES`` s, lanes whose worker left the cluster lose their steps."""
        assert self._lanes is not None
        self._lanes.rebalance()
        now = time.monotonic()
        if now - self._lanes_checked < self.CHECK_LANES or not self._lanes.where:
            return
        self._lanes_checked = now
        try:
            alive = set(self.client.scheduler_info(n_workers=-1)["workers"])
        except Exception:  # noqa: BLE001 - a scheduler going away is the driver's to report
            return
        self._lose(handler, self._lanes.check(alive))

    def _settle(self, handler: Handler, key: str, result: StepResult | BaseException) -> None:
        """Hand a step's outcome to the handler once: the first of its done event and its future."""
        spec = self._specs.pop(key, None)
        self._futures.pop(key, None)
        if self._lanes is not None:
            self._lanes.settled(key)
        if spec is not None:
            handler.on_done(spec, result)

    def _feed(self) -> None:
        while not self._closing.is_set():
            try:
                for fut in self._ac:
                    if fut.key not in self._specs and not fut.key.startswith(LANE_PREFIX):
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

    def close(self) -> None:
        """Cancel what is in flight, release the trials kept waiting on the workers, stop listening."""
        self._closing.set()
        self._added.set()
        lanes = list(self._lanes.lanes.values()) if self._lanes is not None else []
        try:  # lanes are not waited for: each releases the study's kept trials as it ends, told or cancelled
            if lanes:
                post(self.client, lane_close, [lane.key for lane in lanes], workers=None)
            else:
                self.client.run(release_study, self.study_id, wait=False, on_error="ignore")
            # One cancel for all: a call per future costs 0.1 s at the end of a study on 64 workers.
            self.client.cancel([lane.future for lane in lanes] + list(self._futures.values()))
        except Exception:  # noqa: BLE001 - a closing cluster: its processes end, and their threads with them
            pass
        self._ac.clear()  # the feeder's wait ends now, not when the lanes' cancellation comes back
        with self._ac.thread_condition:  # nor at its next 0.1-s poll
            self._ac.thread_condition.notify_all()
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # noqa: BLE001 - the client may already be closing
            pass
        self._feeder.join(timeout=2)
