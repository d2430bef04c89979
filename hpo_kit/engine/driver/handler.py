"""The loop's handler: suggestions become steps, step results become observations.

A :class:`Driver` is the :class:`~hpo_kit.engine.driver.runner.Handler` of one running study. It
runs on the runner's loop thread only, and changes trial state only through the
:class:`~hpo_kit.ledger.Ledger` and step state only through the
:class:`~hpo_kit.engine.driver.steps.StepTable`; it keeps neither itself. Controls reach it through
``Runner.call_soon`` after the study has validated them in the caller's thread.

Rules kept here:

* Concurrency means running trials: steps in flight (queued or running) never exceed
  ``concurrency``; ``prefetch`` steps more are queued only when the cluster has no more
  threads than ``concurrency``, so a queued step cannot start beside them.
* A step ends once: reports carried by a step's result are reconciled *before* the step
  is settled, so a STOP decided during reconciliation becomes the step's outcome (a
  report can never revive a settled trial: the ledger refuses it).
* A kill with ``discard=True`` tells no policy; every other end is told once.
* A pause gates the workers (a step that starts while paused returns unstarted and is
  requeued as a new attempt); steps already running finish. A paused study holds no worker.
* A stop ends the study within ``STOP_GRACE`` s (:mod:`hpo_kit.engine.driver.stopping`).
* The first ``fail_fast`` trials failing with one error stop it (:mod:`hpo_kit.engine.driver.failfast`).
"""
from __future__ import annotations

import math
import os
import pickle
import time
from typing import Any

from ...callbacks import trial_ended
from ...decisions import Decision, Resume, Start
from .runner import Runner
from ..shipping import Shipper
from .steps import Step
from ..worker.step import StepResult, StepSpec
from ...errors import MetricNotReported, SchedulerLost, not_serializable  # noqa: F401 - re-exported for callers
from ...ledger import Ledger
from ..longtext import clip
from .promotion import RungPromotion
from .recovery import KILL_STATUS, Recovery, _text
from .controls import LiveControls
from .plans import Plans
from .restart import SchedulerWatch
from .stopping import Stopping
from .failfast import FailFast
from ...trial import Trial, TrialStatus


WARMUP_SHOWN = 0.05  # seconds of a step's warm-up worth a journal record (a warm worker's cache hit is not)


