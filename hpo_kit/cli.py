"""Command line: ``hpo-kit demo`` (the main job), ``hpo-kit show JOURNAL`` and ``hpo-kit export JOURNAL``.

The help texts are plain text (argparse prints them as they are), and every option shows
its default.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

DESCRIPTION = ("Hyperparameter optimisation on Dask. 'hpo-kit demo' tunes a small torch MLP on "
               "scikit-learn's digits on an embedded Dask LocalCluster; 'hpo-kit show JOURNAL' prints "
               "the trials of a study's journal, best first; 'hpo-kit export JOURNAL --to csv' writes them "
               "to a file.")
#: The columns ``show`` prints by default (after the trial id, the index), then every ``config.*``.
COMPACT = ("status", "score", "epochs", "busy")
#: Widest a table cell may be (longer text, e.g. an error, is cut with "...").
MAX_COLWIDTH = 24


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` to each option's help; an option whose default is ``None``
    says in its own help what that default means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def best_report(trial: Any, goal: Any) -> dict[str, Any] | None:
    """The report that gives the trial its score: one epoch, all its metrics.

    Parameters
    ----------
    trial
        A :class:`~hpo_kit.trial.Trial`.
    goal
        The study's :class:`~hpo_kit.goal.Goal`.

    Returns
    -------
    dict or None
        The report (``epoch``, ``metrics``, ...) whose goal metric equals the trial's score
        (its first such epoch for ``score="best"``, its last for ``score="last"``);
        ``None`` when the trial has no finite score.
    """
    score = trial.score(goal)
    if score is None:
        return None
    hits = [r for r in trial.reports if r["metrics"].get(goal.metric) is not None
            and float(r["metrics"][goal.metric]) == score]
    if not hits:
        return None
    return hits[-1] if goal.score == "last" else hits[0]


def with_best_metrics(df: Any, trials: Iterable[Any], goal: Any) -> Any:
    """Add ``best.<metric>`` columns: each metric at the epoch that gave the trial its score.

    Parameters
    ----------
    df
        :func:`~hpo_kit.results.trials_frame` of ``trials``.
    trials, goal
        The trials and the study's goal.

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` with the new columns (NaN for trials without a finite score).
    """
    rows = {}
    for t in trials:
        rep = best_report(t, goal)
        if rep is not None:
            rows[t.id] = {"best.epoch": rep["epoch"], **{f"best.{k}": v for k, v in rep["metrics"].items()}}
    out = df.copy()
    if rows:
        import pandas as pd

        out = out.join(pd.DataFrame.from_dict(rows, orient="index"))
    return out


def trials_table(df: Any, goal: Any, columns: Sequence[str] | None = None, head: int | None = None,
                 max_colwidth: int = MAX_COLWIDTH) -> str:
    """A trials frame as text: best score first (per the goal's mode), trials without a score last.

    Parameters
    ----------
    df
        A frame indexed by trial id with a ``score`` column (:func:`~hpo_kit.results.trials_frame`).
    goal
        The study's :class:`~hpo_kit.goal.Goal` (its ``mode`` orders the rows).
    columns
        The columns to show (``trial_id``, the index, is always shown); ``None``: :data:`COMPACT`
        and the ``config.*`` columns.
    head
        Show only this many rows (``None``: all).
    max_colwidth
        Widest a cell may be.

    Returns
    -------
    str
        The table, or ``"(no trials)"``.

    Raises
    ------
    ValueError
        For a column the frame does not have (the message lists those it has).
    """
    if columns is None:
        columns = [*COMPACT, *(c for c in df.columns if c.startswith("config."))]
    columns = [c for c in columns if c != df.index.name]
    if df.empty:
        return "(no trials)"
    unknown = [c for c in columns if c not in df.columns]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; choose from: "
                         f"{', '.join([df.index.name, *map(str, df.columns)])}")
    rows = df.sort_values("score", ascending=goal.mode == "min", na_position="last", kind="stable")
    if head is not None:
        rows = rows.head(head)
    if not columns:  # only the trial id
        return rows.index.to_frame(index=False).to_string(index=False)
    return rows[list(columns)].to_string(max_colwidth=max_colwidth, float_format=lambda v: f"{v:.4g}")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def best_line(trial: Any, goal: Any) -> str:
    """``best trial ID (epoch E): metric=... other=...``: every value from that one epoch."""
    rep = best_report(trial, goal)
    if rep is None:
        return f"best trial {trial.id}: no finite {goal.metric}"
    metrics = rep["metrics"]
    names = [goal.metric, *(k for k in metrics if k != goal.metric)]
    return f"best trial {trial.id} (epoch {rep['epoch']}): " + " ".join(f"{k}={_number(metrics[k])}"
                                                                        for k in names)


def _print_dashboard(record: dict[str, Any]) -> None:
    # A study listener: the study_start record carries the client's dashboard link.
    if record.get("event") == "study_start" and record.get("dashboard"):
        print(f"Dask dashboard: {record['dashboard']}", flush=True)


def demo(args: argparse.Namespace) -> int:
    """Tune a small torch MLP on sklearn's digits on an embedded LocalCluster (time-aware BO by default)."""
    from . import Study
    from .examples import digits, digits_mlp, digits_space

    optimizer: object = args.optimizer
    if args.optimizer == "bo":
        from .searchers.bo import TimeAwareBO

        optimizer = TimeAwareBO(b=0.1, switch_after_trials=args.trials // 2, seed=args.seed)
    elif args.optimizer == "random":
        from .optimizers import RandomSearch

        optimizer = RandomSearch(seed=args.seed)
    t0 = time.time()
    study = Study(digits_mlp, digits_space(), metric="val_loss", mode="min", optimizer=optimizer,
                  n_trials=args.trials, max_epochs=args.epochs, data=digits, n_workers=args.workers,
                  journal=args.journal, name=time.strftime("demo-%Y%m%d-%H%M%S"), seed=args.seed)
    study.listeners.append(_print_dashboard)
    print(f"hpo-kit demo: {args.trials} trials x {args.epochs} epochs, digits MLP, journal {study.journal_path}, "
          f"seed {study.seed}",
          flush=True)
    study.run(progress=True)
    trials = list(study.trials.values())
    df = with_best_metrics(study.results, trials, study.goal)
    best = study.best_trial
    if best is None:
        print("no trial produced a finite val_loss")
        return 1
    columns = [*COMPACT, *(["best.val_acc"] if "best.val_acc" in df.columns else []),
               *(c for c in df.columns if c.startswith("config."))]
    print("\nTop 5 trials by val_loss (best.val_acc: at the epoch of the best val_loss):")
    print(trials_table(df, study.goal, columns, head=5))
    print(f"\n{best_line(best, study.goal)}")
    print(f"best config: {best.config}")
    print(f"{len(df)} trials, {(df.status == 'COMPLETED').sum()} completed, wall {time.time() - t0:.1f} s")
    return 0


def show(args: argparse.Namespace) -> int:
    """Print a journal's trials as a table, best first."""
    from .engine.replay import replay
    from .goal import Goal
    from .results import trials_frame

    try:
        rep = replay(args.journal)
    except FileNotFoundError:
        print(f"hpo-kit show: no journal at {args.journal!r}", file=sys.stderr)
        return 1
    goal = Goal(**rep.start["goal"])
    trials = list(rep.trials.values())
    df = with_best_metrics(trials_frame(trials, goal), trials, goal)
    columns = None if args.columns is None else [c.strip() for c in args.columns.split(",") if c.strip()]
    try:
        print(trials_table(df, goal, columns, max_colwidth=args.max_colwidth))
    except ValueError as exc:
        print(f"hpo-kit show: {exc}", file=sys.stderr)
        return 2
    return 0


def export(args: argparse.Namespace) -> int:
    """Write a journal's trials as CSV or Parquet."""
    from .export import check_format, export_trials

    try:
        check_format(args.to)  # a missing pyarrow is said before the journal is read
        path = export_trials(args.journal, args.to, args.output)
    except FileNotFoundError:
        print(f"hpo-kit export: no journal at {args.journal!r}", file=sys.stderr)
        return 1
    except (ImportError, ValueError) as exc:
        msg = str(exc)
        print(f"hpo-kit {msg}" if msg.startswith("export:") else f"hpo-kit export: {msg}", file=sys.stderr)
        return 2
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``hpo-kit`` argument parser (its subcommands ``demo``, ``show`` and ``export``)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="hpo-kit", description=DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"hpo-kit {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to run")
    d = sub.add_parser("demo", help="tune a torch MLP on digits on an embedded LocalCluster",
                       description="Tune a small torch MLP on scikit-learn's digits with time-aware Bayesian "
                                   "optimisation on an embedded Dask LocalCluster; prints the Dask dashboard "
                                   "link, a progress bar and the best trials.", formatter_class=_Formatter)
    d.add_argument("--trials", type=int, default=60, help="trials to run")
    d.add_argument("--epochs", type=int, default=20, help="epochs per trial")
    d.add_argument("--workers", type=int, default=None,
                   help="worker processes of the LocalCluster (default: one per core)")
    d.add_argument("--optimizer", choices=["random", "bo"], default="bo",
                   help="'bo': time-aware Bayesian optimisation; 'random': random search")
    d.add_argument("--seed", type=int, default=None,
                   help="seed of the study's draws (default: a fresh one, printed and journalled)")
    d.add_argument("--journal", default=None, help="journal path (default: hpo-runs/demo-<time>.jsonl)")
    d.set_defaults(fn=demo)
    s = sub.add_parser("show", help="print the trials of a journal, best first",
                       description="Print the trials of a study's journal, best score first (trials without "
                                   "a score last).", formatter_class=_Formatter)
    s.add_argument("journal", help="the study's journal (.jsonl)")
    s.add_argument("--columns", default=None, metavar="A,B,C",
                   help="comma-separated columns to show, e.g. score,config.lr,best.val_acc (default: "
                        f"{','.join(COMPACT)} and every config.* column; the trial id is always shown)")
    s.add_argument("--max-colwidth", type=int, default=MAX_COLWIDTH, help="widest a table cell may be")
    s.set_defaults(fn=show)
    e = sub.add_parser("export", help="write the trials of a journal as CSV or Parquet",
                       description="Write the trials of a study's journal (the columns of study.results and "
                                   "'show', best.* included) as CSV or Parquet (Parquet needs pyarrow).",
                       formatter_class=_Formatter)
    e.add_argument("journal", help="the study's journal (.jsonl)")
    e.add_argument("--to", choices=["csv", "parquet"], default="csv", help="the file format")
    e.add_argument("-o", "--output", default=None,
                   help="where to write (default: the journal's path with .csv or .parquet)")
    e.set_defaults(fn=export)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``hpo-kit`` with ``argv`` (default: the process's arguments); returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
