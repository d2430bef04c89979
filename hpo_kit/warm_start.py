"""Warm start: tell the searcher earlier studies' results before its first ask.

``Study(..., warm_start=[path, study.results, ...])``: each source is a journal path (any
earlier study of a compatible space) or a pandas DataFrame (``study.results``, or a frame
of your own with one column per dimension, ``config.<name>`` or ``<name>``, and a column
named after the metric, or ``score``). The rows become observations for the *searcher*
(``searcher.tell``), not trials of this study: they do not count toward ``n_trials``, take no
place in a scheduler's rungs, and are not in ``study.results``. Their ids are negative
(-1, -2, ...), so they never collide with a trial's.

What is used, per source, checked in the caller (before the study exists):

* the value: a journal's trials are scored again under *this* study's goal from their
  reported values (another ``mode`` or ``score`` rule is fine); a frame's ``<metric>``
  column, else its ``score`` column where the frame has ``last.<metric>`` (it is a
  ``study.results`` of this metric; ``frame.attrs["metric"]`` says which), else ``last.<metric>``.
  Rows without a finite value, FAILED or unfinished (PENDING, RUNNING) trials are skipped (a
  failure's penalty needs this study's scale);
* dimensions: old dimensions this space lacks are dropped; a row that lacks one of this
  space's dimensions, or whose value lies outside its new range, is skipped. Each is named
  in one warning per source.

An incompatible source raises ``ValueError`` naming ``warm_start``: one that shares no
dimension with this space, or reports no value of this study's metric. The observations
themselves (config, loss, epochs, busy seconds) are journalled in one ``warm_start`` record
at the study's start, with each source's name and counts, so ``Study.resume(path)`` tells
the rebuilt searcher the same history without the sources (moved or changed since).
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .goal import Goal
from .space import Space
from .trial import Observation, TrialStatus

_UNFINISHED = {"FAILED", "PENDING", "RUNNING"}


@dataclass
class WarmStart:
    """Earlier results for the searcher (see the module docstring).

    Attributes
    ----------
    observations
        What the searcher is told, ids -1, -2, ...
    sources
        Per source: its name, ``rows`` read, ``used``, and ``skipped`` (why -> count).
    """

    observations: list[Observation] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """The journal's ``warm_start`` record fields."""
        return {"sources": self.sources, "count": len(self.observations),
                "observations": [{"config": o.config, "loss": o.loss, "epochs": o.epochs, "busy": o.duration}
                                 for o in self.observations]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "WarmStart":
        """Read back a ``warm_start`` record (the replay has checked its shape)."""
        return cls([_observation(i, o["config"], o["loss"], o.get("epochs", 0), o.get("busy", 0.0))
                    for i, o in enumerate(record["observations"])], list(record.get("sources", [])))


def _observation(i: int, config: dict[str, Any], loss: float, epochs: int, busy: float) -> Observation:
    return Observation(trial_id=-(i + 1), config=dict(config), loss=float(loss), status=TrialStatus.COMPLETED,
                       epochs=int(epochs), duration=float(busy or 0.0), final=True)


def tell_warm(policy: Any, warm: WarmStart | None) -> None:
    """Tell the policy's searcher the warm observations (after its setup, before any ask)."""
    if warm is None:
        return
    searcher = getattr(policy, "searcher", policy)
    for obs in warm.observations:
        searcher.tell(obs)


def load_warm_start(sources: Any, space: Space, goal: Goal, max_epochs: int | None) -> WarmStart | None:
    """Read and check ``warm_start`` sources (module docstring); ``None`` for none.

    Raises
    ------
    ValueError
        Naming ``warm_start`` for a source that is no path or DataFrame, cannot be read, shares
        no dimension with ``space`` or has no value of ``goal.metric``.
    """
    if sources is None:
        return None
    if isinstance(sources, (str, os.PathLike)) or _is_frame(sources):
        sources = [sources]
    if not isinstance(sources, Iterable):
        raise ValueError(f"Study: warm_start={sources!r} must be a list of journal paths or DataFrames")
    warm = WarmStart()
    for source in sources:
        if isinstance(source, (str, os.PathLike)):
            name, rows = os.fspath(source), _journal_rows(os.fspath(source), goal)
        elif _is_frame(source):
            name, rows = "DataFrame", _frame_rows(source, goal)
        else:
            raise ValueError(f"Study: warm_start holds {source!r:.80}, which is neither a journal path nor a "
                             f"pandas DataFrame")
        used, skipped = _fit(name, rows, space, max_epochs)
        for config, loss, epochs, busy in used:
            warm.observations.append(_observation(len(warm.observations), config, goal.loss(loss), epochs, busy))
        warm.sources.append({"source": name, "rows": len(rows), "used": len(used), "skipped": skipped})
    return warm


Row = tuple[dict[str, Any], float | None, int | None, float, str]  # config, value, epochs, busy, status


def _journal_rows(path: str, goal: Goal) -> list[Row]:
    from .engine.audit import replay_audited

    if not os.path.isfile(path):
        raise ValueError(f"Study: warm_start={path!r} is no journal file")
    try:
        rep = replay_audited(path)
    except ValueError as exc:
        raise ValueError(f"Study: warm_start={path!r} cannot be read as a journal ({exc})") from None
    trials = [t for t in rep.trials.values() if not t.discard]
    if not any(t.values(goal.metric) for t in trials):
        old = rep.start.get("goal", {}).get("metric")
        raise ValueError(f"Study: warm_start={path!r}: no trial of it reported metric={goal.metric!r} (it "
                         f"optimised {old!r}); warm start needs this study's metric")
    return [(t.config, goal.score_of(t.values(goal.metric)), t.epochs, t.busy, t.status.value) for t in trials]


def _frame_rows(frame: Any, goal: Goal) -> list[Row]:
    cols = set(frame.columns)
    last = f"last.{goal.metric}"
    if goal.metric in cols:
        value_col = goal.metric
    elif "score" in cols and last in cols and frame.attrs.get("metric", goal.metric) == goal.metric:
        value_col = "score"
    elif last in cols:  # a study.results of another metric that also reported this one: its last value
        value_col = last
    else:
        raise ValueError(f"Study: warm_start DataFrame has no column {goal.metric!r}, nor a 'score' column with "
                         f"'last.{goal.metric}' (a study.results of this metric); columns: {sorted(cols)[:12]}")
    from .results import COLUMNS

    names = [c for c in frame.columns if isinstance(c, str)]
    own = [c for c in names if c not in (value_col, "trial_id", *COLUMNS) and "." not in c]  # a frame of one's own
    rows = []
    for rec in frame.to_dict("records"):
        config = {c[7:]: rec[c] for c in names if c.startswith("config.")} or {c: rec[c] for c in own}
        epochs = rec.get("epochs")
        rows.append((config, _finite(rec.get(value_col)), int(epochs) if _finite(epochs) is not None else None,
                     _finite(rec.get("busy")) or 0.0, str(rec.get("status", "COMPLETED"))))
    return rows


def _fit(name: str, rows: list[Row], space: Space,
         max_epochs: int | None) -> tuple[list[tuple[dict, float, int, float]], dict[str, int]]:
    """The rows this space and goal can use, and why the others were skipped."""
    dims = list(space)
    seen = {k for config, *_ in rows for k in config}
    if rows and not seen & set(dims):
        raise ValueError(f"Study: warm_start source {name!r} shares no dimension with this space (it has "
                         f"{sorted(seen)}, the space {dims})")
    used, skipped = [], {}
    for config, value, epochs, busy, status in rows:
        config, missing = _active_part(space, config)
        outside = [d for d in config if not _contains(space, d, config[d])]
        why = (f"missing {missing}" if missing else f"outside the space: {outside}" if outside
               else f"status {status}" if status in _UNFINISHED else "no finite value" if value is None else None)
        if why is not None:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        kept = space.validate({d: _plain(v) for d, v in config.items()})
        used.append((kept, value, epochs if epochs is not None else (max_epochs or 0), busy))
    dropped = sorted(seen - set(dims))
    if skipped or dropped:
        parts = [f"{n} row(s) skipped ({why})" for why, n in skipped.items()]
        parts += [f"dimension(s) {dropped} not in this space ignored"] if dropped else []
        warnings.warn(f"warm_start {name!r}: " + "; ".join(parts), UserWarning, stacklevel=4)
    return used, skipped


def _active_part(space: Space, config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The row's values of the dimensions active under it (parents first), and the active ones it lacks.

    On a conditional space an inactive dimension is not missing: an Adam row has no ``momentum``.
    """
    from .conditions import active

    kept: dict[str, Any] = {}
    missing = []
    for name in space.order:
        if not active(space, name, kept):
            continue
        if name in config and not _missing(config[name]):
            kept[name] = config[name]
        else:
            missing.append(name)
    return kept, missing


def _contains(space: Space, name: str, value: Any) -> bool:
    try:
        return bool(space[name].contains(_plain(value)))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns")  # no pandas import for a list
