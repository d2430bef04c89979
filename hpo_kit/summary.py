"""One line that says how a study ended, and a warning when every trial failed or none scored.

A study whose every trial fails (a typo in the objective, a missing package on the
workers, a bad report) would otherwise end as quietly as a good one: the progress bar
fills up and ``study.run()`` returns. :func:`warn_if_all_failed` is called as the study
closes and warns with the summary line, the most common error and where to read the
tracebacks; :func:`warn_if_no_finite_score` likewise for a study whose every report was NaN
or inf (issue 26 item 5).
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

from .engine.longtext import clip
from .error_groups import group_errors
from .trial import TrialStatus

__all__ = ["AllTrialsFailedWarning", "NoFiniteScoreWarning", "summarize", "warn_if_all_failed",
           "warn_if_no_finite_score"]


class AllTrialsFailedWarning(RuntimeWarning):
    """Every trial of a study ended FAILED."""


class NoFiniteScoreWarning(RuntimeWarning):
    """Trials of a study ended, but none reported a finite score of the study's metric (every value NaN or inf)."""


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


def where_tracebacks(study: Any) -> str:
    """Where a user reads the trials' tracebacks."""
    journal = getattr(study, "journal_path", None)
    return "study.results['traceback']" + (f" or `hpo-kit show {journal} --columns status,error`" if journal
                                           else "")


def warn_if_all_failed(study: Any) -> bool:
    """Warn (:class:`AllTrialsFailedWarning`) if the study has trials and every one FAILED; True if it warned.

    The warning carries :func:`summarize`'s line, the most common error (grouped by
    :func:`~hpo_kit.error_groups.error_key`: a value or an address in the message does not
    split it) with the first trial that had it, and where the tracebacks are.
    """
    trials = _trials(study)
    if not trials or any(t.status is not TrialStatus.FAILED for t in trials):
        return False
    groups = group_errors(trials)
    top = groups[0]
    others = f"; {len(groups) - 1} other error(s), first: {clip(groups[1].example, 300, 'see study.results')} " \
        f"(trial {groups[1].first})" if len(groups) > 1 else ""
    example = clip(top.example, 500, f"study.trials[{top.first}].error has it whole")  # a 10-MB message
    message = (f"{summarize(study)}\nevery trial FAILED; {len(top)} of {len(trials)} with: {example} (first: "
               f"trial {top.first}){others}. Tracebacks: {where_tracebacks(study)}")
    warnings.warn(message, AllTrialsFailedWarning, stacklevel=2)
    return True


def warn_if_no_finite_score(study: Any) -> bool:
    """Warn (:class:`NoFiniteScoreWarning`) if trials ended but none has a finite score; True if it warned.

    Such a study (every report NaN or inf) used to end "finished" without a word: no policy
    had anything to rank (BO was told nothing, ASHA promoted nothing). Not raised where every
    trial FAILED (:func:`warn_if_all_failed` says so) or where no trial ended.
    """
    trials = _trials(study)
    ended = [t for t in trials if t.status.is_terminal or t.status is TrialStatus.PAUSED]
    if not ended or all(t.status is TrialStatus.FAILED for t in trials):
        return False
    goal = study.goal
    if any((score := t.score(goal)) is not None and math.isfinite(score) for t in trials):
        return False
    metric = goal.metric
    reported = [t for t in trials if t.values(metric)]
    first = f" (first: trial {reported[0].id}, {metric}={reported[0].values(metric)[-1]})" if reported else ""
    failed = sum(t.status is TrialStatus.FAILED for t in trials)
    how = "only as NaN or inf" if goal.score == "best" else "last as NaN or inf (score='last')"
    message = (f"{summarize(study)}\nno trial scored a finite {metric}: {len(reported)} of {len(trials)} trials "
               f"reported it, each {how}{first}"
               + (f", {failed} FAILED" if failed else "")
               + f"; the optimizer had nothing to rank them by. Check the loss for a divergence (a learning rate "
               f"too high, a log of 0) in study.results['last.{metric}']")
    warnings.warn(message, NoFiniteScoreWarning, stacklevel=2)
    return True
