"""The trial ledger: the one owner of every trial record and of its state machine.

Every status change of a study goes through a :class:`Ledger` method, which checks it
against :data:`hpo_kit.trial.TRANSITIONS` (an illegal change raises
:class:`IllegalTransition` instead of overwriting), applies the one told-loss rule
(:func:`hpo_kit.trial.observe`) when a step ends, and journals the event, in that order, so
``study.results`` and the journal always tell the same story. Policies, monitors, panels
and resume read the ledger (``ledger.trials``, a read-only mapping); none keeps a mirror.

The ledger works without a journal (``journal=None``: the simulator, tests) and is rebuilt
from one by :meth:`Ledger.restore` after a restart. New ids are ``max(id) + 1``, so a
journal with a lost line never hands out an id twice.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .goal import Goal
from .trial import TRANSITIONS, Observation, Trial, TrialStatus, observe


class IllegalTransition(RuntimeError):
    """A status change that the trial state machine forbids (a bug in the caller, never silent)."""


class Ledger:
    """Trial records, their transitions and the told-loss rule; journals every change.

    Parameters
    ----------
    goal
        The study's goal (for scores and told losses).
    journal
        Where events go (an object with ``write(event, **fields) -> dict``), or ``None``.
    listeners
        Callables that receive each journal record (live views); a failing one is ignored.
    clock
        Time stamps of records made without a journal (the simulator's virtual clock).
    """

    def __init__(self, goal: Goal, journal: Any = None, listeners: list[Callable[[dict], None]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.goal = goal
        self.journal = journal
        self.listeners = listeners if listeners is not None else []
        self.clock = clock
        self._trials: dict[int, Trial] = {}
        self.trials: Mapping[int, Trial] = MappingProxyType(self._trials)
        self._next = 0
        self.worst: float | None = None  # the worst finite loss told so far (the failure penalty)
        self.told: list[int] = []  # trial ids in the order their observations were made
        self.ends: list[tuple[int, TrialStatus, int, float]] = []  # every step end: (trial, status, epochs, busy)

    # -- reading ------------------------------------------------------------------------------------
    def __getitem__(self, trial_id: int) -> Trial:
        return self._trials[trial_id]

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._trials

    def __len__(self) -> int:
        return len(self._trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(list(self._trials.values()))

    def next_id(self) -> int:
        """The id a new trial gets: one past the largest id ever recorded (kept, not searched: O(1))."""
        return self._next

    def with_status(self, *statuses: TrialStatus) -> list[Trial]:
        return [t for t in self._trials.values() if t.status in statuses]

    # -- transitions -----------------------------------------------------------------------------------
    def _move(self, t: Trial, status: TrialStatus) -> None:
        if status not in TRANSITIONS[t.status]:
            raise IllegalTransition(f"trial {t.id}: {t.status.value} -> {status.value} is not a legal transition")
        t.status = status

    def create(self, config: dict[str, Any], budget: int | None, parent: int | None = None,
               info: dict[str, Any] | None = None) -> Trial:
        """Record a new PENDING trial under :meth:`next_id`."""
        tid = self.next_id()
        if parent is not None and parent not in self._trials:
            raise ValueError(f"Start: parent={parent!r} is no trial of this study")
        t = Trial(id=tid, config=config, budget=budget, parent=parent, created=self.clock(),
                  info=dict(info or {}))
        self._trials[tid] = t
        self._next = tid + 1
        self.log("trial_create", trial=tid, config=config, budget=budget, parent=parent, info=info or {})
        return t

    def start(self, trial_id: int, worker: str | None, pid: int | None = None, t: float | None = None) -> bool:
        """A step began on ``worker``: PENDING -> RUNNING. False (nothing changes) unless PENDING."""
        trial = self._trials[trial_id]
        if trial.status is TrialStatus.RUNNING:
            trial.worker = worker or trial.worker  # a re-run of the step elsewhere after a worker died
            return False
        if trial.status is not TrialStatus.PENDING:
            return False
        self._move(trial, TrialStatus.RUNNING)
        trial.worker = worker
        trial.started = trial.started or (t if t is not None else self.clock())
        self.log("trial_start", trial=trial_id, attempt=trial.attempt, worker=worker, pid=pid)
        return True

    def report(self, trial_id: int, report: dict[str, Any]) -> bool:
        """Record one epoch's report of a RUNNING trial; False for an epoch already recorded.

        Raises
        ------
        IllegalTransition
            If the trial is not RUNNING (a report must never revive a settled trial).
        """
        t = self._trials[trial_id]
        if report["epoch"] <= t.epochs:
            return False  # a re-run from a checkpoint, or the stream and the result both carried it
        if t.status is not TrialStatus.RUNNING:
            raise IllegalTransition(f"trial {trial_id}: report of epoch {report['epoch']} while {t.status.value}")
        t.reports.append(report)
        self.log("report", trial=trial_id, **report)
        return True

    def backfill(self, trial_id: int, report: dict[str, Any]) -> bool:
        """Record a report of an epoch below a RUNNING trial's last that its record lacks; False if it has it.

        A lost message leaves such a gap; a step resumed from a checkpoint resends what the store
        holds. It is journalled with ``backfill=True`` so a replay puts it in its place.
        """
        t = self._trials[trial_id]
        epoch = report["epoch"]
        if t.status is not TrialStatus.RUNNING or epoch >= t.epochs or any(r["epoch"] == epoch for r in t.reports):
            return False
        t.reports.insert(sum(1 for r in t.reports if r["epoch"] < epoch), report)
        self.log("report", trial=trial_id, **report, backfill=True)
        return True

    def resume(self, trial_id: int, budget: int, info: dict[str, Any] | None = None) -> Trial:
        """A scheduler resumes a PAUSED trial to ``budget`` epochs: PAUSED -> PENDING."""
        t = self._trials[trial_id]
        if t.status is not TrialStatus.PAUSED:
            raise IllegalTransition(f"Resume of trial {trial_id}, which is {t.status.value}, not PAUSED")
        if not isinstance(budget, int) or budget <= t.epochs:
            raise ValueError(f"Resume of trial {trial_id}: budget={budget!r} must exceed its {t.epochs} epochs")
        self._move(t, TrialStatus.PENDING)
        t.budget = budget
        self.log("trial_resume", trial=trial_id, budget=budget, info=info or {})
        return t

    def requeue(self, trial_id: int, retry: str | None = None) -> Trial:
        """Back to PENDING for a new step; a new attempt (journalled ``trial_retry``) when ``retry`` says why.

        Each requeue of a step that may have started is a new attempt, so a stale step of the
        old attempt can never write over the new one (its reports and checkpoints are refused).
        """
        t = self._trials[trial_id]
        self._move(t, TrialStatus.PENDING)
        t.attempt += 1
        if retry is not None:
            self.log("trial_retry", trial=trial_id, attempt=t.attempt, error=retry)
        return t

    def end_step(self, trial_id: int, status: TrialStatus, *, reason: str | None = None, discard: bool = False,
                 error: str | None = None, traceback: str | None = None, busy: float = 0.0) -> Observation:
        """A step ended with ``status`` (PAUSED or terminal): apply the told-loss rule and journal it.

        Returns the :class:`~hpo_kit.trial.Observation`; with ``discard=True`` its loss is
        ``None`` and the caller tells no policy.
        """
        t = self._trials[trial_id]
        if status in (TrialStatus.PENDING, TrialStatus.RUNNING):
            raise IllegalTransition(f"trial {trial_id}: a step cannot end {status.value}")
        self._move(t, status)
        t.reason, t.discard = reason, discard
        t.error, t.traceback = error or t.error, traceback or t.traceback
        t.busy += busy
        if status.is_terminal:
            t.ended = self.clock()
        obs = observe(t, self.goal, self.worst)
        if obs.loss is not None and math.isfinite(obs.loss) and not obs.failed:
            self.worst = obs.loss if self.worst is None else max(self.worst, obs.loss)
        if not discard:
            self.told.append(trial_id)
        self.ends.append((trial_id, status, t.epochs, t.busy))
        self.log("trial_pause" if status is TrialStatus.PAUSED else "trial_end", trial=trial_id,
                 status=status.value, score=t.score(self.goal), told=obs.loss, epochs=t.epochs, busy=t.busy,
                 reason=reason, discard=discard, error=t.error, traceback=t.traceback)
        return obs

    def add_busy(self, trial_id: int, seconds: float) -> None:
        """Training time of a step that ended after its trial's status was already settled (no event)."""
        self._trials[trial_id].busy += seconds

    def add_warmup(self, trial_id: int, seconds: float) -> None:
        """A step's worker warm-up (data loading, first imports; ``StepResult.setup``), kept apart from trial time.

        Journalled as ``trial_warmup`` (``seconds``: this step's share), so views draw it as its
        own segment and a replay adds it up again.
        """
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds <= 0.0:
            return  # nothing to show: a warm worker, or no measurement
        self._trials[trial_id].warmup += seconds
        self.log("trial_warmup", trial=trial_id, seconds=seconds)

    def flag(self, trial_id: int, finding: dict[str, Any], policy: str) -> bool:
        """Record a monitor's finding once per indicator; False if that indicator already flagged it."""
        t = self._trials[trial_id]
        if any(f["indicator"] == finding["indicator"] for f in t.flags):
            return False
        t.flags.append(finding)
        self.log("flag", trial=trial_id, finding=finding, policy=policy)
        return True

    def control(self, action: str, source: str, reason: str = "", value: Any = None, **extra: Any) -> None:
        """Journal an intervention (a user's, a policy's or a monitor's)."""
        self.log("control", action=action, source=source, reason=reason, value=value, **extra)

    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Journal one record and hand it to the listeners."""
        if self.journal is not None:
            record = self.journal.write(event, **fields)
        else:
            record = {"t": self.clock(), "event": event, **fields}
        for listener in list(self.listeners):
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a broken view must not stop the study
                pass
        return record

    def dump(self, path: str, **start: Any) -> None:
        """Write every trial as a new journal at ``path`` (``start``: the ``study_start`` fields).

        For a study whose journal was lost or could not be written: the records in memory
        become a journal that ``Study.resume`` and ``read_journal`` accept.
        """
        from .engine.journal import Journal

        with Journal(path) as j:
            j.write("study_start", **{"settings": {}, **start}, saved=True)
            for t in sorted(self._trials.values(), key=lambda t: t.id):
                j.write("trial_create", t=t.created, trial=t.id, config=t.config, budget=t.budget, parent=t.parent,
                        info=t.info)
                if t.started is not None:
                    j.write("trial_start", t=t.started, trial=t.id, attempt=t.attempt, worker=t.worker, pid=None)
                if t.warmup:
                    j.write("trial_warmup", t=t.started or t.created, trial=t.id, seconds=t.warmup)
                for r in t.reports:
                    j.write("report", trial=t.id, **r)
                for f in t.flags:
                    j.write("flag", trial=t.id, finding=f, policy="saved")
                if t.status is TrialStatus.PAUSED or t.status.is_terminal:
                    j.write("trial_pause" if t.status is TrialStatus.PAUSED else "trial_end",
                            t=t.ended or self.clock(), trial=t.id, status=t.status.value, score=t.score(self.goal),
                            told=None, epochs=t.epochs, busy=t.busy, reason=t.reason, discard=t.discard,
                            error=t.error, traceback=t.traceback)
            j.write("study_end", state="saved", n_trials=len(self._trials))

    # -- restart -----------------------------------------------------------------------------------------
    def restore(self, trials: Mapping[int, Trial],
                ends: list[tuple[int, TrialStatus, int, float]]) -> list[Observation]:
        """Adopt a replayed journal's trials; returns the observations in their told order.

        ``ends`` lists each step end as ``(trial, status, epochs, busy)``: every observation is
        rebuilt as it was made (the trial's history up to that end, its status then), and the
        failure penalty as it evolved, so a restored policy is told exactly what the first was.
        """
        self._trials.clear()
        self._trials.update(trials)
        self._next = max(self._trials) + 1 if self._trials else 0
        self.worst, self.told, self.ends, obs = None, [], list(ends), []
        for tid, status, epochs, busy in ends:
            t = self._trials[tid]
            if t.discard and status.is_terminal:
                continue
            then = dataclasses.replace(t, status=status, busy=busy,
                                       reports=[r for r in t.reports if r["epoch"] <= epochs])
            o = observe(then, self.goal, self.worst)
            if o.loss is not None and math.isfinite(o.loss) and not o.failed:
                self.worst = o.loss if self.worst is None else max(self.worst, o.loss)
            self.told.append(tid)
            obs.append(o)
        return obs
