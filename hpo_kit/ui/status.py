"""What the control panel and the dashboard page say in words: pure functions over journal records.

:func:`summary` is the header (state, progress, best so far), :func:`trial_rows` the
trial table, :func:`live_controls` which time-aware BO inputs are usable and why not.
The widgets in :mod:`hpo_kit.ui.panel` only format these values.
"""
from __future__ import annotations

import html
import math
from collections import Counter
from typing import Any

from ..progress import Count, count, epoch_budget_of
from ..trial import TrialStatus
from .data import Records, fold_trials, goal_of, policy_params, study_start, t0_of

#: The time-aware BO parameters the panel offers, and what each means to a user.
BO_PARAMS = {"b": "b: weight of trial time T in the cost Z = L + b*T",
             "switch_after_trials": "switch point: after this many finished trials the cost becomes Z = L "
                                    "(0: switch now)",
             "switch_after_seconds": "switch point: after this many seconds the cost becomes Z = L"}


def study_state(records: Records) -> str:
    """``created`` / ``running`` / ``paused`` / ``stopping`` / ended state, as the journal tells it."""
    state = "created"
    for rec in records:
        ev = rec.get("event")
        if ev in ("study_start", "study_resume"):
            state = "running"
        elif ev == "control" and rec.get("action") in ("pause", "resume"):
            state = "paused" if rec["action"] == "pause" else "running"
        elif ev == "control" and rec.get("action") == "stop":
            state = "stopping"
        elif ev == "study_end":
            state = rec.get("state", "finished")
    return state


def summary(records: Records, now: float | None = None) -> dict[str, Any]:
    """The study at a glance.

    Returns
    -------
    dict
        ``name``, ``state``, ``elapsed`` (s), ``n_trials`` (created), ``n_target`` (the
        study's ``n_trials`` setting or ``None``), ``running``, ``pending``, ``ended``
        (terminal), ``by_status`` (status -> count), ``flagged`` (live flagged trial ids),
        ``best_trial`` and ``best_score`` (``None`` before a finite score), ``metric``,
        ``mode``, ``concurrency`` (latest setting).
    """
    start = next((r for r in records if r.get("event") == "study_start"), {})
    goal, t0 = goal_of(records), t0_of(records)
    trials = fold_trials(records)
    settings = start.get("settings", {})
    concurrency = settings.get("concurrency")
    for rec in records:
        if rec.get("event") == "control" and rec.get("action") == "concurrency":
            concurrency = rec.get("value")
    best_id, best = None, None
    for t in trials.values():
        score = t.score(goal)
        if goal.better(score, best):
            best_id, best = t.id, score
    counts = Counter(t.status.value for t in trials.values())
    end = now if now is not None else (records[-1]["t"] if records else t0)
    return {"name": start.get("name"), "state": study_state(records), "elapsed": max(0.0, end - t0),
            "n_trials": len(trials), "n_target": settings.get("n_trials"),
            "running": counts.get(TrialStatus.RUNNING.value, 0), "pending": counts.get(TrialStatus.PENDING.value, 0),
            "ended": sum(n for s, n in counts.items() if TrialStatus(s).is_terminal), "by_status": dict(counts),
            "flagged": [t.id for t in trials.values() if t.flags and not t.status.is_terminal],
            "best_trial": best_id, "best_score": best, "metric": goal.metric, "mode": goal.mode,
            "concurrency": concurrency}


def progress(records: Records) -> Count:
    """The panel's progress: trials ended, or epochs against the rungs' budget (:func:`hpo_kit.progress.count`).

    Read from the journal, so a resumed study counts its earlier trials too; a rung policy
    (its ``r_min`` and ``eta`` in the start record) counts epochs.
    """
    settings = study_start(records).get("settings", {}) or {}
    budget = epoch_budget_of(policy_params(records), settings.get("n_trials"), settings.get("max_epochs"))
    return count(fold_trials(records).values(), settings.get("n_trials"), budget,
                 ended=study_state(records) in ("finished", "stopped", "failed"))


