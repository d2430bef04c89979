"""What happens when a trial ends: a log line on the ``hpo_kit`` logger, then the study's callbacks.

One design for both, the standard library's:

* **Log lines.** Each trial that ends (COMPLETED, STOPPED, KILLED, FAILED; a pause at a rung is
  no end) is logged at INFO on ``logging.getLogger("hpo_kit")``: its id, state, score, duration
  and configuration. A library does not configure logging, so the lines appear once the user
  asks: ``hpo_kit.log_to_stderr()`` (as :func:`multiprocessing.log_to_stderr`: a handler and
  INFO on the ``hpo_kit`` logger only), or any logging set-up of their own. Not
  ``logging.basicConfig(level=logging.INFO)`` alone: a root handler also prints Dask's own INFO
  lines (about a hundred per study: workers starting, clients connecting). No ``Study`` switch
  duplicates this.
* **Callbacks.** ``Study(callbacks=[fn, ...])``: ``fn(study, trial)`` for each trial that ends,
  as Optuna's ``optimize(callbacks=...)``. ``trial`` is a snapshot (a copy: keeping it is safe).
  They run on the study's loop thread, after the ledger journalled the end (so
  ``study.best_value`` already counts the trial), under the study lock: a slow callback delays
  the loop, so hand long work to a thread. An exception in a callback is logged with its
  traceback and journalled (a ``callback_error`` record: trial, callback, error), and the study
  goes on. ``study.stop()`` from a callback ends the study without waiting for it (the wait
  would be the loop waiting for itself).

Callbacks are code, not settings: they are not saved beside the journal (they often hold the
caller's own objects), so ``Study.resume(path, callbacks=[...])`` passes them again.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .study import Study
    from .trial import Trial

#: The package's logger: trial-end lines at INFO (see the module docstring).
logger = logging.getLogger("hpo_kit")

Callback = Callable[["Study", "Trial"], Any]
_local = threading.local()


def check_callbacks(callbacks: Any) -> tuple[Callback, ...]:
    """``callbacks`` as a tuple of callables; ``None`` is none.

    Raises
    ------
    TypeError
        Naming the field, for a single function (not in a list) or an item that is not callable.
    """
    if callbacks is None:
        return ()
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"Study: callbacks={callbacks!r} must be a list of functions fn(study, trial), "
                        f"e.g. callbacks=[fn]")
    out = tuple(callbacks)
    for i, fn in enumerate(out):
        if not callable(fn):
            raise TypeError(f"Study: callbacks[{i}]={fn!r} is not callable: each must be a function fn(study, trial)")
    return out


def log_to_stderr(level: int = logging.INFO) -> logging.Logger:
    """Print hpo_kit's log lines (one per ended trial) on stderr; returns the ``hpo_kit`` logger.

    Adds one stream handler to the ``hpo_kit`` logger (a second call only sets ``level``), as
    :func:`multiprocessing.log_to_stderr` does for its logger; other libraries' loggers are untouched.
    """
    if not any(getattr(h, "_hpo_kit", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
        handler._hpo_kit = True  # type: ignore[attr-defined] - found again by the next call
        logger.addHandler(handler)
    logger.setLevel(level)
    return logger


def in_callback() -> bool:
    """True while this thread runs a study's callback (a control then must not wait for the loop)."""
    return getattr(_local, "depth", 0) > 0


def trial_line(trial: "Trial", goal: Any) -> str:
    """The log line of an ended trial: ``trial 3 COMPLETED score=0.0123 (loss) in 1.20 s config={...}``."""
    score = trial.score(goal)
    shown = "none" if score is None else f"{score:.6g}"
    duration = trial.duration
    took = "" if duration is None else f" in {duration:.2f} s"
    why = f" ({trial.error or trial.reason})" if trial.status.value in ("FAILED", "KILLED", "STOPPED") \
        and (trial.error or trial.reason) else ""
    return (f"trial {trial.id} {trial.status.value} score={shown} ({goal.metric}){took} "
            f"config={trial.config}{why}")


def trial_ended(study: "Study", trial: "Trial") -> None:
    """Log ``trial``'s end and run the study's callbacks with a snapshot of it (loop thread)."""
    if logger.isEnabledFor(logging.INFO):
        logger.info("%s: %s", study.name, trial_line(trial, study.goal))
    callbacks = getattr(study, "callbacks", ())
    if not callbacks:
        return
    from .study import _snapshot

    snap = _snapshot(trial)
    for fn in callbacks:
        _local.depth = getattr(_local, "depth", 0) + 1
        try:
            fn(study, snap)
        except Exception as exc:  # noqa: BLE001 - a user's callback never ends the study
            name = getattr(fn, "__qualname__", None) or type(fn).__name__
            logger.exception("%s: callback %s raised on trial %d", study.name, name, trial.id)
            study.ledger.log("callback_error", trial=trial.id, callback=name, error=f"{type(exc).__name__}: {exc}")
        finally:
            _local.depth -= 1
