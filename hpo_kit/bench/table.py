"""Recorded trials as data: the table format, its reader and writer, and the recorder.

Format (``hpo_kit.bench.table``, version 1)
-------------------------------------------
JSON lines, gzip-compressed when the file name ends in ``.gz``. Python's ``json`` writes
non-finite numbers as the tokens ``NaN``/``Infinity`` (as the study journal does), and they are
data here: a diverged loss is what the AGV rule reads.

The first line is the header::

    {"format": "hpo_kit.bench.table", "version": 1, "metric": "val_acc", "mode": "max",
     "max_epochs": 20, "space": {...Space.to_dict()... or null}, "meta": {...}}

then one line per recorded configuration (a *row*)::

    {"id": 0, "config": {"lr": 0.01, ...}, "status": "COMPLETED", "flags": [...],
     "epochs": [{"metrics": {"val_acc": 0.41, "train_loss": 1.9, ...},
                 "seconds": 0.052,
                 "diag": {"grad_abs": [...], "grad_zero": [...], ...}},   # optional
                ...]}

``epochs[e - 1]`` is epoch ``e``: the metrics reported, the seconds that epoch took, and the
diagnosis statistics a :class:`~hpo_kit.diagnosis.Watcher` recorded (the ``report["diag"]``
schema of ``docs/diagnosis.md``; absent without one). ``flags`` are the findings a monitor
made live (shadow mode, ``on_flag="flag"``), for reference; ground-truth quality is computed
afresh from the statistics (:mod:`hpo_kit.bench.quality`). Any source can write this format:
a study journal (:func:`record`), another tool's logs, a published benchmark's curves.
"""
from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..goal import Goal
from ..space import Categorical, Space

FORMAT, VERSION = "hpo_kit.bench.table", 1


@dataclass
class Row:
    """One recorded configuration: its config, per-epoch records, final status and live flags."""

    id: int
    config: dict[str, Any]
    epochs: list[dict[str, Any]]
    status: str = "COMPLETED"
    flags: list[dict[str, Any]] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        """The metric at each epoch (NaN where an epoch did not report it)."""
        return [_num(e["metrics"].get(metric)) for e in self.epochs]

    def seconds(self) -> list[float]:
        return [float(e.get("seconds", 0.0)) for e in self.epochs]

    def report(self, epoch: int) -> dict[str, Any]:
        """Epoch ``epoch``'s report body for the simulator: ``{"metrics": ..., "diag": ...}``."""
        e = self.epochs[epoch - 1]
        return {"metrics": dict(e["metrics"]), **({"diag": e["diag"]} if e.get("diag") is not None else {})}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "config": self.config, "status": self.status, "flags": self.flags,
                "epochs": self.epochs}


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


@dataclass
class Table:
    """A table of recorded trials (see the module docstring for the file format).

    Parameters
    ----------
    rows
        The recorded configurations.
    metric, mode
        The goal the table is judged by (e.g. ``"val_acc"``, ``"max"``).
    max_epochs
        Epochs of a full trial (every row used by a replay has at least this many).
    space
        The space the configurations were drawn from, if known (searchers then search it, and a
        proposal is mapped to its nearest row); else a space of Categorical dimensions over the
        table's values is used (:meth:`replay_space`).
    meta
        Free-form provenance (command, machine, dataset, ...).
    """

    rows: list[Row]
    metric: str
    mode: str = "max"
    max_epochs: int = 0
    space: Space | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.max_epochs:
            self.max_epochs = max((len(r.epochs) for r in self.rows), default=0)
        self._index: dict[tuple, Row] = {}
        self._columns: dict[str, tuple[str, Any, Any]] | None = None

    @property
    def goal(self) -> Goal:
        return Goal(self.metric, self.mode)

    def __len__(self) -> int:
        return len(self.rows)

    def complete(self) -> "Table":
        """The rows with at least ``max_epochs`` epochs (a replay's rows), as a new table."""
        rows = [r for r in self.rows if len(r.epochs) >= self.max_epochs]
        return Table(rows, self.metric, self.mode, self.max_epochs, self.space, dict(self.meta))

    # -- the replay's view -----------------------------------------------------------------------
    def replay_space(self) -> Space:
        """The recorded space, else one Categorical dimension per config key over the table's values."""
        if self.space is not None:
            return self.space
        keys = sorted({k for r in self.rows for k in r.config})
        dims = {}
        for k in keys:
            values = sorted({r.config[k] for r in self.rows if k in r.config}, key=lambda v: (str(type(v)), v))
            dims[k] = Categorical(values)
        return Space(dims)

    def nearest(self, config: Mapping[str, Any]) -> Row:
        """The row whose config equals ``config``, else the nearest one (:func:`distance`, ties to the
        first row); cached per configuration."""
        key = _key(config)
        row = self._index.get(key)
        if row is None:
            if not self._index:
                self._index.update({_key(r.config): r for r in reversed(self.rows)})  # the first row wins a tie
                row = self._index.get(key)
            if row is None:
                row = self.rows[int(np.argmin(self._distances(config)))]
                self._index[key] = row
        return row

    def _distances(self, config: Mapping[str, Any]) -> np.ndarray:
        """:func:`distance` from ``config`` to every row, vectorised over the rows."""
        if getattr(self, "_columns", None) is None:
            space = self.replay_space()
            keys = sorted(set(space) | {k for r in self.rows for k in r.config})
            cols: dict[str, tuple[str, Any, Any]] = {}
            for k in keys:
                dim = space[k] if k in space else None
                if dim is not None and not isinstance(dim, Categorical):
                    u = [dim.to_unit(r.config[k]) if r.config.get(k) is not None else math.nan for r in self.rows]
                    cols[k] = ("num", dim, np.asarray(u, dtype=float))
                else:
                    codes: dict[str, int] = {}
                    c = [codes.setdefault(repr(r.config.get(k)), len(codes)) for r in self.rows]
                    cols[k] = ("cat", codes, np.asarray(c))
            self._columns = cols
        d = np.zeros(len(self.rows))
        for k, (kind, info, col) in self._columns.items():
            x = config.get(k)
            if kind == "cat":
                d += 10.0 * (col != info.get(repr(x), -1))
            elif x is None:
                d += np.where(np.isnan(col), 0.0, 10.0)
            else:
                d += np.where(np.isnan(col), 10.0, np.abs(col - info.to_unit(x)))
        for k in set(config) - set(self._columns):
            d += 0.0 if config[k] is None else 10.0
        return d

    # -- files -----------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "metric": self.metric, "mode": self.mode,
                "max_epochs": self.max_epochs, "space": self.space.to_dict() if self.space is not None else None,
                "meta": self.meta}

    def save(self, path: str | os.PathLike, digits: int | None = 6) -> None:
        """Write the table; floats rounded to ``digits`` significant digits (``None``: exact)."""
        path = os.fspath(path)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            for obj in [self.header(), *(r.to_dict() for r in self.rows)]:
                f.write(json.dumps(_round(obj, digits), separators=(",", ":"), default=_jsonable) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Table":
        """Read a table written by :meth:`save` (or by any tool that writes the format).

        Raises
        ------
        ValueError
            If the first line is not a header of this format, or a newer version.
        """
        path = os.fspath(path)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        return cls.from_records(lines, source=path)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], source: str = "table") -> "Table":
        records = list(records)
        if not records or records[0].get("format") != FORMAT:
            raise ValueError(f"{source}: not a {FORMAT} file (its first line must be the header)")
        head = records[0]
        if head.get("version", 1) > VERSION:
            raise ValueError(f"{source}: table version {head['version']} is newer than this reader ({VERSION})")
        rows = [Row(int(r["id"]), dict(r["config"]), list(r["epochs"]), r.get("status", "COMPLETED"),
                    list(r.get("flags") or [])) for r in records[1:]]
        space = Space.from_dict(head["space"]) if head.get("space") else None
        return cls(rows, head["metric"], head.get("mode", "max"), int(head.get("max_epochs") or 0), space,
                   dict(head.get("meta") or {}))


