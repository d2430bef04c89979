"""What the panel's controls say and allow: pure functions, so the widgets hold no logic.

A control is a study method that validates in the caller (raising ``ValueError`` or
``RuntimeError``) and returns a ``concurrent.futures.Future`` that the loop settles
(see :class:`hpo_kit.Study`). :func:`outcome` turns that into the panel's message:
*applied*, or *refused: <reason>* (the raised error, the future's exception, or a
journalled ``refused`` field, as the driver writes for a policy that would not take a
tune). :func:`banner` is the line above the controls (paused, stopping, ended, workers
lost); :func:`disabled` which controls are off in each state.
"""
from __future__ import annotations

import html
import math
from typing import Any

from .data import Records

ENDED = ("finished", "stopped", "failed")
#: The panel's controls, by name (each widget carries the CSS class ``hpo-<name>``).
CONTROLS = ("pause", "resume", "kill", "kill-flagged", "concurrency", "b", "switch-trials", "switch-seconds")


def parse_number(text: Any, name: str, integer: bool = False, low: float | None = None) -> int | float | None:
    """The number typed into an input; ``None`` for an empty box (meaning "not set").

    Only the form is checked here (``low`` if given); the study checks the value itself,
    so that its own reason is what the panel shows.

    Raises
    ------
    ValueError
        With a message for the user (``switch after: '1.5' is not a whole number``).
    """
    raw = str(text if text is not None else "").strip()
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: {raw!r} is not a finite number")
    if integer:
        if value != int(value):
            raise ValueError(f"{name}: {raw!r} is not a whole number")
        value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name}: {raw} is below {low:g}")
    return value


def show_number(value: Any) -> str:
    """What an input box holds for a live value (empty for ``None``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:g}"
    return str(value)


def matching_control(records: Records, action: str, value: Any = None, since: float | None = None) -> dict | None:
    """The last ``control`` record of ``action`` (with ``value``, if given) at or after ``since``."""
    for rec in reversed(records):
        if since is not None and rec.get("t", 0.0) < since - 1.0:  # a second of clock slack
            break
        if rec.get("event") == "control" and rec.get("action") == action and (
                value is None or rec.get("value") == value):
            return rec
    return None


def outcome(label: str, error: BaseException | None = None, record: dict | None = None) -> tuple[str, str]:
    """``("applied" | "refused", message)`` for a control that was sent."""
    if error is not None:
        return "refused", f"{label}: refused: {error}"
    if record is not None and record.get("refused"):
        return "refused", f"{label}: refused: {record['refused']}"
    return "applied", f"{label}: applied"


def message_html(level: str, text: str) -> str:
    """A control's message, coloured by ``level`` (``sent``, ``applied``, ``refused``) with theme colours."""
    colour = {"refused": "var(--jp-error-color1, #c62828)", "applied": "var(--jp-success-color1, #2e7d32)"}.get(
        level, "var(--jp-ui-font-color2, #555)")
    return f"<span class='hpo-msg hpo-msg-{level}' style='color:{colour}'>{html.escape(text)}</span>"


def last_pause(records: Records) -> dict | None:
    """The pause in force (the last pause not followed by a resume), or ``None``."""
    pause = None
    for rec in records:
        if rec.get("event") == "control" and rec.get("action") in ("pause", "resume"):
            pause = rec if rec["action"] == "pause" else None
    return pause


def banner(state: str, records: Records, workers: int | None = None, workers_max: int | None = None) -> str:
    """The line above the controls: paused (why, by whom), stopping, ended, lost workers; ``""`` if none."""
    parts = []
    if state == "paused":
        pause = last_pause(records) or {}
        why = f": {pause['reason']}" if pause.get("reason") else ""
        parts.append(("hpo-banner-paused", "rgba(255, 179, 0, 0.25)",
                      f"Paused by {pause.get('source', 'user')}{why}. No new trial or step starts; running "
                      f"steps finish. Resume to go on."))
    elif state == "stopping":
        parts.append(("hpo-banner-stopping", "rgba(255, 179, 0, 0.25)",
                      "Stopping: running trials end at their next epoch."))
    elif state in ENDED:
        parts.append(("hpo-banner-ended", "rgba(128, 128, 128, 0.2)",
                      f"The study has {state}; the controls are off."))
    if workers is not None and workers_max and workers < workers_max and state not in ENDED:
        lost = workers_max - workers
        parts.append(("hpo-banner-workers", "rgba(229, 57, 53, 0.22)",
                      f"Warning: {lost} of {workers_max} worker{'s' if workers_max > 1 else ''} lost "
                      f"({workers} left): steps that ran there are retried elsewhere; check the workers' logs."))
    # translucent backgrounds under the theme's own text colour: readable in light and dark themes
    return "".join(f"<div class='hpo-banner {cls}' style='background:{bg};padding:3px 6px;margin:2px 0;"
                   f"border-radius:3px'>{html.escape(text)}</div>" for cls, bg, text in parts)


def disabled(state: str, live_params: tuple[str, ...] | list[str] = (), flagged: int = 0,
             live: int = 0) -> dict[str, bool]:
    """For each of :data:`CONTROLS`: is it off now? Everything is off once the study ended."""
    if state in ENDED or state == "created":
        return {name: True for name in CONTROLS}
    steering = state in ("running", "paused")
    return {"pause": state != "running", "resume": state != "paused", "kill": not (steering and live),
            "kill-flagged": not (steering and flagged), "concurrency": not steering,
            "b": not steering or "b" not in live_params,
            "switch-trials": not steering or "switch_after_trials" not in live_params,
            "switch-seconds": not steering or "switch_after_seconds" not in live_params}
