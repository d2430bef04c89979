"""One line that says how a study ended, and a warning when every trial failed.

A study whose every trial fails (a typo in the objective, a missing package on the
workers, a bad report) would otherwise end as quietly as a good one: the progress bar
fills up and ``study.run()`` returns. :func:`warn_if_all_failed` is called as the study
closes and warns with the summary line, the most common error and where to read the
tracebacks.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

from .engine.longtext import clip
from .trial import TrialStatus

__all__ = ["AllTrialsFailedWarning", "summarize", "warn_if_all_failed"]


class AllTrialsFailedWarning(RuntimeWarning):
    """Every trial of a study ended FAILED."""


def _trials(study: Any) -> list[Any]:
    lock = getattr(study, "_lock", None)
    if lock is None:
        return sorted(study.trials.values(), key=lambda t: t.id)
    with lock:
        return sorted(study.trials.values(), key=lambda t: t.id)


def summarize(study: Any) -> str:
    """``study 'name' finished: 8 trials (6 COMPLETED, 2 FAILED); best val_loss=0.1234 (trial 3)``."""
    trials = _trials(study)
    counts = Counter(t.status.value for t in trials)
    order = [s.value for s in TrialStatus]
    parts = ", ".join(f"{counts[s]} {s}" for s in order if counts[s])
    line = f"study {study.name!r} {getattr(study, 'state', 'ended')}: {len(trials)} trials"
    line += f" ({parts})" if parts else ""
    goal = study.goal
    best, best_score = None, None
    for t in trials:
        score = t.score(goal)
        if score is not None and math.isfinite(score) and goal.better(score, best_score):
            best, best_score = t, score
    if best is not None:
        line += f"; best {goal.metric}={best_score:.6g} (trial {best.id})"
    elif trials:
        line += f"; no trial reported a finite {goal.metric}"
    return line


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else text


def warn_if_all_failed(study: Any) -> bool:
    """Warn (:class:`AllTrialsFailedWarning`) if the study has trials and every one FAILED; True if it warned.

    The warning carries :func:`summarize`'s line, the most common error with the first
    trial that had it, and where the tracebacks are.
    """
    trials = _trials(study)
    if not trials or any(t.status is not TrialStatus.FAILED for t in trials):
        return False
    errors = Counter(_first_line(t.error or "no error recorded") for t in trials)
    error, n = errors.most_common(1)[0]
    first = next(t.id for t in trials if _first_line(t.error or "no error recorded") == error)
    others = f"; {len(errors) - 1} other error(s)" if len(errors) > 1 else ""
    journal = getattr(study, "journal_path", None)
    where = "study.results['traceback']" + (f" or `hpo-kit show {journal} --columns status,error`" if journal
                                            else "")
    error = clip(error, 500, f"study.trials[{first}].error has it whole")  # a 10-MB message must not be quoted
    message = (f"{summarize(study)}\nevery trial FAILED; {n} of {len(trials)} with: {error} (first: trial "
               f"{first}){others}. Tracebacks: {where}")
    warnings.warn(message, AllTrialsFailedWarning, stacklevel=2)
    return True
