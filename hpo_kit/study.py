"""The public face of hpo_kit: a :class:`Study` runs a search on a Dask cluster.

The study owns the trial records, the journal and the policy (optimizer), and is the
runner's :class:`~hpo_kit.engine.runner.Handler`: it turns suggestions into steps and
step results into observations. Every state change happens on the runner's loop
thread under ``self._lock``; public methods called from other threads (notebook
cells, widgets) post to the loop and, where they return data, take the lock.
"""
from __future__ import annotations

import math
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd

from .controller import Controller
from .engine.checkpoint import CheckpointStore, default_store
from .engine.journal import Journal
from .engine.runner import Runner
from .goal import Goal
from .monitor import Monitor
from .optimizers import ASHA, GridSearch, Optimizer, RandomSearch, TimeAwareBO
from .progress import Progress
from .results import trials_frame
from .resume import ResumeMixin
from .space import Space
from .trainable import Trainable
from .trial import Trial

_OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {"random": RandomSearch, "grid": GridSearch, "bo": TimeAwareBO,
                                                   "asha": ASHA}
SOURCES = ("user", "policy", "monitor")


class _hybrid:
    """``Study.resume(path)`` reloads a journal; ``study.resume()`` un-pauses a study."""

    def __init__(self, cls_fn: Callable, inst_fn: Callable) -> None:
        self.cls_fn, self.inst_fn = cls_fn, inst_fn

    def __get__(self, obj: Any, owner: type) -> Callable:
        if obj is None:
            return self.cls_fn.__get__(owner, owner)
        return self.inst_fn.__get__(obj, owner)


