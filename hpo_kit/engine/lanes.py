"""The runner's side of lanes (:mod:`.lane`): which lane holds which step, and where the next one goes.

The runner keeps ``n`` lane tasks (one per worker thread the study may use) and hands each
step to the live lane with the fewest steps, at most ``depth`` per lane (one running, the
rest queued on its worker, as deep as the driver prefetches). A step for a trial kept
waiting on a worker (:mod:`.kept`) goes to a lane on that worker when one has room.

* A lane is *live* once it has said where it runs (its ``"lane"`` event); steps wait in
  ``pending`` until then.
* An idle lane takes a queued step back from a busy one (:meth:`Lanes.rebalance`): at the
  end of a study the last queued steps otherwise wait behind long ones while workers idle.
  Dask's own work stealing ignores queues this short.
* A lane that ends loses the steps it still holds: with its worker (``KilledWorker``, one per
  step, so the driver's fault paths read them as for a step of its own), with its error, or,
  if it ended normally, as cancelled (the driver requeues them). A lane whose worker left the
  cluster (a scheduler that re-runs tasks would re-run the lane instead of failing it) is
  found by :meth:`Lanes.check`.

Messages to lanes go through ``Client.run(..., wait=False)`` posted on the client's event
loop (:func:`post`), so the driver's loop never waits for a round trip.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from distributed import CancelledError, Client, Future
from distributed.scheduler import KilledWorker

from .lane import lane_put, lane_withdraw, run_lane

log = logging.getLogger(__name__)

KINDS = ("lane", "lane-gone", "withdrawn", "step-error")  # the lanes' own messages on the study's topic
PREFIX = "hpo-lane-"


def post(client: Client, fn: Callable, *args: Any, workers: list[str] | None) -> None:
    """``client.run(fn, *args, workers=workers, wait=False)`` without waiting for the scheduler's reply."""
    async def send() -> None:
        try:
            await client.run(fn, *args, workers=workers, wait=False, on_error="ignore", asynchronous=True)
        except Exception:  # noqa: BLE001 - a lost worker: its lane's end settles what it held
            log.warning("%s to %s failed", fn.__name__, workers, exc_info=True)

    client.loop.add_callback(send)


@dataclass(eq=False)
class Lane:
    """One lane task and the steps handed to it (unsettled, in order)."""

    key: str
    future: Future
    worker: str | None = None
    pid: int | None = None
    steps: list[str] = field(default_factory=list)
    taking_back: str | None = None  # a step asked back for an idle lane, not yet answered


Lost = list[tuple[str, BaseException]]  # steps to settle as lost: (step key, its error)


