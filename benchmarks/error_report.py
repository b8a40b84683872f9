"""The error report against the baselines a user has without it, on MNIST with planted label errors.

Each part is a random search whose trials vary in quality as a random search really draws them (learning rate
1e-4 to 1, far too small to good; 1 to 3 epochs; the tiny space's widths), run once per seed and per kind of noise:

- ``plausible``: each flipped sample gets the class a reference model ranks highest after the true one (the
  reference: a small CNN trained once on 10,000 clean training samples that are not the search's, never part of the
  search), a 4 written like a 9 labelled 9;
- ``uniform``: each flipped sample gets another class drawn uniformly (``create_mnist_dataset(label_noise=...)``).

(a) 2% of the valid split flipped: precision and recall at k = the number flipped of every ranking of the report
(the default first), of the best trial's highest losses (what one run's worst-samples view gives) and of cleanlab on
the best trial's probabilities alone. (b) 2% of the train split flipped: the training-dynamics ranking against the
best trial's final-epoch losses. (c) Time to build the report of a search of (a), and of 100 hand-written trials x
70,000 samples (10 classes), with the peak memory the build added.

    python benchmarks/error_report.py [--seeds 0,1,2] [--noise plausible,uniform] [--trials 8] [--parts abc]
                                      [--space mixed|tiny] [--dataset mnist|fashion_mnist] [--keep FOLDER]
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

FRACTION = 0.02
REFERENCE_SUBSET_SEED = 1000  # the reference model's 10,000 training samples are drawn apart from the search's


def mixed_quality_space() -> dict:
    return {"learning_rate": trw.hparams.ContinuousPower(0.1, -4, 0),
            "epochs": trw.hparams.DiscreteInteger(2, 1, 3),
            "number_hidden": trw.hparams.DiscreteInteger(100, 16, 200),
            "number_conv1_channels": trw.hparams.DiscreteInteger(8, 2, 16)}


def mixed_quality_trial(hparams, **kwargs):
    """The MNIST CNN trial with its number of epochs drawn as well."""
    epochs = hparams.create("epochs", trw.hparams.DiscreteInteger(2, 1, 3))
    return evaluate_hparams(hparams, num_epochs=epochs, **kwargs)


def split_features(dataset: str, split: str, **kwargs) -> dict[str, np.ndarray]:
    """The arrays of one split of MNIST or Fashion-MNIST (``dataset``: ``'mnist'`` or ``'fashion_mnist'``)."""
    create = {"mnist": trw.datasets.create_mnist_dataset,
              "fashion_mnist": trw.datasets.create_fashion_mnist_dataset}[dataset]
    return create(**kwargs)[dataset][split].split


def reference_probabilities(split: str, data_kwargs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uids, clean labels, probabilities) of ``split`` of the search's data, by a small CNN trained on 10,000
    other clean training samples, 3 epochs."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    train = split_features(data_kwargs["dataset"], "train", normalize_0_1=True, max_train_samples=10000,
                           seed=REFERENCE_SUBSET_SEED)
    target = split_features(split=split, normalize_0_1=True, **data_kwargs)
    model = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, labels = torch.from_numpy(train["images"]), torch.from_numpy(train["targets"])
    for _ in range(3):
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.from_numpy(target["images"])), dim=1).numpy()
    return target["sample_uid"], target["targets"], probabilities


def plausible_flips(split: str, data_kwargs: dict, seed: int) -> dict[int, int]:
    """``{sample_uid: class}`` for 2% of ``split`` (drawn from ``seed``): the class the reference model ranks highest
    after the true one."""
    uids, labels, probabilities = reference_probabilities(split, data_kwargs)
    rows = np.sort(np.random.default_rng([seed, 31]).choice(len(uids), size=int(round(FRACTION * len(uids))),
                                                            replace=False))
    others = probabilities[rows].copy()
    others[np.arange(len(rows)), labels[rows]] = -1.0
    return {int(u): int(c) for u, c in zip(uids[rows], others.argmax(axis=1), strict=True)}


def uniform_flips(split: str, data_kwargs: dict, seed: int) -> dict[int, int]:
    """``{sample_uid: class}`` for 2% of ``split`` (drawn from ``seed``): another class drawn uniformly."""
    from trw_ray.datasets.mnist import plant_label_noise

    features = dict(split_features(split=split, **data_kwargs))
    features["targets"] = features["targets"].copy()
    rows = plant_label_noise(features, FRACTION, seed)
    return {int(u): int(c) for u, c in zip(features["sample_uid"][rows], features["targets"][rows], strict=True)}


def precision_recall(ranked_uids, flipped) -> tuple[float, float]:
    top = set(list(ranked_uids)[:len(flipped)])
    hits = len(top & set(flipped))
    return hits / max(len(top), 1), hits / max(len(flipped), 1)


def run_search(storage: Path, name: str, flips: dict[int, int], split: str, seed: int, args):
    kwargs = {"max_train_samples": args.train_samples, "max_eval_samples": args.eval_samples, "batch_size": 100,
              "label_noise": {split: flips}, "dataset": args.dataset}
    if args.space == "mixed":
        trial, space = functools.partial(mixed_quality_trial, **kwargs), mixed_quality_space()
    else:  # the earlier benchmark's setting: the tiny space (learning rate 1e-3 to 1), every trial 5 epochs
        from trw_ray.hparams.space import load_space

        space = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "mnist_cnn_tiny.yaml").parameters
        trial = functools.partial(evaluate_hparams, num_epochs=5, **kwargs)
    return trw.hparams.search(trial, space=space, num_samples=args.trials, seed=seed, storage_path=storage,
                              name=name, verbose=0)


def best_trial_table(results, split: str) -> pd.DataFrame:
    return results.samples(split=split, trial_id=sample_errors.best_trials(results, 1)[0])


def noisy_search(storage: Path, split: str, noise: str, seed: int, args):
    """A search with 2% of ``split``'s labels flipped: its results, the flips and a header line."""
    data_kwargs = {"dataset": args.dataset, "max_train_samples": args.train_samples,
                   "max_eval_samples": args.eval_samples}
    flips = (plausible_flips if noise == "plausible" else uniform_flips)(split, data_kwargs, seed)
    started = time.perf_counter()
    results = run_search(storage, f"{split}_{noise}_{seed}_{args.space}_{args.dataset}", flips, split, seed, args)
    value = results.trials()["last/loss"]
    return results, flips, (f"{args.dataset}, {noise} noise on {split}, seed {seed}: {len(flips)} labels flipped; {args.trials} trials "
                            f"in {time.perf_counter() - started:.0f} s (test loss of the trials "
                            f"{value.min():.2f} to {value.max():.2f})")