class Study(Controller, ResumeMixin):
    """A hyperparameter search.

    Parameters
    ----------
    objective
        ``objective(config, reporter)`` (function form) or a :class:`~hpo_kit.Trainable` subclass.
    space
        A :class:`~hpo_kit.Space` or a mapping of names to dimensions.
    metric, mode, score
        The goal (see :class:`~hpo_kit.Goal`); or pass ``goal=Goal(...)``.
    optimizer
        An :class:`~hpo_kit.optimizers.Optimizer`, or ``"random"``, ``"grid"``, ``"bo"`` (TimeAwareBO) or
        ``"asha"`` with their defaults.
    n_trials, time_budget, trial_timeout
        Budgets: trials to start, wall seconds for the study, wall seconds per step (a hung
        trial past it is FAILED and its worker restarted).
    max_epochs
        Epochs of a full trial (r_max); required for Trainable trials.
    cluster
        ``None`` (an embedded LocalCluster), a scheduler address, a ``Client`` or a cluster.
    n_workers
        Workers of the embedded LocalCluster (default: one per core).
    concurrency, prefetch
        Trials running at once (default: the cluster's threads) and steps queued ahead on
        workers to hide dispatch latency (default: 1 per running slot; 0 to disable).
    data
        A picklable zero-argument loader, called once per worker; ``reporter.data``.
    journal
        Path of the JSON-lines journal (default ``hpo-runs/<name>.jsonl``).
    checkpoints
        Checkpoint store URL (default: beside the journal).
    monitor, on_flag
        A diagnosis :class:`~hpo_kit.monitor.Monitor` and what a finding does:
        ``"stop"``, ``"flag"`` (the user decides) or ``"off"``.
    resources
        Dask resources per trial, e.g. ``{"GPU": 0.25}`` for four trials per GPU.
    max_retries
        Times a step lost with its worker is retried before the trial is FAILED.
    on_interrupted
        After a driver crash, RUNNING trials are ``"resume"``-d (from their checkpoint, or
        from scratch for function trials) or ``"fail"``-ed.
    """

    def __init__(self, objective: Any, space: Space | dict, metric: str = "loss", mode: str = "min",
                 score: str = "best", *, goal: Goal | None = None, optimizer: Optimizer | str = "random",
                 n_trials: int | None = None, time_budget: float | None = None,
                 trial_timeout: float | None = None, max_epochs: int | None = None, cluster: Any = None,
                 n_workers: int | None = None, concurrency: int | None = None, prefetch: int | None = None,
                 data: Callable[[], Any] | None = None, journal: str | os.PathLike | None = None,
                 checkpoints: str | CheckpointStore | None = None, monitor: Monitor | None = None,
                 on_flag: str = "stop", resources: dict[str, float] | None = None, max_retries: int = 3,
                 on_interrupted: str = "resume", name: str | None = None, checkpoint_every: int = 1) -> None:
        if not callable(objective):
            raise TypeError(f"objective={objective!r} must be a function or a Trainable subclass")
        self.objective = objective
        self.space = space if isinstance(space, Space) else Space(space)
        self.goal = goal or Goal(metric, mode, score)
        if isinstance(optimizer, str):
            if optimizer not in _OPTIMIZERS:
                raise ValueError(f"optimizer={optimizer!r}: choose one of {sorted(_OPTIMIZERS)} or pass an Optimizer")
            optimizer = _OPTIMIZERS[optimizer]()
        self.optimizer = optimizer
        for field, value in (("n_trials", n_trials), ("max_epochs", max_epochs), ("concurrency", concurrency),
                             ("n_workers", n_workers)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{field}={value!r} must be a positive integer")
        for field, value in (("time_budget", time_budget), ("trial_timeout", trial_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{field}={value!r} must be > 0 seconds")
        if prefetch is not None and prefetch < 0:
            raise ValueError(f"prefetch={prefetch!r} must be >= 0")
        if on_flag not in ("stop", "flag", "off"):
            raise ValueError(f"on_flag={on_flag!r} must be 'stop', 'flag' or 'off'")
        if on_interrupted not in ("resume", "fail"):
            raise ValueError(f"on_interrupted={on_interrupted!r} must be 'resume' or 'fail'")
        if isinstance(objective, type) and issubclass(objective, Trainable) and max_epochs is None:
            raise ValueError("max_epochs is required for a Trainable objective")
        self.n_trials, self.time_budget, self.trial_timeout = n_trials, time_budget, trial_timeout
        self.max_epochs, self.cluster, self.n_workers = max_epochs, cluster, n_workers
        self.concurrency, self.prefetch, self.data = concurrency, prefetch, data
        self.monitor, self.on_flag, self.resources = monitor, on_flag, resources
        self.max_retries, self.on_interrupted, self.checkpoint_every = max_retries, on_interrupted, checkpoint_every
        self.name = name or time.strftime("study-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
        self.journal_path = os.fspath(journal or os.path.join("hpo-runs", f"{self.name}.jsonl"))
        if isinstance(checkpoints, CheckpointStore):
            self.store = checkpoints
        else:
            self.store = CheckpointStore(checkpoints) if checkpoints else default_store(self.journal_path)
        self.trials: dict[int, Trial] = {}
        self.client: Any = None
        self.state = "created"
        self._lock = threading.RLock()
        self._journal: Journal | None = None
        self._runner: Runner | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._paused = False
        self._stopping = False
        self._requeue: list[int] = []
        self._in_flight: dict[int, str] = {}  # trial -> future key
        self._step_started: dict[int, float] = {}
        self._pending_stop: dict[int, tuple[str, str, bool]] = {}  # trial -> (source, reason, discard)
        self._retries: dict[int, int] = {}
        self._worst: float | None = None
        self._exhausted = False
        self._best_at, self._best_shown = -math.inf, None  # the progress bar's best (throttled)
        self._t0: float | None = None
        self._resumed: Any = None
        self._progress: Progress | None = None
        self.listeners: list[Callable[[dict], None]] = []  # journal records, for live views

    # -- running ----------------------------------------------------------------------------
    def run(self, progress: bool = True) -> "Study":
        """Run the study to the end in this thread, with a progress bar; returns the study."""
        self._open(progress)
        try:
            self._runner.run(self)
            self._settle_paused()
        finally:
            self._close()
        return self

    def start(self, progress: bool = False) -> "Study":
        """Start the study in a background thread and return at once (the kernel stays free)."""
        self._open(progress)

        def target() -> None:
            try:
                self._runner.run(self)
                self._settle_paused()
            except BaseException as exc:  # noqa: BLE001 - surfaced by wait()
                self._error = exc
                traceback.print_exc()
            finally:
                self._close()

        self._thread = threading.Thread(target=target, name=f"hpo-kit-{self.name}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background study ends; True if it ended. Re-raises a loop error."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self._error is not None:
            raise self._error
        return True

    def stop(self, wait: bool = True, reason: str = "study stopped") -> None:
        """End the study: start nothing more, kill running trials at their next epoch boundary."""
        if self._runner is None:
            return
        self._post(lambda: self._do_stop(reason))
        if wait:
            self.wait()

    # -- live control (any thread) ----------------------------------------------------------
    def pause(self, reason: str = "", source: str = "user") -> None:
        """Start no new trial or step (queued ones included); running steps finish."""
        self._post(lambda: self._do_pause(True, reason, source))

    def _unpause(self, reason: str = "", source: str = "user") -> None:
        """Resume a paused study."""
        self._post(lambda: self._do_pause(False, reason, source))

    def kill(self, trial_id: int, reason: str = "", discard: bool = False, source: str = "user") -> None:
        """Stop one trial at its next epoch boundary; it ends KILLED (STOPPED for policy/monitor).

        ``discard=True`` tells the optimizer nothing about it.
        """
        if source not in SOURCES:
            raise ValueError(f"source={source!r} must be one of {SOURCES}")
        with self._lock:
            if trial_id not in self.trials:
                raise KeyError(f"trial_id={trial_id!r}: no such trial")
        self._post(lambda: self._do_kill(trial_id, source, reason or f"killed by {source}", discard))

    def kill_flagged(self, reason: str = "flagged by diagnosis") -> list[int]:
        """Kill every live trial that a monitor flagged; returns their ids."""
        with self._lock:
            ids = [t.id for t in self.trials.values() if t.flags and not t.status.is_terminal]
        for tid in ids:
            self.kill(tid, reason=reason)
        return ids

    def set_concurrency(self, n: int, reason: str = "") -> None:
        """Change how many trials run at once."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"concurrency={n!r} must be a positive integer")
        self._post(lambda: self._control("concurrency", reason, "user", value=n, apply=lambda: setattr(
            self, "concurrency", n)))

    def tune(self, reason: str = "", source: str = "user", **params: Any) -> None:
        """Change optimizer parameters while the study runs (e.g. ``b=0.2``); journalled.

        Raises
        ------
        ValueError
            If the optimizer has no such live parameter (checked at once, in the caller).
        """
        self.optimizer.check_update(**params)
        self._post(lambda: self._control("tune", reason, source, value=params,
                                         apply=lambda: self.optimizer.update(**params)))

    def _post(self, fn: Callable[[], None]) -> None:
        if self._runner is not None and self.state in ("running", "paused"):
            self._runner.call_soon(fn)
        else:
            with self._lock:
                fn()

    # -- results ----------------------------------------------------------------------------
    @property
    def results(self) -> pd.DataFrame:
        """A DataFrame of trials (see :func:`hpo_kit.results.trials_frame`)."""
        with self._lock:
            return trials_frame(list(self.trials.values()), self.goal)

    @property
    def best_trial(self) -> Trial | None:
        """The trial with the best score (``None`` before any finite score)."""
        with self._lock:
            best = None
            for t in self.trials.values():
                if self.goal.better(t.score(self.goal), best.score(self.goal) if best else None):
                    best = t
            return best

    def best_model(self) -> Trainable:
        """The best trial's Trainable, set up and loaded with its latest checkpoint.

        Raises
        ------
        ValueError
            If the objective is not a Trainable or the best trial has no checkpoint.
        """
        best = self.best_trial
        if best is None:
            raise ValueError("best_model: no trial has a finite score yet")
        if not (isinstance(self.objective, type) and issubclass(self.objective, Trainable)):
            raise ValueError("best_model: needs a Trainable objective (function trials keep no weights)")
        from .engine.worker import load_data

        model = self.objective()
        model.setup(best.config, load_data(self.data))
        _, state = self.store.load(best.id)
        model.load_state_dict(state)
        return model

    @property
    def elapsed(self) -> float:
        return 0.0 if self._t0 is None else time.time() - self._t0

    def __repr__(self) -> str:
        return f"Study({self.name!r}, state={self.state}, trials={len(self.trials)})"

    resume = _hybrid(ResumeMixin._resume_from, _unpause)
