"""The documentation's MNIST CNN on full MNIST (55,000 train images) with the Trainer and its default reports:
test accuracy after 10 epochs (goal >= 0.99) and seconds per epoch on this machine.

    python benchmarks/mnist_full.py [--epochs 10] [--batch-size 64] [--learning-rate 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch

import trw_ray as trw
from trw_ray.examples.mnist_tour import Net, test_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logging_directory:
        options = trw.train.create_default_options(num_epochs=args.epochs, logging_directory=logging_directory,
                                                   progress_bar=False, seed=0)
        options["workflow_options"]["console_log"] = False
        epoch_ends = []

        class EpochClock(trw.train.Callback):
            def __call__(self, context):
                epoch_ends.append(time.perf_counter())

        started = time.perf_counter()
        _, results = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [trw.train.CallbackEpochSummary(), EpochClock()]).fit(
            options,
            inputs_fn=lambda: trw.datasets.create_mnist_dataset(batch_size=args.batch_size),
            model_fn=lambda options: Net(),
            optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(
                datasets, model, learning_rate=args.learning_rate,
                scheduler_fn=trw.train.create_scheduler_cosine(args.epochs)),
            run_prefix="mnist_full")
        total = time.perf_counter() - started
    durations = [b - a for a, b in zip([started, *epoch_ends[:-1]], epoch_ends, strict=False)]
    accuracy = test_accuracy(results)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"device {options['workflow_options']['device']}")
    print(f"full MNIST, batch {args.batch_size}, SGD lr {args.learning_rate} momentum 0.9, cosine, {args.epochs} epochs")
    print("valid accuracy per epoch:", json.dumps([round(e["mnist"]["valid"]["softmax"]["accuracy"], 4)
                                                   for e in results["history"]]))
    print(f"seconds per epoch (train 55k + eval 15k): mean {sum(durations) / len(durations):.1f}, "
          f"first {durations[0]:.1f}, total {total:.1f}")
    print(f"test accuracy after {args.epochs} epochs: {accuracy:.4f} (goal >= 0.99)")


if __name__ == "__main__":
    main()