def trial_rows(records: Records) -> list[dict[str, Any]]:
    """One row per trial, newest first: ``trial``, ``status``, ``epochs``, ``score``, ``last``
    (the metric's last value), ``worker``, ``flags``, ``reason``, ``live`` (may be killed)."""
    goal = goal_of(records)
    rows = []
    for t in sorted(fold_trials(records).values(), key=lambda t: -t.id):
        values = t.values(goal.metric)
        rows.append({"trial": t.id, "status": t.status.value, "epochs": t.epochs, "score": t.score(goal),
                     "last": values[-1] if values else None, "worker": t.worker, "config": t.config,
                     "flags": ",".join(f["indicator"] for f in t.flags), "reason": t.reason,
                     "live": not t.status.is_terminal})
    return rows


def live_controls(live_params: tuple[str, ...] | list[str], optimizer_name: str,
                  state: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """For each time-aware BO parameter: is its input enabled, what does it hold, what is the hint.

    Returns
    -------
    dict
        ``{name: {"enabled", "value", "hint"}}`` for each of :data:`BO_PARAMS`; ``value`` is the
        optimizer's current value from ``state`` (``None`` if unknown).
    """
    state = state or {}
    out = {}
    for name, meaning in BO_PARAMS.items():
        enabled = name in live_params
        hint = meaning if enabled else (f"{optimizer_name} has no live parameter {name!r} "
                                        f"(time-aware BO only: optimizer=TimeAwareBO(...))")
        out[name] = {"enabled": enabled, "value": state.get(name), "hint": hint}
    return out


def fmt(value: Any, digits: int = 4) -> str:
    """A short human form of a number (``-`` for None/NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def table_html(rows: list[dict[str, Any]], metric: str) -> str:
    """The trial table as HTML (rows from :func:`trial_rows`; flagged rows tinted)."""
    head = ["trial", "status", "epochs", f"score ({metric})", "last", "worker", "flags", "reason"]
    cells = []
    for r in rows:
        flag = "background:#fdecea" if r["flags"] else ""
        worker = (r["worker"] or "").split("://")[-1]
        values = [r["trial"], r["status"], r["epochs"], fmt(r["score"]), fmt(r["last"]), worker,
                  r["flags"], r["reason"] or ""]
        cells.append(f"<tr style='{flag}' data-trial='{r['trial']}' data-status='{r['status']}'>" +
                     "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>")
    th = "".join(f"<th style='text-align:left;padding-right:10px'>{h}</th>" for h in head)
    return (f"<div style='max-height:260px;overflow:auto;font-size:12px'><table><thead><tr>{th}</tr></thead>"
            f"<tbody>{''.join(cells)}</tbody></table></div>")


def header_html(s: dict[str, Any], state: str | None = None, link: str | None = None) -> str:
    """One line of HTML from :func:`summary`: name, state, time, progress, best so far.

    ``state`` overrides the journal's (the live ``study.state``); ``link`` adds a link to
    the study's page on the Dask dashboard. Numbers sit in spans with classes
    ``hpo-state``, ``hpo-count``, ``hpo-running``, ``hpo-best`` for tests and themes.
    """
    best = "-" if s["best_trial"] is None else f"{fmt(s['best_score'])} (trial {s['best_trial']})"
    a = f" · <a href='{html.escape(link)}' target='_blank'>dashboard page</a>" if link else ""
    return (f"<b>{html.escape(str(s['name']))}</b> · "
            f"<span class='hpo-state'>{html.escape(state or s['state'])}</span> · {s['elapsed']:.0f} s · "
            f"<span class='hpo-count'>{s['ended']}/{s['n_target'] or '?'} trials ended</span>, "
            f"<span class='hpo-running'>{s['running']} running</span>, {s['pending']} pending · "
            f"best {html.escape(s['metric'])} ({s['mode']}): <span class='hpo-best'>{best}</span>{a}")
