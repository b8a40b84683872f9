"""The error report against the baselines a user has without it, on MNIST with planted label noise.

(a) 2% of the valid split's labels flipped (seeded), a random search of 8 trials: precision and recall at
k = the number flipped of every ranking of the report (the default first), of the best trial's highest losses
(what one run's worst-samples view gives) and of cleanlab on the best trial's probabilities alone.
(b) 2% of the train split's labels flipped, another 8 trials: the training-dynamics ranking (lowest confidence over
the epochs) against the best trial's final-epoch losses on the train split.
(c) Time to build the report of (a), and of 100 hand-written trials x 70,000 samples (10 classes), with the peak
memory the build added.

    python benchmarks/error_report.py [--trials 8] [--train-samples 10000] [--eval-samples 5000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trw_ray as trw
from trw_ray.examples.mnist_search import evaluate_hparams
from trw_ray.results import sample_errors
from trw_ray.results.testing import classification_table, write_experiment
from trw_ray.results.training_dynamics import training_dynamics


def flipped_uids(split: str, fraction: float, kwargs: dict) -> set[int]:
    noisy = trw.datasets.create_mnist_dataset(label_noise={split: fraction}, **kwargs)["mnist"][split]
    clean = trw.datasets.create_mnist_dataset(**kwargs)["mnist"][split]
    changed = noisy.split["targets"] != clean.split["targets"]
    return set(noisy.split["sample_uid"][changed].tolist())


def precision_recall(ranked_uids, flipped: set[int]) -> tuple[float, float]:
    top = set(list(ranked_uids)[:len(flipped)])
    hits = len(top & flipped)
    return hits / max(len(top), 1), hits / max(len(flipped), 1)


def run_search(storage: Path, name: str, label_noise: dict, args) -> trw.results.ExperimentResults:
    from trw_ray.hparams.space import load_space

    space = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "mnist_cnn_tiny.yaml")
    kwargs = {"num_epochs": args.epochs, "max_train_samples": args.train_samples,
              "max_eval_samples": args.eval_samples, "batch_size": 100, "label_noise": label_noise}
    return trw.hparams.search(functools.partial(evaluate_hparams, **kwargs), space=space.parameters,
                              num_samples=args.trials, seed=0, storage_path=storage, name=name, verbose=0)


def best_trial_table(results, split: str) -> pd.DataFrame:
    return results.samples(split=split, trial_id=sample_errors.best_trials(results, 1)[0])


def noisy_search(storage: Path, split: str, args) -> tuple[trw.results.ExperimentResults, set[int], str]:
    """A search with 2% of ``split``'s labels flipped: its results, the flipped uids and a header line."""
    kwargs = {"max_train_samples": args.train_samples, "max_eval_samples": args.eval_samples, "batch_size": 100}
    flipped = flipped_uids(split, 0.02, kwargs)
    started = time.perf_counter()
    results = run_search(storage, f"{split}_noise", {split: 0.02}, args)
    size = args.train_samples if split == "train" else args.eval_samples
    return results, flipped, (f"{split} split: {len(flipped)} of {size} labels flipped; search of {args.trials} "
                              f"trials in {time.perf_counter() - started:.0f} s; precision / recall at k = {len(flipped)}:")


def part_a(storage: Path, args) -> tuple[trw.results.ExperimentResults, list[str]]:
    results, flipped, header = noisy_search(storage, "valid", args)
    lines = [f"(a) {header}"]
    for ranking in sample_errors.RANKINGS:
        table = sample_errors.label_issues(results, split="valid", ranking=ranking)
        precision, recall = precision_recall(table["sample_uid"], flipped)
        default = " (default)" if ranking == sample_errors.DEFAULT_RANKING else ""
        lines.append(f"    report, ranking {ranking}{default}: {precision:.3f} / {recall:.3f}")
    best = best_trial_table(results, "valid")
    precision, recall = precision_recall(best.sort_values("loss", ascending=False)["sample_uid"], flipped)
    lines.append(f"    baseline, the best trial's highest losses: {precision:.3f} / {recall:.3f}")
    from cleanlab.rank import get_label_quality_scores

    probabilities = np.stack(best["probabilities"].to_numpy())
    quality = get_label_quality_scores(best["truth"].to_numpy(), probabilities, method="normalized_margin")
    precision, recall = precision_recall(best["sample_uid"].to_numpy()[np.argsort(quality, kind="stable")], flipped)
    lines.append(f"    cleanlab on the best trial alone: {precision:.3f} / {recall:.3f}")
    return results, lines


