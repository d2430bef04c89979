"""ASHA exact under asynchrony: promotions recorded outside their rung's top, with many steps in flight.

A step of ASHA decides alone at its rungs with cut-offs the driver keeps fresh in the run's control
record; the driver records a promotion only if the trial is in the rung's top ``floor(n/eta)`` when
it records it, and halts a step whose decision it refuses. This replays the study's journal
(:func:`hpo_kit.schedulers.exact.promotion_audit`) and prints: promotions, in-step ones, those outside
the top when recorded (the goal: 0), and the refused (halted) in-step decisions, whose speculative
epochs are the price of exactness.

    python benchmarks/asha_exact.py                 # 2,400 trials, 8 threads: >= 1,000 in-step promotions
    python benchmarks/asha_exact.py --trials 300    # quicker
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from distributed import Client, LocalCluster

from hpo_kit import ASHA, Real, Study, read_journal
from hpo_kit.schedulers.exact import promotion_audit


def quick(config, reporter):
    """Epochs of 2-10 ms: rung results land while other steps decide."""
    for epoch in range(1, reporter.max_epochs + 1):
        time.sleep(0.002 * (1 + (epoch * 7919 + int(config["x"] * 1e6)) % 5))
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2400)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with LocalCluster(n_workers=1, threads_per_worker=args.threads, processes=False, dashboard_address=None) as cl, \
            Client(cl) as client, tempfile.TemporaryDirectory() as tmp:
        journal = os.path.join(tmp, "j.jsonl")
        study = Study(quick, {"x": Real(0, 1)}, n_trials=args.trials, max_epochs=9, cluster=client,
                      scheduler=ASHA(r_min=1, eta=args.eta, seed=args.seed), concurrency=args.threads, journal=journal, seed=0)
        t0 = time.perf_counter()
        study.run(progress=False)
        wall = time.perf_counter() - t0
        audit = promotion_audit(read_journal(journal), eta=args.eta)
    print(f"ASHA(r_min=1, eta={args.eta}), max_epochs=9, {args.trials} trials, {args.threads} steps in flight, "
          f"{wall:.0f} s, load {os.getloadavg()[0]:.1f}")
    print("| promotions | in-step | outside the top when recorded | in-step refused (halted) |")
    print("|---|---|---|---|")
    print(f"| {audit.promotions} | {audit.in_step} | {len(audit.outside)} | {audit.halted} |")
    return 1 if audit.outside else 0


if __name__ == "__main__":
    sys.exit(main())
