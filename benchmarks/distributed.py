"""Data-parallel training throughput: one process against Ray Train workers (DDP), same model, same global batch.

Trains the documentation's MNIST CNN on an in-RAM MNIST subset three ways, each for ``--epochs`` epochs:

- ``one process``: ``Trainer().fit`` in this process, torch on every core (the peer: what a user runs today);
- ``1 worker``: ``Trainer(workers=WorkersConfig(1, cores))``: the same, in one Ray Train worker (DDP of one);
- ``N workers``: ``Trainer(workers={'workers': N, 'cpu_per_worker': cores / N})``, each worker with batch
  ``global batch / N``.

Prints samples/s over the epochs after the first (steady state: the first carries start-up and warm-up), the
whole ``fit``'s wall time (Ray Train's start-up included), and each ratio to the one-process run, from one run.

Then the workers' data-wait fraction (time waiting for the next batch / time iterating the training split, epochs
after the first, each rank) when the N workers are fed, with an augmentation costing ``--augmentation-factor``
(4) times the training step, by

- one ``SequenceMap(backend='ray_data')`` split across them (``streaming_split``), and
- a ``SequenceAsyncReservoir(backend='ray_data')`` per worker (each of its share of the samples),

each pipeline with ``--pipeline-workers`` Ray Data actors (``--data-wait-samples`` samples, 4 epochs).

    python benchmarks/distributed.py [--samples 12000] [--global-batch 128] [--epochs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pipeline_throughput  # the benchmarks' augmentation (Costly), sent by value to the Ray workers
import ray.cloudpickle
import torch

import trw_ray as trw
from trw_ray.data.transforms import TransformBatch
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


class WaitClock(trw.train.Sequence):
    """Times how long each rank waits for the batches of ``source``; appends ``[rank, epoch seconds, wait
    seconds]`` per epoch to ``path``. Its ``source`` chain is what the Trainer splits across the workers."""

    def __init__(self, source, path: str):
        self.source, self.path, self.class_names = source, path, getattr(source, "class_names", {})

    def __len__(self):
        return len(self.source)

    def __iter__(self):
        from trw_ray.train.distributed import current_rank

        iterator, wait, started = iter(self.source), 0.0, time.perf_counter()
        while True:
            asked = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                break
            wait += time.perf_counter() - asked
            yield batch
        rank = current_rank()
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps([rank.rank if rank else 0, time.perf_counter() - started, wait]) + "\n")

    def close(self):
        self.source.close()


def step_ms_per_sample(split, batch_size: int) -> float:
    """One thread's training step of the CNN, in ms per sample (a worker of one CPU)."""
    torch.set_num_threads(1)
    model = Net()
    batch = {"images": torch.from_numpy(split["images"][:batch_size]).float(),
             "targets": torch.from_numpy(split["targets"][:batch_size])}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _warm_up_first in range(2):
        started = time.perf_counter()
        for _ in range(20):
            optimizer.zero_grad()
            model(batch)["softmax"].evaluate(batch, "softmax").loss.backward()
            optimizer.step()
    return (time.perf_counter() - started) / 20 / batch_size * 1000


def data_wait(kind: str, workers: int, pipeline_workers: int, samples: int, batch_size: int, milliseconds: float,
              batches_per_job: int):
    """Max and mean over ranks of the data-wait fraction of epochs 2-4."""
    clock = tempfile.mktemp(prefix="trw_ray_wait_")
    augment = TransformBatch(pipeline_throughput.augmentation(milliseconds), seed=0)

    def inputs():
        source = mnist_subset(samples, batch_size)["mnist"]["train"]
        if kind == "map":
            fed = source.map(augment, nb_workers=pipeline_workers, backend="ray_data",
                             batches_per_job=batches_per_job)
        else:
            fed = source.async_reservoir(samples // 2, augment, min_reservoir_samples=samples // 2,
                                         nb_workers=pipeline_workers, backend="ray_data",
                                         batches_per_job=batches_per_job)
        return {"mnist": {"train": WaitClock(fed, clock)}}

    options = trw.train.create_default_options(num_epochs=4, device="cpu", progress_bar=False)
    options["workflow_options"]["console_log"] = False
    options["workflow_options"]["logging_directory"] = tempfile.mkdtemp(prefix="trw_ray_bench_wait_")
    trainer = trw.train.Trainer(workers={"workers": workers, "cpu_per_worker": 1}, callbacks_per_epoch_fn=list,
                                callbacks_post_training_fn=list, callbacks_pre_training_fn=list)
    trainer.fit(options, inputs_fn=inputs, model_fn=lambda options: Net(),
                optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, 0.05))
    rows = [json.loads(line) for line in Path(clock).read_text().splitlines()]
    os.unlink(clock)
    fractions = []
    for rank in range(workers):
        epochs = [row for row in rows if row[0] == rank][1:]
        fractions.append(sum(row[2] for row in epochs) / sum(row[1] for row in epochs))
    return max(fractions), sum(fractions) / len(fractions)


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
    parser.add_argument("--pipeline-workers", type=int, default=2)
    parser.add_argument("--data-wait-samples", type=int, default=6000)
    parser.add_argument("--augmentation-factor", type=float, default=4.0,
                        help="the augmentation's cost per sample, in training steps per sample")
    parser.add_argument("--batches-per-job", type=int, default=None,
                        help="batches per Ray Data block (default: the pipelines' own)")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    ray.cloudpickle.register_pickle_by_value(pipeline_throughput)
    cores = os.cpu_count() or 2
    ensure_ray(num_cpus=cores)
    print(f"machine: {platform.machine()}, {cores} cores, torch {torch.__version__}; MNIST {args.samples} samples, "
          f"global batch {args.global_batch}, {args.epochs} epochs")
    if not args.skip_throughput:
        throughput(args, cores)
    split = mnist_subset(args.data_wait_samples, args.global_batch)["mnist"]["train"].split
    step_ms = step_ms_per_sample(split, args.global_batch // args.workers)
    print(f"\ndata wait: {args.workers} workers of 1 CPU, training step {step_ms:.3f} ms/sample (1 thread), "
          f"augmentation {args.augmentation_factor * step_ms:.3f} ms/sample ({args.augmentation_factor:g}x), {args.pipeline_workers} Ray Data actors per pipeline, "
          f"{args.batches_per_job or 'default'} batches per job, {args.data_wait_samples} samples, epochs 2-4")
    for kind, label in (("map", "SequenceMap(ray_data), streaming_split"),
                        ("reservoir", "SequenceAsyncReservoir(ray_data), one per worker")):
        worst, mean = data_wait(kind, args.workers, args.pipeline_workers, args.data_wait_samples,
                                args.global_batch // args.workers, args.augmentation_factor * step_ms,
                                args.batches_per_job)
        print(f"{label:<50} data-wait fraction: worst rank {worst:.1%}, mean {mean:.1%} (goal <= 5%)")


def throughput(args, cores: int) -> None:
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
