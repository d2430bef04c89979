"""Command line: ``hpo-kit demo`` (the main job) and ``hpo-kit show JOURNAL``."""
from __future__ import annotations

import argparse
import sys
import time


def demo(args: argparse.Namespace) -> int:
    """Tune a small torch MLP on sklearn's digits on an embedded LocalCluster."""
    from . import Study
    from .examples import digits, digits_mlp, digits_space

    optimizer: object = args.optimizer
    if args.optimizer == "bo":
        from .optimizers.bo import TimeAwareBO

        optimizer = TimeAwareBO(b=0.1, switch_after_trials=args.trials // 2, seed=args.seed)
    elif args.optimizer == "random":
        from .optimizers import RandomSearch

        optimizer = RandomSearch(seed=args.seed)
    t0 = time.time()
    study = Study(digits_mlp, digits_space(), metric="val_loss", mode="min", optimizer=optimizer,
                  n_trials=args.trials, max_epochs=args.epochs, data=digits, n_workers=args.workers,
                  journal=args.journal, name=time.strftime("demo-%Y%m%d-%H%M%S"))
    print(f"hpo-kit demo: {args.trials} trials x {args.epochs} epochs, digits MLP, journal {study.journal_path}")
    study.run(progress=True)
    df = study.results
    best = study.best_trial
    if best is None:
        print("no trial produced a finite val_loss")
        return 1
    acc = best.reports[-1]["metrics"]["val_acc"]
    cols = [c for c in df.columns if c.startswith("config.")] + ["status", "score", "last.val_acc", "busy"]
    print("\nTop 5 trials by val_loss:")
    print(df.sort_values("score")[cols].head(5).to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"\nbest trial {best.id}: val_loss={best.score(study.goal):.4f} val_acc={acc:.3f}")
    print(f"best config: {best.config}")
    print(f"{len(df)} trials, {(df.status == 'COMPLETED').sum()} completed, wall {time.time() - t0:.1f} s")
    return 0


def show(args: argparse.Namespace) -> int:
    """Print a journal's trials as a table."""
    from .engine.replay import replay
    from .goal import Goal
    from .results import trials_frame

    rep = replay(args.journal)
    print(trials_frame(rep.trials.values(), Goal(**rep.start["goal"])).drop(columns=["traceback"]).to_string())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hpo-kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="tune a torch MLP on digits on an embedded LocalCluster")
    d.add_argument("--trials", type=int, default=60)
    d.add_argument("--epochs", type=int, default=20)
    d.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: one per core)")
    d.add_argument("--optimizer", choices=["random", "bo"], default="bo")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--journal", default=None)
    d.set_defaults(fn=demo)
    s = sub.add_parser("show", help="print the trials of a journal")
    s.add_argument("journal")
    s.set_defaults(fn=show)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