class Lanes:
    """Placement of a runner's steps on its lanes (loop thread only, like the runner's state).

    Parameters
    ----------
    client
        The study's client.
    study_id
        Names the lanes and the topic of their messages.
    """

    def __init__(self, client: Client, study_id: str) -> None:
        self.client, self.study_id = client, study_id
        self.blobs: dict[str, bytes] = {}  # step -> its pickled spec (pickled once, by the runner)
        self.lanes: dict[str, Lane] = {}
        self.pending: list[str] = []  # steps no live lane has room for yet
        self.where: dict[str, Lane] = {}
        self.near: dict[str, str] = {}  # step -> the worker its trial is kept on
        self.cancelled: set[str] = set()
        self.depth = 1
        self._seq = 0

    def plan(self, n: int, depth: int, resources: dict[str, float] | None) -> list[Future]:
        """Keep ``n`` lanes, ``depth`` steps each at most; returns the lane futures started now."""
        self.depth = max(1, depth)
        new = []
        while len(self.lanes) < n:
            self._seq += 1
            key = f"{PREFIX}{self.study_id}-{self._seq}"
            fut = self.client.submit(run_lane, self.study_id, key=key, pure=False, retries=0, resources=resources)
            self.lanes[key] = Lane(key, fut)
            new.append(fut)
        return new

    # -- steps in -------------------------------------------------------------------------------
    def place(self, key: str, blob: bytes | None = None, near: str | None = None) -> None:
        """Hand the step ``key`` (``blob``: its pickled spec) to a lane with room (one on ``near``
        first), else keep it pending."""
        if blob is not None:
            self.blobs[key] = blob
        if near:
            self.near[key] = near
        lane = self._choose(self.near.get(key))
        if lane is None:
            self.pending.append(key)
        else:
            self._hand(lane, key)

    def _choose(self, near: str | None) -> Lane | None:
        # A kept trial's lane may go one deeper: waiting one step there beats training it again elsewhere.
        there = [lane for lane in self.lanes.values() if near and lane.worker == near
                 and len(lane.steps) <= self.depth]
        live = [lane for lane in self.lanes.values() if lane.worker and len(lane.steps) < self.depth]
        return min(there or live, key=lambda lane: len(lane.steps), default=None)

    def _hand(self, lane: Lane, key: str) -> None:
        lane.steps.append(key)
        self.where[key] = lane
        post(self.client, lane_put, self.study_id, lane.key, key, self.blobs[key], workers=[lane.worker])

    def _pump(self) -> None:
        while self.pending:
            lane = self._choose(self.near.get(self.pending[0]))
            if lane is None:
                return
            self._hand(lane, self.pending.pop(0))

    def rebalance(self) -> None:
        """Idle lanes ask busy ones for a queued step (after the driver has filled what it could)."""
        if self.pending:
            return
        idle = [lane for lane in self.lanes.values() if lane.worker and not lane.steps]
        asked = sum(1 for lane in self.lanes.values() if lane.taking_back)
        for lane in sorted(self.lanes.values(), key=lambda lane: -len(lane.steps)):
            if asked >= len(idle) or len(lane.steps) < 2:
                return
            # Not a kept trial's resume (engine.kept): elsewhere it would train its epochs again.
            free = [step for step in lane.steps[1:] if self.near.get(step) != lane.worker]
            if lane.taking_back is None and free:
                lane.taking_back = free[-1]
                asked += 1
                post(self.client, lane_withdraw, self.study_id, lane.key, free[-1], workers=[lane.worker])

    def cancel(self, key: str) -> bool:
        """Cancel a step; True when it was never handed over (settle it now). A step queued on a lane
        is taken back and settled when the lane answers; one that has started runs on (its stop flag)."""
        if key in self.pending:
            self.pending.remove(key)
            return True
        lane = self.where.get(key)
        if lane is not None and lane.worker and key not in self.cancelled:
            self.cancelled.add(key)
            post(self.client, lane_withdraw, self.study_id, lane.key, key, workers=[lane.worker])
        return False

    def settled(self, key: str) -> None:
        """The step ``key`` is settled: its lane has room again."""
        lane = self.where.pop(key, None)
        if lane is not None and key in lane.steps:
            lane.steps.remove(key)
        if key in self.pending:
            self.pending.remove(key)
        self.near.pop(key, None)
        self.blobs.pop(key, None)
        self.cancelled.discard(key)
        self._pump()

    # -- what the lanes say -----------------------------------------------------------------------
    def on_message(self, msg: dict[str, Any]) -> tuple[Lost, list[str]]:
        """A lane's message; returns ``(lost steps, cancelled steps)`` for the runner to settle."""
        lane = self.lanes.get(msg.get("lane", ""))
        if lane is None:
            return [], []
        kind, key = msg["kind"], msg.get("key")
        if kind == "lane":
            lost: Lost = []
            if lane.pid is not None and (lane.pid, lane.worker) != (msg["pid"], msg["worker"]):
                lost = self._lose(lane, _killed, lane.worker)  # Dask re-ran the lane elsewhere
            lane.worker, lane.pid = msg["worker"], msg["pid"]
            self._pump()
            return lost, []
        if key is None or self.where.get(key) is not lane:
            if kind == "withdrawn":
                lane.taking_back = None
            return [], []
        if kind == "step-error":  # the step could not be run or its result not sent
            return [(key, LaneStepError(f"{msg['error']} (on {lane.worker})\n{msg['traceback']}"))], []
        if kind == "lane-gone":
            lane.worker = None  # ended: hand it nothing more
        elif kind == "withdrawn":
            lane.taking_back = None
            if not msg.get("took"):
                return [], []
        lane.steps.remove(key)
        del self.where[key]
        if key in self.cancelled:
            self.cancelled.discard(key)
            return [], [key]
        self.place(key)
        return [], []

    def ended(self, key: str, result: Any) -> Lost:
        """The lane task ``key`` ended with ``result``: the steps it still holds are lost."""
        lane = self.lanes.pop(key, None)
        if lane is None:
            return []
        if isinstance(result, KilledWorker):
            return self._lose(lane, _killed, getattr(result.last_worker, "address", lane.worker))
        if isinstance(result, BaseException):
            return self._lose(lane, lambda step, worker: result, lane.worker)
        return self._lose(lane, lambda step, worker: CancelledError(step), lane.worker)

    def check(self, alive: set[str]) -> Lost:
        """Lanes on workers that left the cluster: their steps are lost with the worker."""
        lost: Lost = []
        for lane in [lane for lane in self.lanes.values() if lane.worker and lane.worker not in alive]:
            del self.lanes[lane.key]
            lane.future.cancel()
            lost += self._lose(lane, _killed, lane.worker)
        return lost

    def _lose(self, lane: Lane, error: Callable[[str, str | None], BaseException], worker: str | None) -> Lost:
        lost = [(step, error(step, worker)) for step in lane.steps]
        for step in lane.steps:
            self.where.pop(step, None)
        lane.steps = []
        return lost


class LaneStepError(RuntimeError):
    """A step its lane could not run (its spec did not unpickle there) or whose result it could not send."""


def _killed(step: str, worker: str | None) -> KilledWorker:
    """Dask's error for a step lost with its worker, as if the step had been a task of its own."""
    return KilledWorker(step, SimpleNamespace(address=worker), 0)