def part_b(storage: Path, args) -> list[str]:
    results, flipped, header = noisy_search(storage, "train", args)
    lines = [f"(b) {header}"]
    dynamics = training_dynamics(results)
    precision, recall = precision_recall(dynamics["sample_uid"], flipped)
    lines.append(f"    training dynamics (lowest confidence over the epochs, all trials): {precision:.3f} / {recall:.3f}")
    best = best_trial_table(results, "train")
    precision, recall = precision_recall(best.sort_values("loss", ascending=False)["sample_uid"], flipped)
    lines.append(f"    baseline, the best trial's final-epoch losses: {precision:.3f} / {recall:.3f}")
    return lines


def synthetic(path: Path, trials: int, samples: int, classes: int = 10) -> Path:
    rng = np.random.default_rng(0)
    uids = np.arange(samples)
    labels = rng.integers(0, classes, size=samples)
    entries = []
    for t in range(trials):
        logits = rng.normal(size=(samples, classes)).astype(np.float32)
        logits[uids, labels] += 3.0
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        entries.append({"trial_id": f"t{t:03d}", "value": float(rng.random()), "config": {"x": float(rng.random())},
                        "tables": {("synthetic", "valid", "softmax", 1): classification_table(uids, labels, p, 1)}})
    return write_experiment(path, entries)


def timed_report(path) -> tuple[float, float, float]:
    """(seconds, peak memory in MiB, peak memory of the same imports alone) of the report built in a fresh process:
    the imports (cleanlab, scikit-learn, scipy, matplotlib: about 3 s) count."""
    code = ("import json, re, sys, time\n"
            "def peak():\n"
            "    status = open('/proc/self/status').read()\n"
            "    return int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) / 1024\n"
            "started = time.perf_counter()\n"
            "import trw_ray as trw\n"
            "from trw_ray.hparams import errors\n"
            "import cleanlab, cleanlab.filter, scipy.stats, trw_ray.reports.plots\n"
            "imported = peak()\n"
            "errors.error_report(sys.argv[1])\n"
            "print(json.dumps([time.perf_counter() - started, peak(), imported]))\n")
    completed = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return tuple(json.loads(completed.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--train-samples", type=int, default=10000)
    parser.add_argument("--eval-samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--synthetic-trials", type=int, default=100)
    parser.add_argument("--synthetic-samples", type=int, default=70000)
    parser.add_argument("--parts", default="abc")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        storage = Path(folder)
        results = None
        if "a" in args.parts:
            results, found = part_a(storage, args)
            lines += found
        if "b" in args.parts:
            lines += part_b(storage, args)
        if "c" in args.parts:
            if results is not None:
                seconds, memory, imports = timed_report(results.path)
                lines.append(f"(c) report of the {args.trials} trials of (a), in a fresh process: {seconds:.2f} s, "
                             f"peak memory {memory:.0f} MiB (the imports alone: {imports:.0f} MiB)")
            started = time.perf_counter()
            path = synthetic(storage / "synthetic", args.synthetic_trials, args.synthetic_samples)
            written = time.perf_counter() - started
            seconds, memory, imports = timed_report(path)
            lines.append(f"(c) report of {args.synthetic_trials} hand-written trials x {args.synthetic_samples:,} samples "
                         f"(10 classes; tables written in {written:.0f} s), in a fresh process: {seconds:.2f} s "
                         f"(goal < 10 s), peak memory {memory:.0f} MiB (the imports alone: {imports:.0f} MiB)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
