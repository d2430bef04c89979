"""Restart: rebuild a study from its journal in a new process and carry on.

Order of the rebuild: the journal is replayed into trial records (a damaged line is
reported, not silently skipped) through the journal audit (:mod:`hpo_kit.engine.audit`:
records that break the trial state machine, configurations outside the space and implausible
ids are skipped with a warning naming the line, never obeyed), the
:class:`~hpo_kit.ledger.Ledger` adopts them, and the policy is rebuilt *from the ledger*:
configurations come from the journal, never from a replayed generator. The policy itself
comes from the pickle beside the journal; when that is missing or unreadable, it is rebuilt
from the parameters the journal recorded at start (with a warning), never from defaults.
Settings (``concurrency``, ``max_retries``, ``checkpoint_every``, ``on_interrupted``, the
checkpoint store's URL and ``weights_only`` ...) come from the journal too, then live
changes found in it (``tune``, policy switches, ``concurrency``) are re-applied before the
history is re-told, so the policy continues under the cost it had. The warm start's
observations (journalled whole) are told before that history, as in the first run; the
enqueued configurations no trial took wait again; the stop rules are the last journalled.

Trials that were running when the driver died: ``on_interrupted="resume"`` re-queues them
as a new attempt (a Trainable continues from its last checkpoint, a function trial
restarts; reports already journalled are not journalled again), ``"fail"`` ends them FAILED.
"""
from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..audit import replay_audited
from ..replay import Replay
from ...known import waiting_from
from ...warm_start import WarmStart
from ...trial import TrialStatus

if TYPE_CHECKING:
    from ...study import Study

_SETTINGS = ("n_trials", "time_budget", "trial_timeout", "warmup_timeout", "max_epochs", "concurrency", "prefetch",
             "on_flag", "resources", "max_retries", "on_interrupted", "checkpoint_every", "keep_paused", "seed",
             "fail_fast")


def policy_from_record(record: dict[str, Any]) -> Any:
    """Rebuild a scheduler (with its searcher) from the ``optimizer`` record of a ``study_start``."""
    from ...optimizers import by_name
    from ...schedulers import ASHA, FIFO, Hyperband, Hypersearch, SuccessiveHalving
    from ...searchers import GridSearch, RandomSearch
    from ...searchers.bo import TimeAwareBO

    schedulers = {c.name: c for c in (ASHA, FIFO, Hyperband, Hypersearch, SuccessiveHalving)}
    searchers = {c.name: c for c in (GridSearch, RandomSearch, TimeAwareBO)}
    params = {k: v for k, v in record.items() if k not in ("name", "searcher")}
    name = record.get("name")
    if "searcher" not in record:  # a journal of the first release: one optimizer name
        if name in searchers:
            return FIFO(searchers[name](**params))
        return schedulers[name](**params) if name in schedulers else by_name(name)
    inner = dict(record["searcher"])
    sname = inner.pop("name")
    if sname not in searchers:
        raise ValueError(f"resume: the journal's searcher {sname!r} cannot be rebuilt from its record; pass "
                         f"optimizer=")
    if name not in schedulers:
        raise ValueError(f"resume: the journal's scheduler {name!r} cannot be rebuilt from its record; pass "
                         f"optimizer=")
    return schedulers[name](**params, searcher=searchers[sname](**inner))


def resume_from(cls: type, path: str | os.PathLike, objective: Any = None, *, data: Any = None,
                optimizer: Any = None, monitor: Any = None, **kwargs: Any) -> "Study":
    """Reload a study from its journal in a new process and continue it.

    The objective, data loader and policy saved beside the journal are used unless given.
    Every finished result is kept; trials that were running when the driver died are
    resumed from their checkpoint (or restarted) or failed, per ``on_interrupted``. The journal's
    warm start, waiting enqueued configurations and last stop rules are kept (``stop_when=``
    replaces the rules; ``enqueue=`` adds configurations; ``warm_start=`` is refused).
    """
    path = os.fspath(path)
    from ..journal import Journal

    journal = Journal(path)  # the lock first: a second process must not replay and re-run the same trials
    try:
        return _resume_locked(cls, path, journal, objective, data=data, optimizer=optimizer, monitor=monitor,
                              **kwargs)
    except BaseException:
        journal.close()
        raise


