"""The step table: the one owner of step state, as the ledger is the owner of trial state.

A *step* trains one attempt of one trial up to an epoch budget, as one Dask task. Its life:

    QUEUED ──hand──▶ HANDED ──start──▶ RUNNING ──end──▶ ENDED
       ▲                │                              (removed)
       └────requeue─────┘ (a step that never ran: cancelled, gated by a pause, lost unstarted)

QUEUED: the driver decided the trial needs a step (a requeue, a retry) but has not handed it
to Dask yet. HANDED: submitted (``client.submit``); its future lives here. RUNNING: its worker
said it started. ENDED: its outcome was settled once (its result, its loss, a time-out, or the
study's end), and the record is dropped, so the table holds only what is in flight.

Every transition is checked (:class:`IllegalStep`); the driver, the runner, promotion and
recovery read the table and change it only through its methods. Per trial it also keeps what
outlives one step: retries used, losses of steps that never ran, the worker that keeps the
trial alive at a rung (:mod:`.kept`). Each step has a sequence number unique within its run:
the worker fences a step by it (:mod:`.control`), so a step of a superseded attempt cannot
train on beside its successor.
"""
from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class StepState(enum.Enum):
    QUEUED = "queued"
    HANDED = "handed"
    RUNNING = "running"
    ENDED = "ended"


class IllegalStep(RuntimeError):
    """A step transition the life cycle does not allow (a bug in the caller, never a user error)."""


@dataclass
class Step:
    """One step in flight (see the module docstring)."""

    seq: int
    key: str
    trial_id: int
    attempt: int
    state: StepState
    spec: Any = None
    future: Any = None
    worker: str | None = None
    near: str | None = None  # the worker that keeps its trial alive, where it was sent
    handed: float = 0.0  # time.time() of the hand-over
    started: float | None = None  # time.time() the driver saw it start (warmup_timeout counts from here)
    ready: float | None = None  # time.time() the driver heard its warm-up end (trial_timeout counts from here)
    in_step: bool = False  # it may go on past its budget within the step (hpo_kit.engine.driver.promotion)
    draining: bool = False  # its trial paused at a rung; the step is still ending on its worker
    stop: tuple[str, str, bool] | None = None  # (source, reason, discard) of a stop not yet settled
    counted: float = 0.0  # busy seconds of this step already told (rung segments)
    cutoffs: Any = None  # the rung cut-offs last written for it into the run's control record
    seg_t0: float | None = None  # worker time the current segment began


class StepTable:
    """Steps in flight and the trials waiting for one (see the module docstring)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._seq = 0
        self._steps: dict[str, Step] = {}
        self._by_trial: dict[int, str] = {}
        self._queued: list[int] = []
        self.retries: dict[int, int] = {}
        self.unstarted: dict[int, int] = {}
        self.kept_on: dict[int, str] = {}
        self.after_drain: set[int] = set()

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        """Steps handed to Dask and not yet ended."""
        return len(self._steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(list(self._steps.values()))

    def __contains__(self, trial_id: object) -> bool:
        """Whether the trial has a step in flight."""
        return trial_id in self._by_trial

    def get(self, key: str) -> Step | None:
        return self._steps.get(key)

    def of(self, trial_id: int) -> Step | None:
        """The trial's step in flight, if any."""
        key = self._by_trial.get(trial_id)
        return None if key is None else self._steps[key]

    @property
    def queued(self) -> list[int]:
        """Trials waiting for a step, in order."""
        return list(self._queued)

    def running(self) -> list[Step]:
        return [s for s in self._steps.values() if s.state is StepState.RUNNING]

    def seqs(self) -> list[int]:
        """Sequence numbers of the steps in flight (what the workers may still run)."""
        return [s.seq for s in self._steps.values()]

    @property
    def last_seq(self) -> int:
        return self._seq

    # -- transitions -----------------------------------------------------------------------
    def queue(self, trial_id: int) -> None:
        """The trial needs a (new) step: QUEUED."""
        if trial_id in self._by_trial:
            raise IllegalStep(f"trial {trial_id} is queued while its step {self._by_trial[trial_id]} is in flight")
        if trial_id not in self._queued:
            self._queued.append(trial_id)

    def unqueue(self, trial_id: int) -> bool:
        """Drop a queued trial (killed before its step was handed); True if it was queued."""
        if trial_id in self._queued:
            self._queued.remove(trial_id)
            return True
        return False

    def pop_queued(self) -> int | None:
        return self._queued.pop(0) if self._queued else None

    def next_key(self, trial_id: int) -> tuple[int, str]:
        """A new step's sequence number and Dask key (never reused: a resumed trial's step must
        never hit its previous step's result)."""
        self._seq += 1
        return self._seq, f"hpo-step-{self.run_id}-{trial_id}-{self._seq}"

    def hand(self, seq: int, key: str, trial_id: int, attempt: int, spec: Any, future: Any,
             in_step: bool = False, near: str | None = None) -> Step:
        """A step was submitted to Dask: HANDED."""
        if trial_id in self._by_trial:
            raise IllegalStep(f"trial {trial_id} already has step {self._by_trial[trial_id]} in flight")
        if trial_id in self._queued:
            self._queued.remove(trial_id)
        step = Step(seq, key, trial_id, attempt, StepState.HANDED, spec=spec, future=future, near=near,
                    handed=time.time(), in_step=in_step)
        self._steps[key] = step
        self._by_trial[trial_id] = key
        return step

    def start(self, step: Step, worker: str | None, when: float | None = None) -> None:
        """Its worker said it started: RUNNING (again, after an in-step promotion: a new segment)."""
        if step.state not in (StepState.HANDED, StepState.RUNNING):
            raise IllegalStep(f"step {step.key} cannot start from {step.state.value}")
        step.state = StepState.RUNNING
        step.worker = worker or step.worker
        step.started = time.time()
        step.seg_t0 = when or step.started

    def rerun(self, step: Step, worker: str | None) -> None:
        """Dask re-ran the step on ``worker`` (its first worker died): its warm-up starts again there."""
        if step.state is StepState.RUNNING:
            step.worker, step.started, step.ready = worker or step.worker, time.time(), None

    def ready(self, step: Step) -> None:
        """Its worker said its warm-up is over: the trial's own work (and ``trial_timeout``) starts now."""
        if step.state is not StepState.ENDED and step.ready is None:
            step.ready = time.time()

    def end(self, step: Step) -> None:
        """The step's outcome is settled: ENDED, and it leaves the table."""
        if step.state is StepState.ENDED:
            raise IllegalStep(f"step {step.key} ended twice")
        step.state = StepState.ENDED
        del self._steps[step.key]
        if self._by_trial.get(step.trial_id) == step.key:
            del self._by_trial[step.trial_id]

    # -- per trial, across steps -----------------------------------------------------------
    def add_retry(self, trial_id: int) -> int:
        self.retries[trial_id] = self.retries.get(trial_id, 0) + 1
        return self.retries[trial_id]

    def add_unstarted(self, trial_id: int) -> int:
        self.unstarted[trial_id] = self.unstarted.get(trial_id, 0) + 1
        return self.unstarted[trial_id]
