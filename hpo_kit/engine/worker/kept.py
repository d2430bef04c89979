"""Trials paused at a rung, kept alive on their worker until a later step resumes them there.

A step of an in-step promoting scheduler (ASHA, Hyperband: ``StepSpec.top`` set) whose trial
must wait at a rung does not unwind. Its objective runs on a *trial thread* of its own; at
the rung the step ends (the Dask task returns its result, the worker slot is free), while the
trial thread waits inside ``reporter.report`` with the model, optimizer and data loaders
alive. When the driver resumes the trial it submits the step to the same worker (a loose
restriction: another worker takes it if this one is gone); the step hands the new budget to
the waiting thread and the trial goes on from the next epoch. No checkpoint is read, and a
function-form trial does not train again from scratch.

A thread rather than a saved state object because a function-form objective's state *is*
its frame (local variables, the loop), which nothing else can keep. The same thread keeps a
:class:`~hpo_kit.Trainable` alive, so both forms share one path; a Trainable still writes its
checkpoint at the rung, so a trial lost with its worker (or released) resumes from it.

Bounded: each worker process keeps at most ``StepSpec.keep`` waiting trials (the Study's
``keep_paused``), and fewer when the process uses over :data:`MEMORY_SHARE` of the worker's
memory limit (or of its GPU's); the one least likely to be promoted (lowest rung, worst rung
loss) is *released*: its thread unwinds, a Trainable's checkpoint remains.
A kill of the trial (the run's control record, read by the study's kept-trial poller), the
end of the study (:class:`~hpo_kit.engine.worker.context.StudyContext`) or a resume that finds the
trial at another epoch than the driver's release it too.
"""
from __future__ import annotations

import contextvars
import gc
import queue
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .reporter import Reporter
    from .step import StepSpec

MEMORY_SHARE = 0.6  # above this share of the worker's memory limit, a kept trial is released
HELD = "held"  # a step's outcome: it ended at a rung with its trial kept waiting on its thread



class TrialThread:
    """One trial's objective on a thread of its own, step after step.

    Parameters
    ----------
    reporter
        The trial's reporter; its ``hold`` becomes this thread's wait at a rung.
    body
        Runs the objective to its end and returns the step's outcome (``worker._execute``).
    """

    def __init__(self, reporter: "Reporter", body: Callable[["Reporter"], Any]) -> None:
        self.reporter = reporter
        reporter.hold = self._hold
        self._body = body
        self._ends: queue.SimpleQueue = queue.SimpleQueue()  # trial thread -> the step's task thread
        self._go: queue.SimpleQueue = queue.SimpleQueue()  # task thread -> trial thread: True resume, False release
        context = contextvars.copy_context()  # the task's: distributed.get_worker() works in the objective
        self._thread = threading.Thread(target=context.run, args=(self._main,), daemon=True,
                                        name=f"hpo-kit-trial-{reporter.trial_id}")

    @property
    def epoch(self) -> int:
        return self.reporter.epoch

    def first_step(self) -> Any:
        """Start the objective; block until this step ends (an outcome, or :data:`HELD`)."""
        self._thread.start()
        return self._ends.get()

    def next_step(self, spec: "StepSpec", emit: Callable[[dict], None]) -> Any:
        """Resume the waiting trial for ``spec``'s step; block until that step ends."""
        self.reporter.rebind(spec, emit)
        self._go.put(True)
        return self._ends.get()

    def release(self) -> None:
        """End the wait: the objective unwinds (``BudgetReached``) and the thread exits."""
        self._go.put(False)

    def _hold(self) -> bool:
        """At a rung, in the trial thread: end the step, wait; True once a new step resumes the trial."""
        self._ends.put(HELD)
        return bool(self._go.get())

    def _main(self) -> None:
        try:
            outcome = self._body(self.reporter)
        except BaseException as exc:  # noqa: BLE001 - _execute records the trial's errors; this is a last resort
            outcome = exc
        self.reporter.hold = None
        self._ends.put(outcome)


class KeptTrials:
    """The trials of one study kept waiting on this worker process (owned by its
    :class:`~hpo_kit.engine.worker.context.StudyContext`, dropped with it at the study's end)."""

    def __init__(self) -> None:
        self._kept: dict[int, TrialThread] = {}  # trial -> waiting, oldest first
        self._lock = threading.Lock()  # the kept-trial poller and task threads both change it

    def __len__(self) -> int:
        return len(self._kept)

    def ids(self) -> list[int]:
        """Trial ids kept waiting here."""
        with self._lock:
            return list(self._kept)

    def take(self, spec: "StepSpec") -> TrialThread | None:
        """The trial's kept thread if it waits at the epoch the driver holds (``spec.start``); else release it."""
        with self._lock:
            tt = self._kept.pop(spec.trial_id, None)
        if tt is None:
            return None
        if spec.start is not None and tt.epoch == spec.start:
            return tt
        tt.release()  # the driver's trial is elsewhere (e.g. it restarted from a checkpoint): this state is stale
        return None

    def keep(self, spec: "StepSpec", tt: TrialThread) -> bool:
        """Keep ``tt`` waiting; beyond the bound, release those least likely to be promoted. True if ``tt`` stays.

        Least likely: the lowest rung, then the worst rung loss (a rung's top ``1/eta`` is promoted
        first), then the oldest; ``tt`` itself may be the one released.
        """
        me = spec.trial_id
        high = _memory_high()  # /proc and the GPU are read outside the lock
        with self._lock:
            self._kept[me] = tt
            over = max(0, len(self._kept) - spec.keep) or int(high and len(self._kept) > 1)
            ranked = sorted(enumerate(self._kept), key=lambda ik: (*self._kept[ik[1]].reporter.held_at, -ik[0]))
            doomed = [k for _, k in ranked[len(ranked) - over:]] if over else []
            out = [self._kept.pop(k) for k in doomed]
        for old in out:
            old.release()
        return me not in doomed

    def release(self, trial_ids: Iterable[int]) -> int:
        """Release these trials' kept threads, where kept here (a kill); how many."""
        with self._lock:
            out = [self._kept.pop(t) for t in set(trial_ids) if t in self._kept]
        for tt in out:
            tt.release()
        if out:
            gc.collect()  # a kill must give the trial's memory back now, not at the next collection
        return len(out)

    def release_all(self) -> int:
        """Release every kept trial (the study's end); how many."""
        return self.release(self.ids())


def _memory_high() -> bool:
    """This worker process uses over :data:`MEMORY_SHARE` of its Dask memory limit, or of its GPU's."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        free, total = torch.cuda.mem_get_info()
        if total and total - free > MEMORY_SHARE * total:
            return True
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ValueError, AttributeError):  # not on a worker, or no memory manager
        return False
    if not limit:
        return False
    import psutil

    return psutil.Process().memory_info().rss > MEMORY_SHARE * limit
