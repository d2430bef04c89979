"""The trials as a table and one trial in detail: pure functions over journal records.

:func:`table_columns` is the live trial table (one row per trial, every hyperparameter
as a column, pending trials last), :func:`trial_detail` what a click on a trial shows
(its configuration, last metrics, flags and journal events). Hyperparameters are named
``config.<name>``, as in :attr:`hpo_kit.Study.results`.
"""
from __future__ import annotations

import html
import math
from typing import Any

from ..trial import TrialStatus
from .data import Columns, Records, category, fold_trials, goal_of, study_start, t0_of

#: The background of a flagged trial's row (translucent: readable on light and dark themes).
FLAGGED_TINT = "rgba(214, 39, 40, 0.22)"
#: Journal events shown in a trial's detail (reports are summarised, not listed).
DETAIL_EVENTS = ("trial_create", "trial_start", "trial_pause", "trial_resume", "trial_retry", "trial_end",
                 "flag", "control")


def param_specs(records: Records) -> dict[str, dict[str, Any]]:
    """The search space from the start record: ``name -> {"type", "low", "high", "log"}`` or ``{"choices"}``."""
    return dict(study_start(records).get("space") or {})


def fmt_value(value: Any, digits: int = 4) -> str:
    """A config value or metric, short: ``0.001234``, ``64``, ``relu``; ``-`` for None/NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return f"{value:.{digits}g}"


def config_text(config: dict[str, Any] | None, names: list[str] | None = None) -> str:
    """``lr=0.001, width=64, act=relu`` in the space's order (``names``), then any others."""
    config = config or {}
    order = [n for n in (names or []) if n in config] + sorted(k for k in config if k not in (names or []))
    return ", ".join(f"{k}={fmt_value(config[k])}" for k in order)


def _cell(value: Any, spec: dict[str, Any]) -> Any:
    """A table cell for one hyperparameter: a float for numbers (sortable), text for choices."""
    if spec.get("type") == "categorical" or isinstance(value, (str, bool)) or value is None:
        return "" if value is None else str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def table_columns(records: Records, specs: dict[str, dict[str, Any]] | None = None) -> Columns:
    """The trial table: one row per trial in id order, PENDING ones last.

    Returns
    -------
    dict
        ``trial``, ``status``, ``category``, ``epochs``, ``score``, ``last`` (the metric's
        last value), ``worker`` (``host:port``), ``flags``, ``reason``, ``config`` (text), ``tint`` (the
        row's background: :data:`FLAGGED_TINT` for a flagged trial, else ``None``),
        and ``config.<name>`` for every hyperparameter (floats, or text for choices).
    """
    specs = param_specs(records) if specs is None else specs
    goal = goal_of(records)
    names = list(specs)
    trials = sorted(fold_trials(records).values(), key=lambda t: (t.status is TrialStatus.PENDING, t.id))
    out: Columns = {k: [] for k in ("trial", "status", "category", "epochs", "score", "last", "worker", "flags",
                                    "reason", "config", "tint")}
    out.update({f"config.{n}": [] for n in names})
    nan = float("nan")
    for t in trials:
        values = t.values(goal.metric)
        score = t.score(goal)
        row = {"trial": t.id, "status": t.status.value, "category": category(t), "epochs": t.epochs,
               "score": nan if score is None else float(score),
               "last": float(values[-1]) if values and values[-1] is not None else nan,
               "worker": (t.worker or "").split("://")[-1], "flags": ",".join(f["indicator"] for f in t.flags),
               "reason": t.reason or t.error or "", "config": config_text(t.config, names),
               "tint": FLAGGED_TINT if t.flags else None}
        row.update({f"config.{n}": _cell(t.config.get(n), specs[n]) for n in names})
        for k, v in row.items():
            out[k].append(v)
    return out


def sort_rows(columns: Columns, key: str, descending: bool = False) -> list[int]:
    """Row order of ``columns`` sorted by ``key``: missing values (NaN, empty) last, PENDING rows last."""
    col, status = columns[key], columns.get("status", [""] * len(columns[key]))

    def missing(v: Any) -> bool:
        return v is None or v == "" or (isinstance(v, float) and math.isnan(v))

    present = [i for i in range(len(col)) if not missing(col[i])]
    present.sort(key=lambda i: col[i], reverse=descending)
    rows = present + [i for i in range(len(col)) if missing(col[i])]
    return [i for i in rows if status[i] != "PENDING"] + [i for i in rows if status[i] == "PENDING"]


