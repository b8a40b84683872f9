"""Cost of the default reports: the same MNIST training with the Trainer's default callbacks and with none.

Both runs train the documentation's CNN on full MNIST (55,000 train, 5,000 valid, 10,000 test images, batch
1000) for the same number of epochs, in pairs whose order alternates (no reports first, then reports first...):
the speed of this kind of shared machine drifts by 10-20% between runs a minute apart. Prints seconds per epoch
of each (the whole ``fit``, set-up and final reports included, divided by the epochs) and the median of the
pairs' ratios (goal: <= 1.10). The libraries the reports use (matplotlib, TensorBoard, scikit-learn,
onnxruntime) are imported before the runs, once per process; that one-time import is printed apart.

    python benchmarks/reports_overhead.py [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

import torch

import trw_ray as trw
from trw_ray.examples.mnist_tour import Net


def fit_seconds(epochs: int, reports: bool, logging_directory: str) -> float:
    options = trw.train.create_default_options(num_epochs=epochs, device="cpu", logging_directory=logging_directory,
                                               progress_bar=False, seed=0)
    options["workflow_options"]["console_log"] = False
    trainer = trw.train.Trainer() if reports else trw.train.Trainer(
        callbacks_pre_training_fn=lambda: [], callbacks_per_epoch_fn=lambda: [], callbacks_post_training_fn=lambda: [])
    datasets = trw.datasets.create_mnist_dataset(batch_size=1000)
    started = time.perf_counter()
    trainer.fit(options, inputs_fn=lambda: datasets, model_fn=lambda options: Net(),
                optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, learning_rate=0.1),
                run_prefix="reports" if reports else "bare")
    return time.perf_counter() - started


def import_report_libraries() -> float:
    started = time.perf_counter()
    import matplotlib.pyplot  # noqa: F401
    import onnx  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import torch.utils.tensorboard  # noqa: F401

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass
    return time.perf_counter() - started


def callback_seconds(logging_directory: str) -> dict[str, float]:
    """Seconds inside each callback in the newest run with reports."""
    logs = sorted(Path(logging_directory).glob("reports_r*/trainer.txt"), key=lambda path: path.stat().st_mtime)
    log = logs[-1].read_text()
    seconds: dict[str, float] = {}
    for name, value in re.findall(r"callback (\w+) \([^)]*\) took ([\d.]+) s", log):
        seconds[name] = seconds.get(name, 0.0) + float(value)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    imports = import_report_libraries()
    bare, with_reports = [], []
    with tempfile.TemporaryDirectory() as logging_directory:
        for repeat in range(args.repeats):
            if repeat % 2 == 0:
                bare.append(fit_seconds(args.epochs, False, logging_directory))
                with_reports.append(fit_seconds(args.epochs, True, logging_directory))
            else:
                with_reports.append(fit_seconds(args.epochs, True, logging_directory))
                bare.append(fit_seconds(args.epochs, False, logging_directory))
            print(f"repeat {repeat}: no callbacks {bare[-1] / args.epochs:.2f} s/epoch, default reports "
                  f"{with_reports[-1] / args.epochs:.2f} s/epoch, ratio {with_reports[-1] / bare[-1]:.3f}", flush=True)
        in_callbacks = callback_seconds(logging_directory)
    ratio = statistics.median(r / b for r, b in zip(with_reports, bare, strict=True))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"MNIST CNN, full MNIST, batch 1000, {args.epochs} epochs, {args.repeats} pairs")
    print(f"no callbacks:    {statistics.median(bare) / args.epochs:.2f} s/epoch (median)")
    print(f"default reports: {statistics.median(with_reports) / args.epochs:.2f} s/epoch (median)")
    print(f"time inside the report callbacks (last run): {sum(in_callbacks.values()):.1f} s; one-time import of "
          f"their libraries: {imports:.1f} s")
    print("  " + ", ".join(f"{name} {value:.2f} s" for name, value in sorted(in_callbacks.items(), key=lambda x: -x[1])))
    print(f"ratio reports / none: {ratio:.3f} (median of the pairs; goal <= 1.10)")


if __name__ == "__main__":
    main()
