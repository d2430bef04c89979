"""The public face of hpo_kit: a :class:`Study` runs a search on a Dask cluster.

Layers: the study validates what the user asks (in the caller's thread, before anything
changes), owns the :class:`~hpo_kit.ledger.Ledger` (the trial records), and while it runs
hands events to a :class:`~hpo_kit.engine.driver.handler.Driver` on the runner's loop thread. A control
called from a notebook cell or a widget is checked here, then posted to the loop; it
returns a ``concurrent.futures.Future`` that says whether the loop applied it. Reads
(``results``, ``best_trial``) take the study lock, which the loop holds while it handles
an event.
"""
from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .callbacks import Callback, check_callbacks
from .settings import check_settings, study_seed
from .engine.checkpoint import CheckpointStore, default_store
from .goal import Goal, make_goal
from .inherit import check_objective
from .ledger import Ledger
from .monitor import Monitor
from .optimizers import make_policy
from .space import Space
from .trainable import Trainable
from .trial import Trial
from .engine.driver import session
from .engine.driver.failfast import DEFAULT_FAIL_FAST
from .study_control import SOURCES, StudyControls
from .study_plans import StudyPlans
from .study_results import StudyResults

__all__ = ["SOURCES", "Study"]


class Study(StudyControls, StudyResults, StudyPlans):
    """A hyperparameter search.

    Parameters
    ----------
    objective
        ``objective(config, reporter)`` (function form) or a :class:`~hpo_kit.Trainable` subclass.
    space
        A :class:`~hpo_kit.Space` or a mapping of names to dimensions.
    metric, mode, score
        The goal (see :class:`~hpo_kit.Goal`); or pass ``goal=Goal(...)``. Several metrics
        (``metric=["val_loss", "time"]``, ``mode`` one per metric or one for all) make a
        multi-objective study: the first is primary (schedulers rank by it), ``"time"`` is the
        trial's training time, and :meth:`pareto_front` gives the trade-offs.
    searcher, scheduler
        What to try (:mod:`hpo_kit.searchers`: random by default) and whether a trial goes on
        (:mod:`hpo_kit.schedulers`: FIFO by default); any searcher runs inside any scheduler.
    optimizer
        Shorthand for both: ``"random"``, ``"grid"``, ``"bo"``, ``"asha"``, ``"hyperband"``,
        ``"hypersearch"``, a searcher or a scheduler (see :func:`hpo_kit.optimizers.make_policy`).
    n_trials, time_budget, trial_timeout
        Budgets: trials to start, wall seconds for the study, wall seconds per step of the
        trial's own work, counted from the end of its warm-up (a hung trial past it is FAILED
        and its worker restarted).
    warmup_timeout
        Wall seconds a step's warm-up may take (first imports, the study's data, a Trainable's
        ``setup`` and checkpoint restore), apart from ``trial_timeout``; past it the trial is
        FAILED naming ``warmup_timeout`` and its worker restarted. ``None``: no limit.
    max_epochs
        Epochs of a full trial; required for Trainable trials.
    cluster
        ``None`` (an embedded LocalCluster), a scheduler address, a ``Client`` or a cluster.
    n_workers
        Workers of the embedded LocalCluster (default: one per core).
    concurrency, prefetch
        Trials running at once (default: the cluster's threads, at most that) and steps queued
        on busy workers to hide dispatch latency (default: ``concurrency``; only used when the
        cluster has no more threads than ``concurrency``, so it never adds running trials).
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
    checkpoint_every
        Epochs between checkpoints of a Trainable (the last epoch of a step always is one).
    keep_paused
        Trials paused at a rung (ASHA, Hyperband) that each worker keeps alive to resume there
        (:mod:`hpo_kit.engine.worker.kept`): no checkpoint read, no retraining of a function-form trial.
        Fewer under memory pressure; 0 keeps none (waiting trials hold no worker or GPU memory).
    fail_fast
        Stop early when the first this many trials to end all FAIL with one error (the same type and
        message, values and addresses aside): the study ends ``"failed"`` and ``run()``/``wait()`` raise
        :class:`~hpo_kit.errors.RepeatedTrialError` naming it (:mod:`hpo_kit.engine.driver.failfast`).
        ``None`` or ``0``: run every trial whatever fails.
    security, resource_wait
        A ``distributed.security.Security`` for a ``tls://`` scheduler address; seconds to wait at
        start for a worker that has the requested ``resources`` before raising.
    enqueue
        Configurations to run first, ahead of the searcher (see :meth:`enqueue`).
    warm_start
        Journal paths or DataFrames (``study.results``) of earlier studies, told to the searcher
        before its first ask; not trials of this study (:mod:`hpo_kit.warm_start`).
    stop_when
        Stop rules (:mod:`hpo_kit.stopping_rules`), e.g. ``[Target(0.1), NoImprovement(trials=20)]``:
        the study stops when any fires; change them live with :meth:`set_stop_rules`.
    seed
        Seed of the policy's draws (``study.seed``; journalled, so a resume draws on from it).
        ``None`` (the default): a fresh seed, so two studies differ; a searcher or scheduler
        constructed with its own ``seed=`` keeps that one.
    callbacks
        Functions ``fn(study, trial)`` called on the loop thread as each trial ends (any end
        state; ``trial`` a copy); an exception in one is logged and journalled, never ends the
        study. A resume takes them again: ``Study.resume(path, callbacks=[...])``. Each ended
        trial is also logged at INFO on the ``hpo_kit`` logger: ``hpo_kit.log_to_stderr()``
        shows those lines (:mod:`hpo_kit.callbacks`).
    """

    def __init__(self, objective: Any, space: Space | dict, metric: str | list[str] = "loss",
                 mode: str | list[str] = "min",
                 score: str = "best", *, goal: Goal | None = None, optimizer: Any = None, searcher: Any = None,
                 scheduler: Any = None, n_trials: int | None = None, time_budget: float | None = None,
                 trial_timeout: float | None = None, warmup_timeout: float | None = 600.0, max_epochs: int | None = None, cluster: Any = None,
                 n_workers: int | None = None, concurrency: int | None = None, prefetch: int | None = None,
                 data: Callable[[], Any] | None = None, journal: str | os.PathLike | None = None,
                 checkpoints: str | CheckpointStore | None = None, monitor: Monitor | None = None,
                 on_flag: str = "stop", resources: dict[str, float] | None = None, max_retries: int = 3,
                 on_interrupted: str = "resume", name: str | None = None, checkpoint_every: int = 1,
                 keep_paused: int = 4, security: Any = None,
                 resource_wait: float = 30.0, enqueue: Any = None, warm_start: Any = None,
                 stop_when: Any = None, seed: int | None = None,
                 callbacks: list[Callback] | None = None, fail_fast: int | None = DEFAULT_FAIL_FAST) -> None:
        if not callable(objective):
            raise TypeError(f"Study: objective={objective!r} must be a function or a Trainable subclass")
        self.objective = objective
        self.space = space if isinstance(space, Space) else Space(space)
        self.goal = goal or make_goal(metric, mode, score)
        resources = check_settings(n_trials=n_trials, max_epochs=max_epochs, concurrency=concurrency,
                                   n_workers=n_workers, prefetch=prefetch, max_retries=max_retries,
                                   checkpoint_every=checkpoint_every, keep_paused=keep_paused, fail_fast=fail_fast,
                                   time_budget=time_budget, trial_timeout=trial_timeout, warmup_timeout=warmup_timeout,
                                   resource_wait=resource_wait, on_flag=on_flag,
                                   on_interrupted=on_interrupted, data=data, resources=resources, name=name,
                                   trainable=isinstance(objective, type) and issubclass(objective, Trainable))
        self._init_plans(warm_start, stop_when, enqueue, max_epochs)
        if optimizer is None and searcher is None and scheduler is None:
            optimizer = "random"
        self.seed = study_seed(seed)
        self.callbacks = check_callbacks(callbacks)
        self.optimizer = make_policy(optimizer, searcher, scheduler)
        self.optimizer.reseed(self.seed)
        check_objective(objective, self.optimizer)  # a policy that copies weights needs a Trainable
        self.n_trials, self.time_budget, self.trial_timeout = n_trials, time_budget, trial_timeout
        self.warmup_timeout = warmup_timeout
        self.max_epochs, self.cluster, self.n_workers = max_epochs, cluster, n_workers
        self.concurrency, self.prefetch, self.data = concurrency, prefetch, data
        self.monitor, self.on_flag, self.resources = monitor, on_flag, resources
        self.max_retries, self.on_interrupted, self.checkpoint_every = max_retries, on_interrupted, checkpoint_every
        self.security, self.resource_wait, self.keep_paused = security, resource_wait, keep_paused
        self.fail_fast = fail_fast or None
        self.name = name or time.strftime("study-%Y%m%d-%H%M%S-") + os.urandom(2).hex()
        self.journal_path = os.fspath(journal or os.path.join("hpo-runs", f"{self.name}.jsonl"))
        if os.path.isdir(self.journal_path):  # here, before a cluster starts or a file is written
            raise IsADirectoryError(f"Study: journal={self.journal_path!r} is a directory; a journal is a file: give "
                                    f"a file path, e.g. {os.path.join(self.journal_path, self.name + '.jsonl')!r}")
        if isinstance(checkpoints, CheckpointStore):
            self.store = checkpoints
        else:
            self.store = CheckpointStore(checkpoints) if checkpoints else default_store(self.journal_path)
        self.listeners: list[Callable[[dict], None]] = []  # journal records, for live views
        self.ledger = Ledger(self.goal, None, self.listeners)
        self.client: Any = None
        self.state = "created"
        self.error: BaseException | None = None
        self.end_reason: str | None = None  # why a stopped study stopped (a stop rule names itself)
        self._lock = threading.RLock()
        self._journal: Any = None
        self._runner: Any = None
        self._driver: Any = None
        self._owned: list[Any] = []
        self._thread: threading.Thread | None = None
        self._t0: float | None = None
        self._resumed: Any = None
        self._progress: Any = None

    @property
    def trials(self) -> Mapping[int, Trial]:
        """Every trial by id: a snapshot taken under the study lock (copies: iterating it while the
        study runs is safe, and changing it changes nothing)."""
        with self._lock:
            return MappingProxyType({tid: _snapshot(t) for tid, t in self.ledger.trials.items()})

    # -- running ----------------------------------------------------------------------------
    def run(self, progress: bool = True) -> "Study":
        """Run the study to the end in this thread, with a progress bar; returns the study.

        In a notebook the loop runs on a thread while this call waits as :meth:`wait` does
        (the panel's buttons work meanwhile; an interrupt pauses the study).

        Raises
        ------
        Exception
            Whatever ended the loop (the journal then says ``study_end state="failed"``).
        """
        from .ui.poll import drive_in_kernel

        session.open_study(self, progress)
        if not drive_in_kernel(self, session.drive):  # a script: the loop runs in this thread
            session.drive(self)
        if self.error is not None:
            raise self.error
        return self

    def start(self, progress: bool = False) -> "Study":
        """Start the study in a background thread and return at once (the kernel stays free)."""
        session.open_study(self, progress)
        self._thread = threading.Thread(target=session.drive, args=(self,), name=f"hpo-kit-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background study ends; True if it ended. Re-raises what ended the loop.

        In a notebook, widget messages (the panel's buttons) are handled while it waits; an
        interrupt pauses the study and re-raises ``KeyboardInterrupt`` (see :mod:`hpo_kit.ui.poll`).
        """
        if self._thread is not None:
            from .ui.poll import wait_loop

            if not wait_loop(self, self._thread, timeout):
                return False
        if self.error is not None:
            raise self.error
        return True

    def __repr__(self) -> str:
        return f"Study({self.name!r}, state={self.state}, trials={len(self.ledger)})"
    resume = session.Hybrid(session.resume_from, StudyControls._unpause)


def _snapshot(t: Trial) -> Trial:
    c = copy.copy(t)  # lists and config of its own
    c.config, c.reports, c.flags = dict(t.config), list(t.reports), list(t.flags)
    return c
