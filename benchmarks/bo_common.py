"""Helpers shared by ``benchmarks/bo.py`` (simulator sections) and ``benchmarks/bo_live.py`` (sections on
real threads and clusters): Branin, the tables printed, suggestion sources, the paired comparison.

The table printer and the suggestion-source count are ``benchmarks/tabular*.py``'s (imported: one definition);
this folder must be on ``sys.path``, as it is for ``bo.py`` and ``tabular.py``."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from hpo_kit import Goal, Real, Space
from tabular_report import table_md
from tabular_runs import count_sources, format_sources  # noqa: F401 - the bo benchmarks' too

GOAL = Goal("loss", "min")
BRANIN = Space({"x1": Real(-5.0, 10.0), "x2": Real(0.0, 15.0)})
BRANIN_MIN = 0.397887


def branin(c: dict) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def table(title: str, header: list[str], rows: list[list]) -> None:
    """A Markdown table (``tabular_report.table_md``), floats as ``.4g``, anything else as ``str``."""
    table_md(title, header, rows, cell=_fmt)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


SYNC = "synchronous refits (background=False)"
BACKGROUND = "background refits (background=True)"


def journal_sources(path: object) -> Counter:
    """Sources of a real Study's suggestions, from its journal's ``trial_create`` records."""
    from hpo_kit import read_journal

    return Counter(str(rec.get("info", {}).get("source", "?")) for rec in read_journal(path)
                   if rec.get("event") == "trial_create")


def bootstrap_ci(values: list[float], n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean of ``values``."""
    x = np.asarray(values, dtype=float)
    means = x[np.random.default_rng(seed).integers(0, len(x), (n, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(run: Callable[[int, float], tuple[float, float]], seeds: int, b: float, title: str,
            best_label: str, alternate: bool = False) -> None:
    """Run both arms per seed; with ``alternate`` odd seeds run the time-aware arm first (no order bias)."""
    rows, time_ratios, best_ratios = [], [], []
    for s in range(seeds):
        if alternate and s % 2:
            t1, l1 = run(s, b)
            t0, l0 = run(s, 0.0)
        else:
            t0, l0 = run(s, 0.0)
            t1, l1 = run(s, b)
        time_ratios.append(t1 / t0)
        best_ratios.append(l1 / l0)
        rows.append([s, t0, t1, t1 / t0, l0, l1, l1 / l0])
    table(title, ["seed", "time standard", "time time-aware", "time ratio", f"{best_label} standard",
                  f"{best_label} time-aware", f"{best_label} ratio"], rows)
    lo, hi = bootstrap_ci(time_ratios)
    print(f"\ntotal time ratio (time-aware / standard): mean {np.mean(time_ratios):.3f}, 95% CI [{lo:.3f}, {hi:.3f}]")
    lo, hi = bootstrap_ci(best_ratios)
    print(f"{best_label} ratio (time-aware / standard): mean {np.mean(best_ratios):.3f}, 95% CI [{lo:.3f}, {hi:.3f}]")


def load_average() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())
