"""Driver → worker control as *state* in a Dask ``Variable``, never as messages.

What a running step must hear from the driver — stop at your next epoch, the study is paused,
the study has ended, go on to budget B at this rung, release a trial kept at a rung — is one
small record per run, kept by the scheduler in the Dask ``Variable`` named
:func:`variable_name`. A writer thread rewrites it when something changed (the loop thread only
marks it: a write is a round trip to the scheduler, which the loop must not wait for; a pause
and the end are written at once) and at least every :data:`HEARTBEAT` seconds; a step reads it
at its start and at its epoch boundaries (:mod:`hpo_kit.engine.worker.context`). State rather than messages: a write that is lost is
superseded by the next one, a worker that was busy or slow reads the latest state when it
next looks, and nothing needs an acknowledgement. ``Client.run`` carries no work or control.

The record (msgpack-friendly: string keys, lists)::

    hb       a counter the driver bumps every HEARTBEAT s: a worker that sees it frozen for
             LEASE s takes the run as ended (a driver killed without a word)
    paused   steps that start now return unstarted
    ended    the run is over: no step of it starts another epoch (a step's start reads a record asked
             at most FENCE s before it; pause and end wait FENCE s after their write)
    floor    steps with a sequence number <= floor are fenced, except those in ``keep``
    keep     the sequence numbers <= floor still in flight
    stops    {seq: reason}: stop that step at its next epoch boundary
    answers  {"seq:epoch": budget, or -1 to end the step}: a rung answer for a step that waits
    cutoffs  {seq: {rung: [key to beat, or null; next budget]}}: current rung cut-offs of a
             step that decides alone at its rungs (:mod:`hpo_kit.engine.cutoff`)
    release  trial ids to release where they are kept waiting at a rung

Bounded: ``stops``, ``answers`` and ``cutoffs`` hold only steps in flight (dropped as they settle),
``keep`` at most the steps in flight, ``release`` entries expire after :data:`RELEASE_TTL` s.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .. import faults

log = logging.getLogger(__name__)

HEARTBEAT = 2.0  # seconds between the driver's rewrites of the record, changed or not
WRITE_GAP = 0.05  # seconds between two writes at least: a burst of changes is one write
LEASE = 60.0  # seconds of a frozen heartbeat after which a worker takes the run as ended
FENCE = 0.05  # seconds: a step starts on a read asked at most this long ago; a pause or the end waits it out
RELEASE_TTL = 30.0  # seconds a release request stays in the record (kept-trial pollers read every 0.5 s)


def variable_name(run_id: str) -> str:
    return f"hpo-kit-ctl-{run_id}"


class Control:
    """The driver's side: the run's control record and its writes (thread-safe).

    Parameters
    ----------
    client
        The study's Dask client.
    run_id
        The run (one ``Study.run``/``start``, or a resume) whose steps read this record.
    """

    def __init__(self, client: Any, run_id: str) -> None:
        from distributed import Variable

        self.run_id = run_id
        self._var = Variable(variable_name(run_id), client=client)
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"hb": 0, "paused": False, "ended": False, "floor": 0, "keep": [],
                                       "stops": {}, "answers": {}, "cutoffs": {}, "release": []}
        self._release_at: dict[int, float] = {}
        self._dirty = True
        self._closed = threading.Event()
        self._wake = threading.Event()
        self.push()
        self._writer = threading.Thread(target=self._write_loop, name="hpo-kit-control", daemon=True)
        self._writer.start()

    # -- changes (any thread); written by the next push ----------------------------------------
    def stop(self, seq: int, reason: str) -> None:
        self._change(lambda s: s["stops"].__setitem__(str(seq), reason))

    def answer(self, seq: int, epoch: int, budget: int | None) -> None:
        self._change(lambda s: s["answers"].__setitem__(f"{seq}:{epoch}", -1 if budget is None else int(budget)))

    def cutoffs(self, seq: int, cutoffs: dict[int, tuple[Any, int]]) -> None:
        """Step ``seq``'s rung cut-offs as they stand now."""
        value = {str(r): [None if cut is None else list(cut), int(up)] for r, (cut, up) in cutoffs.items()}
        self._change(lambda s: s["cutoffs"].__setitem__(str(seq), value))

    def settled(self, seq: int) -> None:
        """The step left flight: its stop, answers and cut-offs are no longer needed."""
        def drop(s: dict[str, Any]) -> bool:
            mine = [k for k in s["answers"] if k.startswith(f"{seq}:")]
            for k in mine:
                del s["answers"][k]
            return bool(mine) | (s["stops"].pop(str(seq), None) is not None) \
                | (s["cutoffs"].pop(str(seq), None) is not None)
        self._change(drop)

    def pause(self, paused: bool) -> None:
        """Written at once (before the pause is journalled): no step starts after the journal says paused.

        Then :data:`FENCE` s pass: a step starts on a read of the record asked at most that long before
        (:meth:`~hpo_kit.engine.worker.context.StudyContext.fenced`), so one that starts after this returns
        asked after the write.
        """
        self._change(lambda s: s.__setitem__("paused", bool(paused)))
        self.push()
        if paused:
            time.sleep(FENCE)

    def release(self, trial_id: int) -> None:
        """Release the trial wherever it is kept waiting at a rung (a kill, a discard)."""
        with self._lock:
            self._release_at[int(trial_id)] = time.monotonic()
            self._dirty = True

    def fence(self, last_seq: int, live: list[int]) -> None:
        """Fence every step up to ``last_seq`` but the ``live`` ones (a reset, a superseded attempt)."""
        self._change(lambda s: s.update(floor=int(last_seq), keep=sorted(int(x) for x in live)))

    def end(self) -> float:
        """The run is over: written at once, retried once; the heartbeat stops.

        Returns when the write was made (``time.monotonic()``): the caller waits until :data:`FENCE` s
        after it (:meth:`settle`) if steps of the run may still start.
        """
        self._change(lambda s: s.update(ended=True, stops={}, answers={}, cutoffs={}))
        self._closed.set()
        self._wake.set()
        if not self.push():
            self.push(force=True)
        return time.monotonic()

    @staticmethod
    def settle(written: float) -> None:
        """Wait until :data:`FENCE` s after ``written``: a step that starts later has read that write."""
        time.sleep(max(0.0, written + FENCE - time.monotonic()))

    def _change(self, fn: Any) -> None:
        with self._lock:
            if fn(self._state) is not False:
                self._dirty = True

    def resend(self) -> None:
        """Have the writer thread write the whole record again (a new scheduler has none)."""
        with self._lock:
            self._dirty = True
        self._wake.set()

    def write_soon(self) -> None:
        """Have the writer thread write the record if it changed (the loop thread never waits on it)."""
        if self._dirty:
            self._wake.set()

    # -- writes --------------------------------------------------------------------------------
    def push(self, force: bool = False) -> bool:
        """Write the record if it changed (or ``force``); False if the write failed (the next one
        carries the same state)."""
        with self._lock:
            if not (self._dirty or force):
                return True
            now = time.monotonic()
            self._release_at = {t: at for t, at in self._release_at.items() if now - at < RELEASE_TTL}
            self._state["release"] = sorted(self._release_at)
            value = {**self._state, "stops": dict(self._state["stops"]), "answers": dict(self._state["answers"]),
                     "cutoffs": dict(self._state["cutoffs"])}
            self._dirty = False
        if faults.take("control"):
            with self._lock:
                self._dirty = True  # lost in transit: as if the scheduler never got it
            return False
        try:
            self._var.set(value)
            return True
        except Exception:  # noqa: BLE001 - a scheduler going away: the driver's own checks report it
            log.debug("control write for run %s failed", self.run_id, exc_info=True)
            with self._lock:
                self._dirty = True
            return False

    def _write_loop(self) -> None:
        while not self._closed.is_set():
            woken = self._wake.wait(HEARTBEAT)
            self._wake.clear()
            if self._closed.is_set():
                return
            if not woken:  # a quiet spell: the heartbeat, and whatever a failed write left unwritten
                with self._lock:
                    self._state["hb"] += 1
            self.push(force=not woken)
            self._closed.wait(WRITE_GAP)

    def close(self) -> None:
        self._closed.set()
        self._wake.set()

    @property
    def state(self) -> dict[str, Any]:
        """A copy of the record as last changed (tests, diagnostics)."""
        with self._lock:
            return {**self._state, "stops": dict(self._state["stops"]), "answers": dict(self._state["answers"])}