def _resume_locked(cls: type, path: str, journal: Any, objective: Any, *, data: Any, optimizer: Any,
                   monitor: Any, **kwargs: Any) -> "Study":
    rep = replay_audited(path)
    saved: dict[str, Any] = {}
    given = objective is not None and optimizer is not None
    if os.path.exists(path + ".pkl") and not given:  # nothing is unpickled that the caller passed
        try:
            with open(path + ".pkl", "rb") as f:
                saved = cloudpickle.load(f)
        except Exception as exc:  # noqa: BLE001 - the journal still says what the policy was
            warnings.warn(f"resume: {path}.pkl cannot be read ({type(exc).__name__}: {exc}); rebuilding from "
                          f"the journal", RuntimeWarning, stacklevel=3)
    objective = objective or saved.get("objective")
    if saved.get("code_files"):
        from ..worker.step import restore_code_files

        restore_code_files(objective, saved["code_files"])  # tracebacks name the user's file, not <dynamic-code>
    if objective is None:
        raise ValueError(f"resume: {path}.pkl is missing or unreadable; pass objective=")
    if optimizer is None and saved.get("optimizer") is None:
        warnings.warn(f"resume: no pickled policy beside {path}; rebuilding it from the journal's parameters",
                      RuntimeWarning, stacklevel=3)
        optimizer = policy_from_record(rep.start["optimizer"])
    settings = {k: v for k, v in rep.start.get("settings", {}).items() if k in _SETTINGS}
    for rec in rep.controls:
        if rec["action"] == "concurrency" and not rec.get("refused"):
            settings["concurrency"] = rec["value"]
    if "warm_start" in kwargs:
        raise ValueError("resume: warm_start= cannot be given to a resumed study: the journal's warm start "
                         "is told to its searcher again")
    settings["stop_when"] = stop_rules_of(rep)
    settings.update(kwargs)
    from ...goal import Goal
    from ...space import Space

    checkpoints = settings.pop("checkpoints", None)  # the caller's, else the journal's URL and mode
    started = rep.start.get("settings", {})
    if checkpoints is None and started.get("checkpoints"):
        from ..checkpoint import CheckpointStore

        # The mode the study started with (journals before it was recorded: the weights-only default).
        trusting = started.get("weights_only", True) is False
        checkpoints = CheckpointStore(started["checkpoints"], weights_only=not trusting)
    study = cls(objective, Space.from_dict(rep.start["space"]), goal=Goal(**rep.start["goal"]),
                optimizer=optimizer or saved.get("optimizer"), data=data or saved.get("data"),
                monitor=monitor or saved.get("monitor"), journal=path, name=rep.start.get("name"),
                checkpoints=checkpoints, **settings)
    study._resumed, study._journal = rep, journal
    given = study.known.waiting()  # Study.resume(path, enqueue=[...]): after the journal's
    study.known = waiting_from(rep.controls, rep.trials.values(), study.space)  # enqueued, never started
    for config in given:
        study.known.add(config, journalled=False)
    study.warm = WarmStart.from_record(rep.warm) if rep.warm is not None else None
    study.ledger.restore(rep.trials, rep.ends)  # study.trials shows the journal's trials before it runs
    if rep.damaged:
        warnings.warn(f"resume: {len(rep.damaged)} damaged line(s) of {path} were skipped: "
                      f"{rep.damaged[:10]}", RuntimeWarning, stacklevel=3)
    return study


def stop_rules_of(rep: Replay) -> tuple[Any, ...]:
    """The stop rules last in force: the start's, changed by each ``stop_rules`` control."""
    from ...stopping_rules import rules_from_records

    records = rep.start.get("settings", {}).get("stop_when") or []
    for rec in rep.controls:
        if rec["action"] == "stop_rules" and not rec.get("refused") and isinstance(rec.get("value"), list):
            records = rec["value"]
    return rules_from_records(records)


def restore_into(study: "Study", rep: Replay) -> None:
    """Adopt the replayed trials, re-apply live changes, re-tell the policy, requeue the interrupted."""
    policy, driver = study.optimizer, study._driver
    observations = study.ledger.restore(rep.trials, rep.ends)
    for rec in rep.controls:
        if rec.get("refused"):
            continue
        if rec["action"] == "tune":
            policy.update(**rec["value"])
        elif rec["action"] == "switch" and hasattr(policy.searcher, "switch"):
            policy.searcher.switch(reason=(rec.get("value") or {}).get("reason", "replayed"))
    trials = sorted(study.ledger, key=lambda t: t.id)
    interrupted = [t for t in trials if t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)]
    policy.restore(trials, observations)
    policy.drain_events()  # replayed, already in the journal
    study.ledger.log("study_resume", interrupted=[t.id for t in interrupted], policy=study.on_interrupted,
                     n_trials=len(trials), damaged=list(getattr(rep, "damaged", [])))
    for t in interrupted:
        if study.on_interrupted == "resume":
            study.ledger.requeue(t.id)  # a new attempt: nothing of the dead driver's step can land on it
            driver.steps.queue(t.id)
        else:
            driver._end(t, TrialStatus.FAILED, error="Interrupted: the driver stopped while it ran")