def part_a(storage: Path, noise: str, seed: int, args) -> tuple[object, list[str], dict[str, float]]:
    results, flips, header = noisy_search(storage, "valid", noise, seed, args)
    lines, recalls = [f"(a) {header}; precision / recall at k:"], {}
    for ranking in sample_errors.RANKINGS:
        table = sample_errors.label_issues(results, split="valid", ranking=ranking)
        precision, recall = precision_recall(table["sample_uid"], flips)
        recalls[ranking] = recall
        default = " (default)" if ranking == sample_errors.DEFAULT_RANKING else ""
        lines.append(f"    report, ranking {ranking}{default}: {precision:.3f} / {recall:.3f}")
    best = best_trial_table(results, "valid")
    precision, recall = precision_recall(best.sort_values("loss", ascending=False)["sample_uid"], flips)
    recalls["best trial's losses"] = recall
    lines.append(f"    baseline, the best trial's highest losses: {precision:.3f} / {recall:.3f}")
    from cleanlab.rank import get_label_quality_scores

    probabilities = np.stack(best["probabilities"].to_numpy())
    quality = get_label_quality_scores(best["truth"].to_numpy(), probabilities, method="normalized_margin")
    precision, recall = precision_recall(best["sample_uid"].to_numpy()[np.argsort(quality, kind="stable")], flips)
    recalls["cleanlab, best trial"] = recall
    lines.append(f"    cleanlab on the best trial alone: {precision:.3f} / {recall:.3f}")
    return results, lines, recalls


def part_b(storage: Path, noise: str, seed: int, args) -> tuple[list[str], dict[str, float]]:
    results, flips, header = noisy_search(storage, "train", noise, seed, args)
    lines, recalls = [f"(b) {header}; precision / recall at k:"], {}
    precision, recall = precision_recall(training_dynamics(results)["sample_uid"], flips)
    recalls["training dynamics"] = recall
    lines.append(f"    training dynamics (lowest confidence over the epochs, all trials): {precision:.3f} / {recall:.3f}")
    best = best_trial_table(results, "train")
    precision, recall = precision_recall(best.sort_values("loss", ascending=False)["sample_uid"], flips)
    recalls["best trial's final losses"] = recall
    lines.append(f"    baseline, the best trial's final-epoch losses: {precision:.3f} / {recall:.3f}")
    return lines, recalls


