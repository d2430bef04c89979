"""GPU checks and timings: the CUDA paths of a study, and trials sharing a GPU.

Run on a machine with a GPU::

    python benchmarks/gpu.py            # ~3 minutes on an H100/H200
    python benchmarks/gpu.py --quick    # smaller; also runs on CPU (paths only, no GPU claim)

What it measures (one LocalCluster worker that declares ``GPU=1`` and has 4 threads):

1. CUDA paths: a study of ``SmallCNN`` Trainables (4-conv CNN, batch 128, synthetic
   CIFAR-shaped data) trains on ``cuda`` (each report says so), checkpoints GPU state
   and reloads it (``study.best_model()`` predicts on the GPU).
2. Throughput at 1 trial per GPU (``resources={"GPU": 1}``) against 4 per GPU
   (``{"GPU": 0.25}``), same trials, interleaved twice; trials per minute and the ratio.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time

from hpo_kit import Categorical, Real, Space, Study
from hpo_kit.engine.cluster import local_cluster
from hpo_kit.examples.cnn import SmallCNN, synthetic_images


def _warm_cuda() -> str:
    """Initialise CUDA on a worker (returns a string: tensors would have to travel back)."""
    import torch

    return str(torch.zeros(1, device="cuda" if torch.cuda.is_available() else "cpu").device)


def space() -> Space:
    return Space({"lr": Real(0.005, 0.05, log=True), "width": Categorical([32]), "batch_size": Categorical([128])})


def run(client, fraction: float, n_trials: int, epochs: int, tmp: str, tag: str, n_images: int) -> tuple[float, Study]:
    study = Study(SmallCNN, space(), metric="val_loss", n_trials=n_trials, max_epochs=epochs, cluster=client,
                  data=functools.partial(synthetic_images, n_images), resources={"GPU": fraction}, journal=f"{tmp}/{tag}.jsonl", prefetch=0, seed=0)
    t0 = time.perf_counter()
    study.run(progress=False)
    return time.perf_counter() - t0, study


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--images", type=int, default=None, help="training images (default 5000; 256 with --quick)")
    a = p.parse_args()
    import torch

    n_trials = a.trials or (4 if a.quick else 16)
    epochs = a.epochs or (2 if a.quick else 5)
    n_images = a.images or (256 if a.quick else 5000)
    gpu = torch.cuda.is_available()
    print(f"torch {torch.__version__}, cuda available: {gpu}" + (f", {torch.cuda.get_device_name(0)}" if gpu else ""))
    with tempfile.TemporaryDirectory() as tmp, local_cluster(1, resources={"GPU": 1}, threads_per_worker=4) as lc:
        from distributed import Client

        with Client(lc) as client:
            client.run(_warm_cuda)
            run(client, 1.0, 1, 1, tmp, "warm", n_images)
            times: dict[float, list[float]] = {1.0: [], 0.25: []}
            studies = {}
            for rep in range(1 if a.quick else 2):
                for fraction in (1.0, 0.25):
                    wall, study = run(client, fraction, n_trials, epochs, tmp, f"f{fraction}-{rep}", n_images)
                    times[fraction].append(wall)
                    studies[fraction] = study
            best = studies[0.25].best_trial
            on_cuda = all(r["metrics"]["cuda"] == 1.0 for t in studies[0.25].trials.values() for r in t.reports)
            model = studies[0.25].best_model()
            probs = model.predict(synthetic_images(100)[2][:8])
    print("\n== CUDA paths ==")
    print(f"every report trained on cuda: {on_cuda}; best trial {best.id} val_acc "
          f"{best.reports[-1]['metrics']['val_acc']:.3f}; best_model().predict device: {probs.device}, "
          f"rows sum to 1: {bool(torch.allclose(probs.sum(1), torch.ones(8, device=probs.device)))}")
    print(f"\n== {n_trials} trials x {epochs} epochs of {n_images} images, one worker with GPU=1 and 4 threads (median of runs) ==")
    print("| trials per GPU | wall s | trials/min |")
    print("|---|---|---|")
    med = {f: statistics.median(v) for f, v in times.items()}
    for f, label in ((1.0, "1 (GPU=1)"), (0.25, "4 (GPU=0.25)")):
        print(f"| {label} | {med[f]:.1f} | {60 * n_trials / med[f]:.1f} |")
    print(f"throughput ratio 4-per-GPU / 1-per-GPU: {med[1.0] / med[0.25]:.2f}x (issue reference: 1.5x on an H200)")


if __name__ == "__main__":
    main()