def _key(config: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in config.items()))


def distance(space: Space, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Distance between two configs: a differing categorical value costs 10 (so every categorical
    matches when some row allows it), a numeric one its difference as a fraction of the dimension's
    range (``Dimension.to_unit``: on a log axis for log dimensions); keys outside the space: 10 when
    they differ."""
    total = 0.0
    for k in set(a) | set(b):
        x, y = a.get(k), b.get(k)
        dim = space[k] if k in space else None
        if dim is None or isinstance(dim, Categorical) or x is None or y is None:
            total += 0.0 if x == y else 10.0
        else:
            total += abs(dim.to_unit(x) - dim.to_unit(y))
    return total


def _round(obj: Any, digits: int | None) -> Any:
    if digits is None:
        return obj
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v, digits) for v in obj]
    return obj


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "value"):
        return value.value
    return str(value)


def record(journal: str | os.PathLike, *, complete_only: bool = True, meta: dict[str, Any] | None = None) -> Table:
    """A table from a real study's journal: one row per trial, its reports as epochs.

    Metric, mode, space and ``max_epochs`` come from the journal's ``study_start``. An epoch's
    ``seconds`` is the time between its report and the previous one (the first: since the trial
    started, so it includes the model's setup); when a trial paused and resumed (ASHA), the gaps
    are scaled down so that they sum to the trial's busy time. ``diag`` is the report's ``diag``.

    Parameters
    ----------
    complete_only
        Keep only trials that reported all ``max_epochs`` epochs (the replay needs full curves);
        how many were dropped goes to ``meta["incomplete"]``.
    """
    from ..engine.replay import replay

    rep = replay(journal)
    start = rep.start
    goal = start.get("goal") or {}
    settings = start.get("settings") or {}
    max_epochs = int(settings.get("max_epochs") or 0)
    rows, dropped = [], 0
    for tid in sorted(rep.trials):
        t = rep.trials[tid]
        reports = sorted(t.reports, key=lambda r: r["epoch"])
        if not reports or (complete_only and max_epochs and reports[-1]["epoch"] < max_epochs):
            dropped += 1
            continue
        times = [float(r["t"]) for r in reports]
        t0 = float(t.started) if t.started is not None else times[0]
        gaps = [max(0.0, b - a) for a, b in zip([t0, *times[:-1]], times)]
        if t.busy and sum(gaps) > 1.05 * t.busy:
            gaps = [g * t.busy / sum(gaps) for g in gaps]
        epochs = [{"metrics": dict(r["metrics"]), "seconds": g, **({"diag": r["diag"]} if "diag" in r else {})}
                  for r, g in zip(reports, gaps)]
        rows.append(Row(tid, dict(t.config), epochs, t.status.value, list(t.flags)))
    space = Space.from_dict(start["space"]) if start.get("space") else None
    info = {"source": os.fspath(journal), "study": start.get("name"), "incomplete": dropped, **(meta or {})}
    return Table(rows, goal.get("metric", "loss"), goal.get("mode", "min"), max_epochs, space, info)