def summary(title: str, recalls: dict[tuple[str, int], dict[str, float]], baseline: str) -> list[str]:
    """Mean recall of each ranking per noise over the seeds, and the default's margin over ``baseline``."""
    lines = [title]
    for noise in sorted({noise for noise, _ in recalls}):
        seeds = sorted(seed for n, seed in recalls if n == noise)
        frame = pd.DataFrame([recalls[(noise, seed)] for seed in seeds], index=seeds)
        lines.append(f"  {noise} noise, seeds {seeds}: mean recall at k (per seed)")
        for column in frame.columns:
            per_seed = ", ".join(f"{v:.3f}" for v in frame[column])
            lines.append(f"    {column:<24} {frame[column].mean():.3f}   ({per_seed})")
        first = frame.columns[0]
        if baseline in frame:
            margin = frame[first] - frame[baseline]
            lines.append(f"    {first} - {baseline}: mean {margin.mean() * 100:+.1f} points, lowest seed "
                         f"{margin.min() * 100:+.1f}")
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
            "from trw_ray.reports import errors\n"
            "import cleanlab, cleanlab.filter, scipy.stats, trw_ray.reports.plots\n"
            "imported = peak()\n"
            "errors.error_report(sys.argv[1])\n"
            "print(json.dumps([time.perf_counter() - started, peak(), imported]))\n")
    completed = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return tuple(json.loads(completed.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of the flips and the searches")
    parser.add_argument("--noise", default="plausible,uniform")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="mnist")
    parser.add_argument("--space", choices=["mixed", "tiny"], default="mixed",
                        help="mixed: trials of mixed quality (default); tiny: the earlier setting, 5 epochs each")
    parser.add_argument("--train-samples", type=int, default=10000)
    parser.add_argument("--eval-samples", type=int, default=5000)
    parser.add_argument("--synthetic-trials", type=int, default=100)
    parser.add_argument("--synthetic-samples", type=int, default=70000)
    parser.add_argument("--parts", default="abc")
    parser.add_argument("--keep", default=None, help="a folder that keeps the experiments (default: a temporary one)")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    noises = args.noise.split(",")
    unknown = sorted(set(noises) - {"plausible", "uniform"})
    if unknown:
        parser.error(f"--noise: expected plausible and/or uniform; got {unknown}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores", flush=True)
    lines: list[str] = []
    recalls_a: dict = {}
    recalls_b: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        storage = Path(args.keep or folder)
        results = None
        for noise in noises:
            for seed in seeds:
                if "a" in args.parts:
                    results, found, recalls_a[(noise, seed)] = part_a(storage, noise, seed, args)
                    print("\n".join(found), flush=True)
                    lines += found
                if "b" in args.parts:
                    found, recalls_b[(noise, seed)] = part_b(storage, noise, seed, args)
                    print("\n".join(found), flush=True)
                    lines += found
        if recalls_a:
            lines += summary("(a) the evaluated split", recalls_a, "best trial's losses")
        if recalls_b:
            lines += summary("(b) the train split", recalls_b, "best trial's final losses")
        if "c" in args.parts:
            if results is not None:
                seconds, memory, imports = timed_report(results.path)
                lines.append(f"(c) report of the {args.trials} trials of the last search of (a), in a fresh process: "
                             f"{seconds:.2f} s, peak memory {memory:.0f} MiB (the imports alone: {imports:.0f} MiB)")
            started = time.perf_counter()
            path = synthetic(storage / "synthetic", args.synthetic_trials, args.synthetic_samples)
            written = time.perf_counter() - started
            seconds, memory, imports = timed_report(path)
            lines.append(f"(c) report of {args.synthetic_trials} hand-written trials x {args.synthetic_samples:,} samples "
                         f"(10 classes; tables written in {written:.0f} s), in a fresh process: {seconds:.2f} s "
                         f"(goal < 10 s), peak memory {memory:.0f} MiB (the imports alone: {imports:.0f} MiB)")
    print("\n".join(["", "SUMMARY", *lines]))


if __name__ == "__main__":
    main()
