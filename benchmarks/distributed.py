"""Data-parallel training throughput: one process against Ray Train workers (DDP), same model, same global batch.

Trains the documentation's MNIST CNN on an in-RAM MNIST subset three ways, each for ``--epochs`` epochs:

- ``one process``: ``Trainer().fit`` in this process, torch on every core (the peer: what a user runs today);
- ``1 worker``: ``Trainer(workers=WorkersConfig(1, cores))``: the same, in one Ray Train worker (DDP of one);
- ``N workers``: ``Trainer(workers={'workers': N, 'cpu_per_worker': cores / N})``, each worker with batch
  ``global batch / N``.

Prints samples/s over the epochs after the first (steady state: the first carries start-up and warm-up), the
whole ``fit``'s wall time (Ray Train's start-up included), and each ratio to the one-process run, from one run.

    python benchmarks/distributed.py [--samples 12000] [--global-batch 128] [--epochs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

import trw_ray as trw
from trw_ray.examples.mnist_tour import Net
from trw_ray.ray_session import ensure_ray
from trw_ray.train.distributed import WorkersConfig


class EpochClock(trw.train.Callback):
    """Appends the time every epoch ends to a file (rank 0 runs the callbacks, in whichever process trains)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def __call__(self, context) -> None:
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(f"{time.time()}\n")


def mnist_subset(samples: int, batch_size: int):
    full = trw.datasets.create_mnist_dataset(batch_size=batch_size, max_train_samples=samples)
    return {"mnist": {"train": full["mnist"]["train"]}}


def run(label: str, workers, batch_size: int, samples: int, epochs: int, threads: int) -> dict:
    clock = tempfile.mktemp(prefix="trw_ray_clock_")
    options = trw.train.create_default_options(num_epochs=epochs, device="cpu", progress_bar=False)
    options["workflow_options"]["console_log"] = False
    options["workflow_options"]["logging_directory"] = tempfile.mkdtemp(prefix="trw_ray_bench_ddp_")
    torch.set_num_threads(threads)
    trainer = trw.train.Trainer(workers=workers, callbacks_per_epoch_fn=lambda: [EpochClock(clock)],
                                callbacks_post_training_fn=list, callbacks_pre_training_fn=list)
    started = time.time()
    trainer.fit(options, inputs_fn=lambda: mnist_subset(samples, batch_size), model_fn=lambda options: Net(),
                optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, 0.05))
    wall = time.time() - started
    ends = [float(line) for line in Path(clock).read_text().split()]
    os.unlink(clock)
    steady = samples * (len(ends) - 1) / (ends[-1] - ends[0])
    return {"label": label, "samples_per_s": steady, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--global-batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    ensure_ray(num_cpus=cores)
    print(f"machine: {platform.machine()}, {cores} cores, torch {torch.__version__}; MNIST {args.samples} samples, "
          f"global batch {args.global_batch}, {args.epochs} epochs")
    rows = [
        run("one process", None, args.global_batch, args.samples, args.epochs, cores),
        run("1 worker", WorkersConfig(1, float(cores)), args.global_batch, args.samples, args.epochs, 1),
        run(f"{args.workers} workers", {"workers": args.workers, "cpu_per_worker": cores / args.workers},
            args.global_batch // args.workers, args.samples, args.epochs, 1),
    ]
    peer = rows[0]
    print(f"{'run':<12} {'samples/s':>10} {'ratio':>6} {'fit wall s':>11} {'ratio':>6}")
    for row in rows:
        print(f"{row['label']:<12} {row['samples_per_s']:>10.0f} {row['samples_per_s'] / peer['samples_per_s']:>6.2f} "
              f"{row['wall_s']:>11.1f} {row['wall_s'] / peer['wall_s']:>6.2f}")


if __name__ == "__main__":
    main()
