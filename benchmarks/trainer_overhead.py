"""Trainer.fit throughput vs a hand-written PyTorch loop over the same model and the same batches.

Both train the documentation's MNIST CNN on the same in-RAM MNIST subset (SequenceArray batches, same seed),
one after the other, in pairs whose order alternates (hand-written first, then the Trainer first, ...), so a
machine that speeds up or slows down during the run weighs on both alike; the Trainer runs its default training
step with only its essential work (run folder, per-sample collection, last.model each epoch) and no optional
callbacks. Prints samples/s of each pair and the median of the pairs' ratios (goal: Trainer / hand-written
>= 0.97), and the ratio of the medians beside it.

A second measure alternates batch by batch, so both sides see the same machine at every moment (on a shared
2-core machine the speed of whole runs varies by +-10% from one second to the next): the Trainer trains from a
split whose iterator, before handing over each batch, runs one step of the hand-written loop (its own model,
optimizer and batch) and times it; the Trainer's time is the fit's time minus those steps.

    python benchmarks/trainer_overhead.py [--samples 20000] [--batch-size 64] [--epochs 2] [--repeats 9]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

import trw_ray as trw
from trw_ray.examples.mnist_tour import Net


def hand_step(model, optimizer, batch) -> None:
    """One step of the hand-written loop."""
    optimizer.zero_grad(set_to_none=True)
    x = batch["images"] / 255.0
    x = F.max_pool2d(model.relu_conv1(model.conv1(x)), 2, 2)
    logits = model.fc2(model.relu_fc1(model.fc1(x.view(x.shape[0], -1))))
    F.cross_entropy(logits, batch["targets"]).backward()
    optimizer.step()


def hand_written(datasets, epochs: int, seed: int) -> float:
    """Samples/s of the plain loop; like ``fit``'s, its time includes building the model and the optimizer."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    split = datasets["mnist"]["train"]
    samples = 0
    for _ in range(epochs):
        model.train()
        for batch in split:
            hand_step(model, optimizer, batch)
            samples += len(batch["targets"])
    return samples / (time.perf_counter() - started)


class HandStepsBetweenBatches:
    """A split that runs one timed hand-written step before yielding each of its own batches."""

    def __init__(self, split, seed: int):
        self.split = split
        started = time.perf_counter()
        torch.manual_seed(seed + 1000)
        self.model = Net()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.hand_seconds = time.perf_counter() - started  # like fit's, its time includes building its model
        self.num_samples = split.num_samples

    def __len__(self):
        return len(self.split)

    def __iter__(self):
        hand_batches = iter(self.split)
        for batch in self.split:
            started = time.perf_counter()
            self.model.train()
            hand_step(self.model, self.optimizer, next(hand_batches))
            self.hand_seconds += time.perf_counter() - started
            yield batch


def fit_seconds(split, epochs: int, seed: int, logging_directory: str, run_prefix: str) -> float:
    """Seconds of one ``Trainer.fit`` of the CNN on ``split`` with the default step and no optional callback."""
    options = trw.train.create_default_options(num_epochs=epochs, device="cpu", logging_directory=logging_directory,
                                               progress_bar=False, seed=seed)
    options["workflow_options"]["console_log"] = False
    trainer = trw.train.Trainer(callbacks_pre_training_fn=list, callbacks_per_epoch_fn=list,
                                callbacks_post_training_fn=list)
    started = time.perf_counter()
    trainer.fit(options, inputs_fn=lambda: {"mnist": {"train": split}}, model_fn=lambda options: Net(),
                optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, learning_rate=0.1),
                run_prefix=run_prefix)
    return time.perf_counter() - started


def interleaved(datasets, epochs: int, seed: int, logging_directory: str) -> tuple[float, float]:
    """(hand-written samples/s, Trainer samples/s) of one fit whose batches alternate with hand-written steps."""
    split = HandStepsBetweenBatches(datasets["mnist"]["train"], seed)
    total = fit_seconds(split, epochs, seed, logging_directory, "interleaved")
    samples = epochs * split.num_samples
    return samples / split.hand_seconds, samples / (total - split.hand_seconds)


def with_trainer(datasets, epochs: int, seed: int, logging_directory: str) -> float:
    split = datasets["mnist"]["train"]
    return epochs * split.num_samples / fit_seconds(split, epochs, seed, logging_directory, "overhead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    full = trw.datasets.create_mnist_dataset(batch_size=args.batch_size, max_train_samples=args.samples)
    datasets = {"mnist": {"train": full["mnist"]["train"]}}
    hand, ours = [], []
    with tempfile.TemporaryDirectory() as logging_directory:
        hand_written(datasets, 1, 0)  # warm-up: allocator, kernels
        for repeat in range(args.repeats):
            if repeat % 2 == 0:
                hand.append(hand_written(datasets, args.epochs, repeat))
                ours.append(with_trainer(datasets, args.epochs, repeat, logging_directory))
            else:
                ours.append(with_trainer(datasets, args.epochs, repeat, logging_directory))
                hand.append(hand_written(datasets, args.epochs, repeat))
            print(f"repeat {repeat}: hand-written {hand[-1]:,.0f} samples/s, Trainer {ours[-1]:,.0f} samples/s, "
                  f"ratio {ours[-1] / hand[-1]:.3f}", flush=True)
        mixed = []
        for repeat in range(args.repeats):
            hand_rate, ours_rate = interleaved(datasets, args.epochs, repeat, logging_directory)
            mixed.append(ours_rate / hand_rate)
            print(f"interleaved {repeat}: hand-written {hand_rate:,.0f} samples/s, Trainer {ours_rate:,.0f} samples/s, "
                  f"ratio {mixed[-1]:.3f}", flush=True)
    hand_median, ours_median = statistics.median(hand), statistics.median(ours)
    pair_median = statistics.median(o / h for o, h in zip(ours, hand, strict=True))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"MNIST CNN, {args.samples} samples, batch {args.batch_size}, {args.epochs} epochs x {args.repeats} repeats")
    print(f"hand-written PyTorch loop: {hand_median:,.0f} samples/s (median)")
    print(f"trw_ray Trainer.fit:       {ours_median:,.0f} samples/s (median)")
    print(f"ratio Trainer / hand-written: {pair_median:.3f} (median of the {args.repeats} pairs; goal >= 0.97); "
          f"ratio of the medians {ours_median / hand_median:.3f}")
    print(f"interleaved batch by batch: ratio {statistics.median(mixed):.3f} (median of {args.repeats} fits; "
          f"range {min(mixed):.3f}-{max(mixed):.3f})")


if __name__ == "__main__":
    main()
