"""Input pipelines: samples/s and time to first batch of inline, SequenceMap and SequenceAsyncReservoir (each on
plain Ray actors and on a Ray Data actor pool) and torch DataLoader(num_workers=N), with a cheap and an expensive
(>= 1 ms/sample) augmentation, over 5 epochs (first epoch and epochs 2-5 apart); then the Trainer's
data-wait fraction (time waiting for the next batch / epoch time) when training the MNIST CNN from the
reservoir while augmentation costs about 4x the training step.

    python benchmarks/pipeline_throughput.py [--samples 10000] [--workers 2] [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch

import trw_ray as trw
from trw_ray.data import SequenceArray, SequenceAsyncReservoir, SequenceMap
from trw_ray.data.transforms import Compose, RandomCropPad, RandomFlip, Transform, TransformBatch, sample_rng
from trw_ray.examples.mnist_tour import Net
from trw_ray.ray_session import ensure_ray


class Costly(Transform):
    """Spins for ``milliseconds`` of CPU per sample (a stand-in for decoding and heavy augmentation)."""

    def __init__(self, milliseconds: float):
        super().__init__(["images"])
        self.milliseconds = milliseconds

    def apply(self, array, rng):
        deadline = time.perf_counter() + self.milliseconds / 1000
        value = 0.0
        while time.perf_counter() < deadline:
            value += float(np.sum(array[0, :4, :4]))
        return array


def augmentation(milliseconds: float) -> Compose:
    parts = [RandomCropPad(2), RandomFlip()]
    return Compose(parts + ([Costly(milliseconds)] if milliseconds else []))


class AugmentedDataset(torch.utils.data.Dataset):
    def __init__(self, split, transform, seed: int = 0):
        self.split, self.transform, self.seed, self.epoch = split, transform, seed, 0

    def __len__(self):
        return len(self.split["targets"])

    def __getitem__(self, index):
        sample = {name: values[index] for name, values in self.split.items()}
        sample = self.transform(sample, sample_rng(self.seed, self.epoch, int(sample["sample_uid"])))
        return {name: torch.as_tensor(np.asarray(value)) for name, value in sample.items()}


def measure(make_epochs, epochs: int) -> dict:
    """``make_epochs()`` returns an iterable per epoch; timings of the first batch and of each epoch."""
    started = time.perf_counter()
    first_batch, epoch_seconds, samples = None, [], []
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        count = 0
        for batch in make_epochs(epoch):
            if first_batch is None:
                first_batch = time.perf_counter() - started
            count += len(batch["targets"])
        epoch_seconds.append(time.perf_counter() - epoch_start)
        samples.append(count)
    return {"first_batch": first_batch, "first_epoch": samples[0] / epoch_seconds[0],
            "later": sum(samples[1:]) / sum(epoch_seconds[1:]), "all": sum(samples) / (time.perf_counter() - started)}


def run_pipelines(split, milliseconds: float, workers: int, epochs: int, batch_size: int) -> dict[str, dict]:
    transform = augmentation(milliseconds)
    batch_transform = TransformBatch(transform, seed=0)
    results = {}
    inline = SequenceMap(SequenceArray(split, batch_size=batch_size), batch_transform, nb_workers=0)
    results["inline"] = measure(lambda epoch: inline, epochs)
    for backend in ("actors", "ray_data"):
        mapped = SequenceMap(SequenceArray(split, batch_size=batch_size), batch_transform, nb_workers=workers,
                             epochs_per_execution=epochs, backend=backend)
        results[f"SequenceMap({workers}, {backend})"] = measure(lambda epoch, mapped=mapped: mapped, epochs)
        mapped.close()
    for backend in ("actors", "ray_data"):
        reservoir = SequenceAsyncReservoir(SequenceArray(split, batch_size=batch_size),
                                           max_reservoir_samples=len(split["targets"]), function_to_run=batch_transform,
                                           min_reservoir_samples=len(split["targets"]) // 4, nb_workers=workers,
                                           backend=backend)
        results[f"SequenceAsyncReservoir({workers}, {backend})"] = measure(lambda epoch, r=reservoir: r, epochs)
        reservoir.close()
    dataset = AugmentedDataset(split, transform)

    def loader(epoch):
        dataset.epoch = epoch
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)

    results[f"DataLoader({workers})"] = measure(loader, epochs)
    return results


class WaitClock(trw.train.Sequence):
    """Measures the time the training loop waits for each batch of ``source``."""

    def __init__(self, source):
        self.source, self.wait, self.class_names = source, 0.0, getattr(source, "class_names", {})

    def __iter__(self):
        iterator = iter(self.source)
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            self.wait += time.perf_counter() - started
            yield batch

    def close(self):
        self.source.close()


def data_wait_fraction(split, workers: int, batch_size: int, backend: str = "actors") -> tuple[float, float, float]:
    """Trains the CNN from a reservoir whose augmentation costs ~4x the training step; returns
    (wait fraction of the warm epochs, step ms per sample, augmentation ms per sample)."""
    model, optimizer = Net(), None
    batch = {"images": torch.from_numpy(split["images"][:batch_size]), "targets": torch.from_numpy(split["targets"][:batch_size])}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    started = time.perf_counter()
    for _ in range(20):
        optimizer.zero_grad()
        model(batch)["softmax"].evaluate(batch, "softmax").loss.backward()
        optimizer.step()
    step_ms_per_sample = (time.perf_counter() - started) / 20 / batch_size * 1000
    milliseconds = 4 * step_ms_per_sample
    reservoir = SequenceAsyncReservoir(SequenceArray(split, batch_size=batch_size), max_reservoir_samples=len(split["targets"]) // 2,
                                       function_to_run=TransformBatch(augmentation(milliseconds)),
                                       min_reservoir_samples=len(split["targets"]) // 2, nb_workers=workers,
                                       backend=backend)
    clock = WaitClock(reservoir)
    epoch_ends, waits = [], []

    class Clock(trw.train.Callback):
        def __call__(self, context):
            epoch_ends.append(time.perf_counter())
            waits.append(clock.wait)

    with tempfile.TemporaryDirectory() as logging_directory:
        options = trw.train.create_default_options(num_epochs=4, device="cpu", logging_directory=logging_directory,
                                                   progress_bar=False)
        options["workflow_options"]["console_log"] = False
        started = time.perf_counter()
        trw.train.Trainer(callbacks_per_epoch_fn=lambda: [Clock()], callbacks_post_training_fn=lambda: []).fit(
            options, inputs_fn=lambda: {"mnist": {"train": clock}}, model_fn=lambda o: Net(),
            optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, 0.1))
    warm_time = epoch_ends[-1] - epoch_ends[0]
    return (waits[-1] - waits[0]) / warm_time, step_ms_per_sample, milliseconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    ensure_ray(num_cpus=os.cpu_count())
    mnist = trw.datasets.create_mnist_dataset(max_train_samples=args.samples)["mnist"]["train"]
    split = {name: mnist.split[name] for name in ("images", "targets", "sample_uid")}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
          f"{args.samples} MNIST samples, batch {args.batch_size}, {args.epochs} epochs, {args.workers} workers")
    for name, milliseconds in (("cheap (crop+flip)", 0.0), ("expensive (crop+flip+1 ms)", 1.0)):
        results = run_pipelines(split, milliseconds, args.workers, args.epochs, args.batch_size)
        print(f"\naugmentation: {name}")
        print(f"{'pipeline':36s} {'first batch s':>13s} {'epoch 1 /s':>11s} {'epochs 2-5 /s':>14s} {'all /s':>9s}")
        for pipeline, r in results.items():
            print(f"{pipeline:36s} {r['first_batch']:13.2f} {r['first_epoch']:11,.0f} {r['later']:14,.0f} {r['all']:9,.0f}")
        loader = results[f"DataLoader({args.workers})"]
        for backend in ("actors", "ray_data"):
            mapped = results[f"SequenceMap({args.workers}, {backend})"]
            print(f"SequenceMap({backend}) / DataLoader: epochs 2-{args.epochs} {mapped['later'] / loader['later']:.2f} "
                  f"(goal >= 0.9), all epochs {mapped['all'] / loader['all']:.2f} (goal >= 0.8)")
    for backend in ("actors", "ray_data"):
        fraction, step_ms, augmentation_ms = data_wait_fraction(split, args.workers, args.batch_size, backend)
        print(f"\nTrainer from SequenceAsyncReservoir({args.workers}, {backend}): training step {step_ms:.3f} ms/sample, "
              f"augmentation {augmentation_ms:.3f} ms/sample (4x); data-wait fraction once warm: {fraction:.1%} "
              "(goal <= 5%)")


if __name__ == "__main__":
    main()