class Driver(LiveControls, RungPromotion, Recovery, Stopping, Plans, FailFast):
    """Drives one study's policy, monitor and steps on a :class:`Runner` (see the module docstring)."""

    def __init__(self, study: Any, ledger: Ledger, runner: Runner, slots: int) -> None:
        self.study, self.ledger, self.runner = study, ledger, runner
        self.steps = runner.steps
        self.policy, self.goal = study.optimizer, study.goal
        self.slots = slots
        self.paused = False
        self.stopping = False
        self.exhausted = False
        self.metric_seen = any(t.values(self.goal.metric) for t in ledger)
        self._reconciling = False
        self._lost_since: float | None = None
        self._disk_full: list[int] = []  # trials FAILED in a row by a full disk (Recovery._count_disk_full)
        self._stop_deadline: float | None = None
        self._best_at, self._best_shown, self._progress_at = -math.inf, None, -math.inf
        self._settling = False  # settle_paused is ending the paused trials one after another
        self._rungs_changed = False  # a result was told since the steps' cut-offs were last written
        self.shipper = Shipper()  # the objective and data loader pickled once for this run
        self._init_plans()
        self.policy.known = study.known  # enqueued configurations go first (hpo_kit.known)
        self.watch = SchedulerWatch(runner, ledger.log, study.resources)  # a scheduler restarted empty

    # -- deciding what runs ---------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Steps that may be in flight: ``concurrency``, plus ``prefetch`` where they cannot run beside them."""
        c = self.study.concurrency
        return c + (self.study.prefetch if self.slots <= c else 0)

    def fill(self, runner: Runner) -> None:
        self._check_rules()  # after each batch of ends, before anything new starts
        if self.promotes_in_step:
            self._publish_cutoffs()
        if self.paused or self.stopping:
            return
        s = self.study
        while len(self.steps) < self.capacity:
            tid = self.steps.pop_queued()
            if tid is not None:
                self._submit(self.ledger[tid])
                continue
            if s.time_spent():
                return
            tid = self.ledger.next_id()
            self.policy.may_start = s.n_trials is None or len(self.ledger) < s.n_trials
            suggestion = self.policy.suggest(tid)
            self._journal_policy_events()
            if suggestion is None or (isinstance(suggestion, Start) and not self.policy.may_start):
                self.exhausted = True  # for now: a later result may allow a Resume
                return
            self.exhausted = False
            if isinstance(suggestion, Start):
                budget = suggestion.budget if suggestion.budget is not None else s.max_epochs
                t = self.ledger.create(s.space.validate(suggestion.config), budget, suggestion.parent,
                                       suggestion.info)
                self._took(t)
            elif isinstance(suggestion, Resume):
                t = self.ledger.resume(suggestion.trial_id, suggestion.budget, suggestion.info)
                step = self.steps.of(t.id)
                if step is not None and step.draining:  # its last step is still ending on its worker
                    self.steps.after_drain.add(t.id)  # submitted after it
                    continue
            else:
                raise TypeError(f"{self.policy.name}.suggest returned {suggestion!r}")
            self._submit(t)

    def finished(self) -> bool:
        if self.stopping or self.paused:
            return self.stopping
        if self.steps.queued:
            return False
        done = self.policy.finished and not self._known_waiting()  # enqueued ones run even after a grid
        return done or self.exhausted or self.study.time_spent()

    def _submit(self, t: Trial) -> None:
        s = self.study
        top = self.policy.top_epochs or s.max_epochs
        in_step = self.promotes_in_step and t.budget is not None and top is not None and t.budget < top
        seq, key = self.steps.next_key(t.id)
        shipped = self.shipper.prepare(s.objective, s.data)  # the user's modules packed by value (engine.usercode)
        if shipped:
            self.ledger.log("code_shipped", modules=shipped)
        spec = StepSpec(study=self.runner.study_id, trial_id=t.id, attempt=t.attempt, config=t.config,
                        objective=s.objective, budget=t.budget, parent=t.parent, store=s.store, data=s.data,
                        metric=self.goal.metric, checkpoint_every=s.checkpoint_every,
                        torch_threads=max(1, (os.cpu_count() or 1) // max(1, s.concurrency)),
                        top=top if in_step else None, rule=self._rung_rule(t) if in_step else None,
                        keep=s.keep_paused if in_step else 0, start=t.epochs, ship=self.shipper, seq=seq,
                        parent_config=self.ledger[t.parent].config if t.parent in self.ledger else None,
                        gaps=_gaps(t) if isinstance(s.objective, type) else ())
        host = self.steps.kept_on.pop(t.id, None)  # its trial waits there, alive (engine.kept): resume it there
        try:
            fut = self.runner.submit(key, spec, s.resources, near=host)
        except (TypeError, pickle.PicklingError) as exc:  # Dask serialises at submit: the trial fails, named
            self.steps.unqueue(t.id)
            self._end(t, TrialStatus.FAILED, error=_text(not_serializable(f"trial {t.id}'s step", exc)))
            return
        self.steps.hand(seq, key, t.id, t.attempt, spec, fut, in_step=in_step, near=host)

    def _requeue(self, t: Trial, retry: str | None = None) -> None:
        """The trial needs a new step (a new attempt): PENDING in the ledger, QUEUED in the step table."""
        self.ledger.requeue(t.id, retry=retry)
        self.steps.queue(t.id)

    # -- what comes back --------------------------------------------------------------------------
    def on_message(self, step: Step, msg: dict[str, Any]) -> None:
        t = self.ledger.trials.get(step.trial_id)
        if t is None or t.status.is_terminal or step.attempt != t.attempt or step.draining:
            return  # a stale step's message (an older attempt), or past the rung its trial paused at
        if msg["kind"] == "start":
            if t.status is TrialStatus.RUNNING and msg.get("worker") != t.worker:
                self._dask_rerun(t, step, msg.get("worker"))
            else:
                self._begin(t, step, msg.get("worker"), msg.get("pid"), msg.get("t"))
        elif msg["kind"] in ("report", "ready"):  # a report also says the warm-up is over (a lost "ready")
            self.steps.ready(step)
            if msg["kind"] == "report":
                self._add_report(t, step, msg)

    def _begin(self, t: Trial, step: Step, worker: str | None, pid: int | None, when: float | None) -> None:
        """The trial's step runs (its start message, or a result that arrived first: engine.outbox)."""
        if self.ledger.start(t.id, worker, pid, when):
            self.steps.start(step, worker, when)

    def _add_report(self, t: Trial, step: Step, msg: dict[str, Any]) -> None:
        if step.draining:
            return  # past the rung its trial paused at (a promotion the driver refused)
        if t.status is TrialStatus.PENDING:
            self._begin(t, step, t.worker, None, msg["t"])
        report = {"epoch": msg["epoch"], "t": msg["t"], "metrics": msg["metrics"]}
        for extra in ("constraints", "diag"):
            if extra in msg:
                report[extra] = msg[extra]
        if msg.get("backfill"):  # history the journal lost: recorded, never decided on again
            self.ledger.backfill(t.id, report)
            return
        if not self.ledger.report(t.id, report):
            return
        value = msg["metrics"].get(self.goal.metric)
        self.metric_seen = self.metric_seen or value is not None
        if step.stop is not None:
            return
        loss = self.goal.loss(value) if value is not None and math.isfinite(value) else None
        if self.policy.on_report(t.id, msg["epoch"], loss) is Decision.STOP:
            self.request_stop(t.id, "policy", f"{self.policy.name} stopped it at epoch {msg['epoch']}", False)
            return
        s = self.study
        if s.monitor is not None and s.on_flag != "off":
            finding = s.monitor.check(t, self.ledger.trials, s.max_epochs)
            if finding is not None and self.ledger.flag(t.id, finding.to_dict(), s.on_flag) and s.on_flag == "stop":
                self.request_stop(t.id, "monitor", f"{finding.indicator} at epoch {finding.epoch}", False)
                return
        top = self.policy.top_epochs or s.max_epochs
        if step.in_step and msg["epoch"] == t.budget and t.budget < top \
                and (not self._reconciling or "decided" in msg):  # a step's own decision is followed always
            self._at_rung(t, step, msg)

    def on_done(self, step: Step, result: StepResult | BaseException) -> None:
        t = self.ledger[step.trial_id]
        if step.attempt != t.attempt or t.status.is_terminal:
            self._leave(step)  # an older attempt, or a trial ended meanwhile: nothing of it counts
            return
        # A draining step's reports end at the rung the ledger has: reconciling them could only restart
        # its trial if a Resume made it PENDING meanwhile (it then stayed RUNNING with no step: a hung study).
        if isinstance(result, StepResult) and not step.draining:
            if t.status is TrialStatus.PENDING and result.outcome != "not_started":
                self._begin(t, step, result.worker, result.pid, result.started)  # its start was held (outbox)
            self._reconciling = True  # stop decisions now become this step's outcome
            try:
                for msg in result.reports:  # nothing lost, nothing twice
                    self._add_report(t, step, msg)
            finally:
                self._reconciling = False
        self._leave(step)
        if isinstance(result, StepResult):
            if result.setup >= WARMUP_SHOWN:
                self.ledger.add_warmup(t.id, result.setup)
            if result.kept and result.worker:
                self.steps.kept_on[t.id] = result.worker
        if step.draining:  # its trial paused at a rung already: the step's end adds only time
            self._drained(t, step, result)
            return
        stop = step.stop
        if not isinstance(result, StepResult):
            self._step_lost(t, result, stop)
            return
        if result.worker:
            t.worker = result.worker
        if result.outcome == "not_started":
            if stop is not None:
                self._end(t, KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2])
            else:
                self._requeue(t)
            return
        busy = max(0.0, result.busy - step.counted)
        if stop is not None:  # a stop decided by now wins over how the step ended
            self._end(t, KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2], busy=busy)
        elif result.outcome == "budget" and t.budget is not None and t.epochs < t.budget:
            self._requeue(t)  # promoted in the step after the worker stopped waiting: a new step
            self.ledger.add_busy(t.id, busy)
        elif result.outcome == "budget":
            top = self.policy.top_epochs or self.study.max_epochs
            full = top is None or t.epochs >= top
            self._end(t, TrialStatus.COMPLETED if full else TrialStatus.PAUSED, busy=busy)
        elif result.outcome == "completed":
            self._end(t, TrialStatus.COMPLETED, busy=busy)
        elif result.outcome == "stopped":
            self._end(t, TrialStatus.KILLED, reason=result.reason or "stopped", busy=busy)
        else:
            self._end(t, TrialStatus.FAILED, error=result.error, traceback=result.traceback, busy=busy)
        self._count_disk_full(t, result)  # a full disk fails the study, not trial after trial
        if result.reports and not self.metric_seen:
            keys = sorted({clip(k, 200, "a name this long is cut") for m in result.reports for k in m["metrics"]})
            raise MetricNotReported(f"metric={self.goal.metric!r} is in none of the reports; trial {t.id} "
                                    f"reported {keys}: check the metric's name")

    def _leave(self, step: Step) -> None:
        """The step leaves flight: ENDED in the table, its control entries dropped."""
        self.steps.end(step)
        self.runner.settled(step)

    def _end(self, t: Trial, status: TrialStatus, **kw: Any) -> None:
        obs = self.ledger.end_step(t.id, status, **kw)
        self._rungs_changed = True
        if not kw.get("discard"):  # a discarded trial is as if never told
            self.policy.on_result(obs)
            self._journal_policy_events()
        elif self.ledger.told.count(t.id):
            self.policy.forget(t.id)  # told at earlier rungs: drop those too
        self._check_fail_fast()
        progress, now = self.study._progress, time.monotonic()
        if progress is not None and (now - self._progress_at >= 0.25 or not (len(self.steps) or self._settling)):
            self._progress_at = now  # the bar reads the ledger: at most four times a second
            progress.step_ended(self._best_for_progress(), len(self.steps.running()))  # running, not queued
        if status.is_terminal:
            trial_ended(self.study, t)  # its log line and the study's callbacks, after the journal has the end

    def _best_for_progress(self) -> float | None:
        """The progress bar's best score; the O(trials) scan runs at most every 0.5 s."""
        now = time.monotonic()
        if now - self._best_at >= 0.5 or not (len(self.steps) or self._settling):
            best = self.study.best_trial
            self._best_shown, self._best_at = (best.score(self.goal) if best else None), now
        return self._best_shown

    def on_tick(self) -> None:
        self.study._journal.sync()  # group commit: once per batch of events, before the next fill
        self._check_client()
        s = self.study
        if s.time_spent() and not self.stopping and (len(self.steps) or self.steps.queued):
            self.stop("time budget spent", "policy")  # policy stops: the trials end STOPPED, not KILLED
        if self._stop_deadline is not None and len(self.steps) and time.monotonic() > self._stop_deadline:
            self._force_end()
        self._check_timeouts()


def _gaps(t: Trial) -> tuple[int, ...]:
    """Epochs below the last one that the record of a Trainable trial (one report per epoch) lacks."""
    have = {r["epoch"] for r in t.reports}
    return tuple(e for e in range(1, t.epochs) if e not in have)
