"""The loop half of :class:`~hpo_kit.study.Study`: suggestions become steps, results become observations.

All methods here run on the runner's loop thread (or under the study lock before the
loop starts). It is the only code that changes trial records, so the journal always
shows the same story as ``study.results``.
"""
from __future__ import annotations

import math
import os
import time
import traceback as tb
import uuid
from typing import TYPE_CHECKING, Any

import cloudpickle
from distributed import CancelledError

from .engine.cluster import connect, worker_count
from .engine.journal import Journal
from .engine.runner import Runner
from .engine.worker import StepResult, StepSpec
from .optimizers import Decision, Resume, Start
from .progress import Progress
from .trial import Trial, TrialStatus, observe

if TYPE_CHECKING:
    from .study import Study

_KILL_STATUS = {"user": TrialStatus.KILLED, "policy": TrialStatus.STOPPED, "monitor": TrialStatus.STOPPED}


class Controller:
    """Mixin holding the study's event handlers (see :class:`hpo_kit.engine.runner.Handler`)."""

    # -- life cycle -------------------------------------------------------------------------
    def _open(self: "Study", progress: bool) -> None:
        if self.state not in ("created",):
            raise RuntimeError(f"study {self.name!r} is {self.state}; create a new Study or use Study.resume(path)")
        if self._resumed is None and os.path.exists(self.journal_path) and os.path.getsize(self.journal_path) > 0:
            raise FileExistsError(f"journal={self.journal_path!r} already holds a study: continue it with "
                                  f"Study.resume(path) or give a new journal path")
        self._journal = Journal(self.journal_path)  # first: a locked journal must not start a cluster
        self.client, self._owned = connect(self.cluster, self.n_workers)
        slots = worker_count(self.client)
        self.concurrency = self.concurrency or slots
        self.prefetch = self.concurrency if self.prefetch is None else self.prefetch
        self.optimizer.setup(self.space, self.goal, self.max_epochs, self.concurrency)
        self._runner = Runner(self.client, uuid.uuid4().hex[:12])
        self._t0 = time.time()
        fresh = self._resumed is None
        if fresh:
            self._save_code()
            self._log("study_start", name=self.name, goal=vars(self.goal), space=self.space.to_dict(),
                      optimizer={"name": self.optimizer.name, **self.optimizer.params()},
                      settings={"n_trials": self.n_trials, "time_budget": self.time_budget,
                                "trial_timeout": self.trial_timeout, "max_epochs": self.max_epochs,
                                "concurrency": self.concurrency, "prefetch": self.prefetch,
                                "on_flag": self.on_flag, "resources": self.resources,
                                "checkpoints": self.store.url},
                      dashboard=getattr(self.client, "dashboard_link", None))
        else:
            self._restore(self._resumed)
        total = None if self.n_trials is None else self.n_trials - len(self.trials)
        self._progress = Progress(total, self.name, enabled=progress)
        self.state = "running"

    def _close(self: "Study") -> None:
        with self._lock:
            if self._journal is not None:
                self._log("study_end", state="stopped" if self._stopping else "finished",
                          n_trials=len(self.trials))
                self._journal.close()
            if self._progress is not None:
                self._progress.close()
            if self._runner is not None:
                self._runner.close()
            self.optimizer.close()
            for obj in self._owned:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - closing a dying cluster must not mask results
                    pass
            self.state = "stopped" if self._stopping else "finished"

    def _settle_paused(self: "Study") -> None:
        """At a natural end, end the trials still PAUSED: no policy will resume them now.

        A study stopped by the user or by its time budget keeps them PAUSED, so that
        ``Study.resume(path)`` can still promote them.
        """
        with self._lock:
            if self._stopping or self._time_spent():
                return
            for t in sorted(self.trials.values(), key=lambda t: t.id):
                if t.status is TrialStatus.PAUSED:
                    self._finish_step(t, TrialStatus.STOPPED, reason=f"paused at epoch {t.epochs}; "
                                      f"{self.optimizer.name} did not resume it before the study ended")

    def _save_code(self: "Study") -> None:
        # The objective and data loader are code, not JSON: keep them beside the journal so
        # Study.resume(path) needs nothing but the path (cloudpickle handles notebook functions).
        try:
            with open(self.journal_path + ".pkl", "wb") as f:
                cloudpickle.dump({"objective": self.objective, "data": self.data, "optimizer": self.optimizer,
                                  "monitor": self.monitor}, f)
        except Exception:  # noqa: BLE001 - resume then needs the objective passed again
            pass

    def _log(self: "Study", event: str, **fields: Any) -> None:
        record = self._journal.write(event, **fields)
        for listener in list(self.listeners):
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a broken view must not stop the study
                pass

    # -- Handler: deciding what runs ---------------------------------------------------------
    def fill(self: "Study", runner: Runner) -> None:
        with self._lock:
            if self._paused or self._stopping:
                return
            while runner.in_flight < self.concurrency + self.prefetch:
                if self._requeue:
                    self._submit(self.trials[self._requeue.pop(0)])
                    continue
                if self._time_spent():
                    return
                tid = len(self.trials)
                self.optimizer.may_start = self.n_trials is None or tid < self.n_trials
                suggestion = self.optimizer.suggest(tid)
                self._journal_policy_events()
                if suggestion is None or (isinstance(suggestion, Start) and not self.optimizer.may_start):
                    self._exhausted = True  # for now: a later result may allow a Resume
                    return
                self._exhausted = False
                if isinstance(suggestion, Start):
                    self._submit(self._new_trial(tid, suggestion))
                elif isinstance(suggestion, Resume):
                    t = self.trials[suggestion.trial_id]
                    if t.status is not TrialStatus.PAUSED:
                        raise RuntimeError(f"{self.optimizer.name}: Resume of trial {t.id} which is {t.status}")
                    t.status, t.budget = TrialStatus.PENDING, suggestion.budget
                    self._log("trial_resume", trial=t.id, budget=t.budget, info=suggestion.info)
                    self._submit(t)
                else:
                    raise TypeError(f"{self.optimizer.name}.suggest returned {suggestion!r}")

    def _time_spent(self: "Study") -> bool:
        return self.time_budget is not None and self.elapsed >= self.time_budget

    def finished(self: "Study") -> bool:
        with self._lock:
            if self._stopping or self._paused:
                return self._stopping
            if self._requeue:
                return False
            return self.optimizer.finished or self._exhausted or self._time_spent()

    def _new_trial(self: "Study", tid: int, s: Start) -> Trial:
        config = self.space.validate(s.config)
        budget = s.budget if s.budget is not None else self.max_epochs
        t = Trial(id=tid, config=config, budget=budget, parent=s.parent, created=time.time())
        self.trials[tid] = t
        self._log("trial_create", trial=tid, config=config, budget=budget, parent=s.parent, info=s.info)
        return t

    def _submit(self: "Study", t: Trial) -> None:
        spec = StepSpec(study=self._runner.study_id, trial_id=t.id, attempt=t.attempt, config=t.config,
                        objective=self.objective, budget=t.budget, parent=t.parent, store=self.store,
                        data=self.data, metric=self.goal.metric, checkpoint_every=self.checkpoint_every,
                        torch_threads=max(1, (os.cpu_count() or 1) // max(1, self.concurrency)))
        t.status = TrialStatus.PENDING
        self._in_flight[t.id] = self._runner.submit(spec, self.resources)

    # -- Handler: what comes back ------------------------------------------------------------
    def on_message(self: "Study", msg: dict[str, Any]) -> None:
        with self._lock:
            t = self.trials.get(msg.get("trial"))
            if t is None or t.status.is_terminal or msg.get("attempt", 0) != t.attempt:
                return
            if msg["kind"] == "start":
                self._mark_started(t, msg)
            elif msg["kind"] == "report":
                self._add_report(t, msg)

    def _mark_started(self: "Study", t: Trial, msg: dict[str, Any]) -> None:
        if t.id in self._step_started:  # Dask re-ran the step elsewhere after a worker died
            t.worker = msg.get("worker") or t.worker
            return
        t.status, t.worker = TrialStatus.RUNNING, msg.get("worker")
        t.started = t.started or msg["t"]
        self._step_started[t.id] = time.time()
        self._log("trial_start", trial=t.id, attempt=t.attempt, worker=t.worker, pid=msg.get("pid"))

    def _add_report(self: "Study", t: Trial, msg: dict[str, Any]) -> None:
        if msg["epoch"] <= t.epochs:  # a re-run from a checkpoint or a late stream: already recorded
            return
        if t.status is not TrialStatus.RUNNING:
            self._mark_started(t, {"worker": t.worker, "t": msg["t"]})
        report = {"epoch": msg["epoch"], "t": msg["t"], "metrics": msg["metrics"]}
        if "diag" in msg:
            report["diag"] = msg["diag"]
        t.reports.append(report)
        self._log("report", trial=t.id, **report)
        if t.id in self._pending_stop:
            return
        value = msg["metrics"].get(self.goal.metric)
        loss = self.goal.loss(value) if value is not None and math.isfinite(value) else None
        if self.optimizer.on_report(t.id, msg["epoch"], loss) is Decision.STOP:
            self._do_kill(t.id, "policy", f"{self.optimizer.name} stopped it at epoch {msg['epoch']}", False)
            return
        if self.monitor is not None and self.on_flag != "off":
            finding = self.monitor.check(t, self.trials, self.max_epochs)
            if finding is not None and all(f["indicator"] != finding.indicator for f in t.flags):
                t.flags.append(finding.to_dict())
                self._log("flag", trial=t.id, finding=finding.to_dict(), policy=self.on_flag)
                if self.on_flag == "stop":
                    self._do_kill(t.id, "monitor", f"{finding.indicator} at epoch {finding.epoch}", False)

    def on_done(self: "Study", spec: StepSpec, result: StepResult | BaseException) -> None:
        with self._lock:
            t = self.trials[spec.trial_id]
            self._in_flight.pop(t.id, None)
            self._step_started.pop(t.id, None)
            if t.status.is_terminal or spec.attempt != t.attempt:
                return  # already settled (timed out, killed while queued)
            if not isinstance(result, StepResult):
                self._step_lost(t, result)
                return
            for msg in result.reports:  # reconcile with the stream: nothing lost, nothing twice
                self._add_report(t, msg)
            t.worker = result.worker or t.worker
            t.busy += result.busy
            stop = self._pending_stop.pop(t.id, None)
            if result.outcome == "not_started":
                if stop is not None:
                    self._finish_step(t, _KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2])
                else:
                    t.status = TrialStatus.PENDING
                    self._requeue.append(t.id)
            elif result.outcome == "completed":
                self._finish_step(t, TrialStatus.COMPLETED)
            elif result.outcome == "budget" and stop is not None:  # a stop that came with the last epoch
                self._finish_step(t, _KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2])
            elif result.outcome == "budget":
                full = self.max_epochs is None or t.epochs >= self.max_epochs
                self._finish_step(t, TrialStatus.COMPLETED if full else TrialStatus.PAUSED)
            elif result.outcome == "stopped":
                source, reason, discard = stop or ("user", result.reason or "stopped", False)
                self._finish_step(t, _KILL_STATUS[source], reason=reason, discard=discard)
            else:
                self._finish_step(t, TrialStatus.FAILED, error=result.error, traceback=result.traceback)
            if stop is not None:
                self._runner.clear_stop(t.id)

    def _step_lost(self: "Study", t: Trial, exc: BaseException) -> None:
        stop = self._pending_stop.pop(t.id, None)
        if stop is not None or isinstance(exc, CancelledError):
            if stop is not None:
                self._finish_step(t, _KILL_STATUS[stop[0]], reason=stop[1], discard=stop[2])
            elif not self._stopping:
                t.status = TrialStatus.PENDING  # cancelled by a pause before it started
                self._requeue.append(t.id)
            return
        tries = self._retries[t.id] = self._retries.get(t.id, 0) + 1
        text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        if tries <= self.max_retries and _is_worker_loss(exc):
            t.attempt += 1
            self._log("trial_retry", trial=t.id, attempt=t.attempt, error=f"{type(exc).__name__}: {exc}")
            t.status = TrialStatus.PENDING
            self._requeue.append(t.id)
        else:
            self._finish_step(t, TrialStatus.FAILED, error=f"{type(exc).__name__}: {exc}", traceback=text)

    def _finish_step(self: "Study", t: Trial, status: TrialStatus, reason: str | None = None,
                     discard: bool = False, error: str | None = None, traceback: str | None = None) -> None:
        t.status, t.reason, t.discard = status, reason, discard
        t.error, t.traceback = error or t.error, traceback or t.traceback
        if status.is_terminal:
            t.ended = time.time()
        obs = observe(t, self.goal, self._worst)
        if obs.loss is not None and math.isfinite(obs.loss) and not obs.failed:
            self._worst = obs.loss if self._worst is None else max(self._worst, obs.loss)
        self.optimizer.on_result(obs)
        self._journal_policy_events()
        score = t.score(self.goal)
        self._log("trial_pause" if status is TrialStatus.PAUSED else "trial_end", trial=t.id, status=status.value,
                  score=score, told=obs.loss, epochs=t.epochs, busy=t.busy, reason=reason, discard=discard,
                  error=t.error, traceback=t.traceback)
        if status.is_terminal and self._progress is not None:
            self._progress.trial_ended(self._best_for_progress(), len(self._in_flight))

    def _best_for_progress(self: "Study") -> float | None:
        """The progress bar's best score; the scan over all trials runs at most every 0.5 s.

        ``best_trial`` is O(trials): called at every trial end it made a study O(trials^2)
        (2.3 ms per trial at 1,000 trials here, the largest cost in the driver loop).
        """
        now = time.monotonic()
        if now - self._best_at >= 0.5 or not self._in_flight:
            best = self.best_trial
            self._best_shown, self._best_at = (best.score(self.goal) if best else None), now
        return self._best_shown

    def on_tick(self: "Study") -> None:
        with self._lock:
            self._journal.sync()  # group commit: once per batch of events, before the next fill
            now = time.time()
            if self.time_budget is not None and self.elapsed >= self.time_budget and not self._stopping \
                    and self._in_flight:
                self._do_stop("time budget spent")
            if self.trial_timeout is None:
                return
            for tid, since in list(self._step_started.items()):
                if now - since > self.trial_timeout:
                    self._time_out(self.trials[tid])

    def _time_out(self: "Study", t: Trial) -> None:
        key = self._in_flight.pop(t.id, None)
        self._step_started.pop(t.id, None)
        self._pending_stop.pop(t.id, None)
        self._finish_step(t, TrialStatus.FAILED, error=f"TrialTimeout: step ran over trial_timeout="
                          f"{self.trial_timeout}s", reason="timeout")
        if key is not None:
            self._runner.cancel(key)
        if t.worker:  # the hung thread holds the worker: only a restart frees it
            self._runner.restart_worker(t.worker)

    # -- controls ----------------------------------------------------------------------------
    def _control(self: "Study", action: str, reason: str, source: str, value: Any = None,
                 apply: Any = None, **extra: Any) -> None:
        if apply is not None:
            apply()
        self._log("control", action=action, source=source, reason=reason, value=value, **extra)

    def _journal_policy_events(self: "Study") -> None:
        for event in self.optimizer.drain_events():
            action = event.pop("action")
            self._control(action, event.pop("reason", ""), "policy", value=event or None)

    def _do_kill(self: "Study", tid: int, source: str, reason: str, discard: bool) -> None:
        t = self.trials[tid]
        if t.status.is_terminal or tid in self._pending_stop:
            return
        self._control("kill", reason, source, trial=tid, discard=discard)
        if tid in self._in_flight:
            self._pending_stop[tid] = (source, reason, discard)
            self._runner.signal_stop(tid, reason)
            if t.status is not TrialStatus.RUNNING:
                self._runner.cancel(self._in_flight[tid])
        else:
            if tid in self._requeue:
                self._requeue.remove(tid)
            self._finish_step(t, _KILL_STATUS[source], reason=reason, discard=discard)

    def _do_pause(self: "Study", paused: bool, reason: str, source: str) -> None:
        if paused == self._paused or self.state not in ("running", "paused", "created"):
            return
        self._paused = paused
        if self._runner is not None:
            self._runner.set_paused(paused)
        if paused:
            for tid, key in list(self._in_flight.items()):
                if self.trials[tid].status is not TrialStatus.RUNNING:
                    self._runner.cancel(key)  # queued ahead: must not start while paused
        self.state = "paused" if paused else "running"
        self._control("pause" if paused else "resume", reason, source)

    def _do_stop(self: "Study", reason: str) -> None:
        if self._stopping:
            return
        self._control("stop", reason, "user")
        for tid in list(self._in_flight):
            self._do_kill(tid, "user", reason, False)
        for tid in list(self._requeue):
            self._do_kill(tid, "user", reason, False)
        self._stopping = True


def _is_worker_loss(exc: BaseException) -> bool:
    """A step lost with its worker (retried) rather than one that cannot run at all (FAILED).

    Trial errors never get here (``run_step`` records them); what does is Dask's own:
    workers that died under the step, lost connections, or a spec that cannot be unpickled.
    """
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"KilledWorker", "CommClosedError", "FutureCancelledError", "StreamClosedError"})