def trial_detail(records: Records, trial_id: int) -> dict[str, Any] | None:
    """Everything about one trial, for the panel's detail view; ``None`` for an unknown trial.

    Returns
    -------
    dict
        ``trial``, ``status``, ``config`` (dict), ``score``, ``epochs``, ``worker``,
        ``metrics`` (its last report's), ``flags`` (finding dicts), ``reason``, ``error``,
        ``events``: ``(seconds since start, event, what)`` for its journal events (reports
        summarised as one line).
    """
    trials = fold_trials(records)
    t = trials.get(trial_id)
    if t is None:
        return None
    goal, t0 = goal_of(records), t0_of(records)
    events: list[tuple[float, str, str]] = []
    n_reports, first_report = 0, None
    for rec in records:
        if rec.get("trial") != trial_id:
            continue
        ev = rec.get("event")
        if ev == "report":
            n_reports += 1
            first_report = first_report if first_report is not None else rec["t"] - t0
        elif ev in DETAIL_EVENTS:
            events.append((rec["t"] - t0, ev if ev != "control" else f"control: {rec.get('action')}",
                           _what(rec)))
    if n_reports:
        events.append((first_report, "report", f"{n_reports} reports, epochs 1-{t.epochs}"))
        events.sort(key=lambda e: e[0])
    metrics = dict(t.reports[-1]["metrics"]) if t.reports else {}
    return {"trial": t.id, "status": t.status.value, "config": dict(t.config), "score": t.score(goal),
            "epochs": t.epochs, "worker": t.worker, "metrics": metrics, "flags": list(t.flags),
            "reason": t.reason, "error": t.error, "events": events, "metric": goal.metric}


def _what(rec: dict[str, Any]) -> str:
    parts = []
    for key in ("status", "worker", "budget", "score", "reason", "source", "retry", "error"):
        value = rec.get(key)
        if value not in (None, "", False):
            parts.append(f"{key} {fmt_value(value) if isinstance(value, float) else value}")
    finding = rec.get("finding")
    if finding:
        parts.append(f"{finding.get('indicator')} at epoch {finding.get('epoch')}")
    return ", ".join(parts)


def detail_html(detail: dict[str, Any] | None) -> str:
    """:func:`trial_detail` as HTML (classes ``hpo-detail-config`` etc. for tests and themes)."""
    if detail is None:
        return "<i>Click a trial in the table to see its configuration, metrics and journal events.</i>"
    e = html.escape

    def table(pairs: list[tuple[str, str]], cls: str) -> str:
        rows = "".join(f"<tr><td style='padding-right:8px'><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in pairs)
        return f"<table class='{cls}'>{rows}</table>"

    head = (f"<b>Trial {detail['trial']}</b> · {e(detail['status'])} · {detail['epochs']} epochs · "
            f"score ({e(detail['metric'])}) {e(fmt_value(detail['score']))}"
            + (f" · on {e(str(detail['worker']).split('://')[-1])}" if detail["worker"] else ""))
    flags = ", ".join(f"{f.get('indicator')} (epoch {f.get('epoch')})" for f in detail["flags"])
    why = detail["reason"] or detail["error"] or ""
    config = table([(k, fmt_value(v)) for k, v in detail["config"].items()], "hpo-detail-config")
    metrics = table([(k, fmt_value(v)) for k, v in detail["metrics"].items()], "hpo-detail-metrics")
    events = "".join(f"<tr><td>{t:.1f} s</td><td style='padding:0 8px'>{e(ev)}</td><td>{e(what)}</td></tr>"
                     for t, ev, what in detail["events"][-30:])
    return (f"<div class='hpo-detail-body'>{head}"
            + (f"<br><span style='color:var(--jp-error-color1,#c00)'>flags: {e(flags)}</span>" if flags else "")
            + (f"<br>{e(why)}" if why else "")
            + "<div style='display:flex;gap:24px;margin-top:4px'>"
            f"<div><u>config</u>{config}</div><div><u>last metrics</u>{metrics}</div>"
            f"<div><u>journal</u><table class='hpo-detail-events'>{events}</table></div></div></div>")
