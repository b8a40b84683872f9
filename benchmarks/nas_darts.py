"""DARTS on the NAS-Bench-201 cell, Fashion-MNIST, through the product's path (``trw_ray.nas.darts_search`` and
``trw_ray.nas.retrain``, Tune trials on the local Ray), against random cells of the same space.

(a) Quality: ``--searches`` supernet searches (seeds 0..n-1) in each variant of ``--variants``: ``guarded`` (the
collapse guard's early stop: the default), ``darts-`` (the guard and DARTS-' auxiliary skip) and ``vanilla`` (neither).
Every distinct derived cell and ``--random-cells`` random cells are retrained from scratch the same way
(``--retrain-seeds`` seeds) and tested on the test split. Printed: each derived cell's percentile among the random
cells (mean test accuracy), collapses (more than 3 skip/pool ops in the derived cell) per variant, the supernets'
time per epoch.
(b) Cost, on one process and the same batches: a supernet's training step (forward + backward) against the sum of
the same network with every edge one candidate op, each op alone (the cost of mixing); peak memory added by a
training step with and without partial channels (K = 1, 2, 4), each in its own process.

    python benchmarks/nas_darts.py [--part a|b|all] [--searches 5] [--train-samples 4000] [--eval-samples 3000]
        [--epochs 10] [--width 8] [--arch-lr 3e-3] [--warmup 3] [--random-cells 10] [--retrain-seeds 3]
        [--retrain-epochs 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import trw_ray as trw
from trw_ray.nas.genotypes import NB201, NB201Genotype, parameter_free_count

INPUTS = "trw_ray.nas.inputs:fashion_mnist_inputs"


def random_cells(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    cells: list[str] = []
    while len(cells) < count:
        cell = str(NB201Genotype(tuple(NB201.ops[i] for i in rng.integers(0, len(NB201.ops), NB201.num_edges))))
        if cell not in cells:
            cells.append(cell)
    return cells


def part_a(args, storage: Path) -> dict:
    inputs = {"max_train_samples": args.train_samples, "max_eval_samples": args.eval_samples, "batch_size": 64}
    runs = {}
    variants = {"guarded": (True, 0.0), "darts-": (True, 1.0), "vanilla": (False, 0.0)}
    for label in args.variants.split(","):
        guard, aux_skip = variants[label]
        started = time.perf_counter()
        results = trw.nas.darts_search(
            INPUTS, space="nb201", num_samples=args.searches, epochs=args.epochs, seed=0,
            settings={"width": args.width, "depth": 1, "aux_skip": aux_skip, "arch_learning_rate": args.arch_lr,
                      "warmup_epochs": args.warmup},
            guard=guard, inputs_kwargs=inputs,
            storage_path=storage, name=f"darts_{label}", verbose=0)
        trials = results.search.trials().sort_values("config/seed")
        runs[label] = {"trials": trials, "seconds": time.perf_counter() - started}
        print(f"{label}: {len(trials)} searches in {runs[label]['seconds']:.0f} s", flush=True)
    derived = sorted({g for run in runs.values() for g in run["trials"]["result/genotype"].dropna()})
    randoms = random_cells(args.random_cells, seed=2026)
    started = time.perf_counter()
    retrained, ranking = trw.nas.retrain(
        derived + [c for c in randoms if c not in derived], INPUTS, seeds=args.retrain_seeds,
        epochs=args.retrain_epochs, settings={"width": args.width, "depth": 1}, inputs_kwargs=inputs,
        storage_path=storage, name="retrain", verbose=0)
    retrain_seconds = time.perf_counter() - started
    accuracy = dict(zip(ranking["genotype"], ranking["accuracy_mean"], strict=True))
    spread = dict(zip(ranking["genotype"], ranking["accuracy_std"], strict=True))
    random_accuracy = np.array([accuracy[c] for c in randoms])
    median = float(np.median(random_accuracy))
    print(f"\nrandom cells ({len(randoms)}, {args.retrain_seeds} seeds each): test accuracy median {median:.4f}, "
          f"min {random_accuracy.min():.4f}, max {random_accuracy.max():.4f}; retraining took {retrain_seconds:.0f} s")
    summary = {"random_median": median, "random": {c: accuracy[c] for c in randoms}}
    for label, run in runs.items():
        rows = []
        guard, aux_skip = variants[label]
        print(f"\n{label} searches (guard {'on' if guard else 'off'}, aux skip {'1 -> 0' if aux_skip else 'off'}):")
        print(f"{'seed':>4} {'collapsed':>9} {'guard stop':>10} {'pf ops':>6} {'s/epoch':>7} {'test acc':>12} "
              f"{'percentile':>10}  genotype")
        for _, trial in run["trials"].iterrows():
            genotype = trial["result/genotype"]
            if not isinstance(genotype, str):
                print(f"{int(trial['config/seed']):>4} failed: {trial['error']}")
                continue
            collapsed = parameter_free_count(genotype) > NB201.default_max_parameter_free
            percentile = float((random_accuracy < accuracy[genotype]).mean() * 100)
            rows.append({"seed": int(trial["config/seed"]), "genotype": genotype, "collapsed": collapsed,
                         "guard_stopped": bool(trial["result/guard_stopped"]), "accuracy": accuracy[genotype],
                         "percentile": percentile, "seconds_per_epoch": float(trial["result/seconds_per_epoch"]),
                         "parameter_free": parameter_free_count(genotype)})
            print(f"{rows[-1]['seed']:>4} {collapsed!s:>9} {rows[-1]['guard_stopped']!s:>10} "
                  f"{rows[-1]['parameter_free']:>6} {rows[-1]['seconds_per_epoch']:>7.1f} "
                  f"{accuracy[genotype]:.4f}+-{spread[genotype]:.4f} {percentile:>9.0f}%  {genotype}")
        above = sum(row["accuracy"] > median for row in rows)
        collapses = sum(row["collapsed"] for row in rows)
        print(f"{label}: collapsed {collapses}/{len(rows)}, above the random median {above}/{len(rows)}, "
              f"search {run['seconds']:.0f} s")
        summary[label] = {"rows": rows, "collapsed": collapses, "above_median": above, "seconds": run["seconds"]}
    guarded = summary.get("guarded") or summary[next(iter(runs))]
    print(f"\ngoal ({'guarded' if 'guarded' in summary else next(iter(runs))}): no collapse in >= 4 of 5: {len(guarded['rows']) - guarded['collapsed']}/"
          f"{len(guarded['rows'])}; above the random median in >= 4 of 5: {guarded['above_median']}/"
          f"{len(guarded['rows'])}")
    return summary


# ---------------------------------------------------------------------------------------------------- part (b)

def _time_steps(model, batches, repeats: int) -> float:
    import torch

    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    model.train()
    for batch in batches[:1]:  # warm-up
        model(batch)["softmax"].evaluate(batch, "softmax").loss.backward()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            model(batch)["softmax"].evaluate(batch, "softmax").loss.backward()
            optimizer.step()
        best = min(best, time.perf_counter() - started)
    return best


def mixing_cost(width: int, batches_count: int, repeats: int) -> dict:
    import torch

    from trw_ray.nas import Supernet, build_network

    torch.manual_seed(0)
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    batches = [{"images": torch.rand(64, 1, 28, 28, generator=generator),
                "targets": torch.randint(0, 10, (64,), generator=generator)} for _ in range(batches_count)]
    rows = {}
    # interleaved: each round times the supernet, then every single-op network, so drift hits all alike
    supernet = Supernet("nb201", width=width, depth=1)
    singles = {op: build_network("+".join("|" + "|".join(f"{op}~{i}" for i in range(node)) + "|" for node in (1, 2, 3)),
                                 width=width, depth=1) for op in NB201.ops}
    for _ in range(repeats):
        rows.setdefault("supernet", []).append(_time_steps(supernet, batches, 1))
        for op, network in singles.items():
            rows.setdefault(op, []).append(_time_steps(network, batches, 1))
    best = {name: min(times) for name, times in rows.items()}
    ops_sum = sum(best[op] for op in NB201.ops)
    # the 'none' network still has stem, reductions and classifier: the skeleton counted once, not five times
    skeleton = best["none"]
    mixing = (best["supernet"] - skeleton) / (ops_sum - len(NB201.ops) * skeleton)
    return {"seconds": best, "ratio_whole": best["supernet"] / ops_sum, "ratio_cells": mixing,
            "batches": batches_count}


def memory_worker(partial_channels: int, width: int, batch_size: int) -> None:
    """One process: the bytes a supernet training step keeps for its backward pass (every tensor autograd saves,
    counted once per storage: what dominates a GPU's peak), and the step's peak RSS growth."""
    import torch

    from trw_ray.nas import Supernet

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = Supernet("nb201", width=width, depth=1, partial_channels=partial_channels)
    batch = {"images": torch.rand(batch_size, 1, 28, 28), "targets": torch.randint(0, 10, (batch_size,))}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = net(batch)["softmax"].evaluate(batch, "softmax").loss
    loss.backward()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"saved_mib": sum(seen.values()) / 2**20, "rss_added_mib": (peak - before) / 1024,
                      "seconds": seconds}))


def part_b(args) -> dict:
    cost = mixing_cost(args.width, batches_count=8, repeats=5)
    print(f"\n(b) mixing cost, width {args.width}, {cost['batches']} training steps of 64 images, best of 5, 1 thread:")
    for name, seconds in cost["seconds"].items():
        print(f"  {name:>14}: {seconds:.3f} s")
    print(f"  supernet / sum of the single-op networks: {cost['ratio_whole']:.3f} (whole networks); cells only "
          f"(the shared stem/reductions/classifier, measured as the all-'none' network, taken out): "
          f"{cost['ratio_cells']:.3f}  (goal <= 1.3)")
    memory = {}
    print(f"\n(b) memory of a supernet training step (width {args.width}, batch 256, each in its own process): what "
          "autograd keeps for the backward pass, and the peak RSS growth")
    for k in (1, 2, 4):
        output = subprocess.run([sys.executable, __file__, "--memory-worker", str(k), "--width", str(args.width)],
                                capture_output=True, text=True, check=True).stdout
        memory[k] = json.loads(output.strip().splitlines()[-1])
        print(f"  partial channels K={k}: saved for backward {memory[k]['saved_mib']:.0f} MiB"
              + (f" ({memory[k]['saved_mib'] / memory[1]['saved_mib']:.2f}x of K=1)" if k > 1 else "")
              + f", peak RSS +{memory[k]['rss_added_mib']:.0f} MiB, {memory[k]['seconds']:.2f} s per step")
    return {"mixing": cost, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "all"], default="all")
    parser.add_argument("--searches", type=int, default=5)
    parser.add_argument("--variants", default="guarded,darts-,vanilla", help="comma-separated: guarded, darts-, vanilla")
    parser.add_argument("--train-samples", type=int, default=4000, help="halved: weights / architecture")
    parser.add_argument("--eval-samples", type=int, default=3000, help="valid and test samples")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--arch-lr", type=float, default=3e-3,
                        help="Adam's learning rate of the architecture (the paper's 3e-4 hardly moves it in 10 short epochs)")
    parser.add_argument("--warmup", type=int, default=3, help="epochs that train the weights only")
    parser.add_argument("--random-cells", type=int, default=10)
    parser.add_argument("--retrain-seeds", type=int, default=3)
    parser.add_argument("--retrain-epochs", type=int, default=8)
    parser.add_argument("--storage", default=None, help="where the experiments go (default: a temporary folder)")
    parser.add_argument("--memory-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker is not None:
        memory_worker(args.memory_worker, args.width, 256)
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {vars(args)}")
    summary = {}
    with tempfile.TemporaryDirectory(prefix="nas_darts_") as folder:
        storage = Path(args.storage) if args.storage else Path(folder)
        if args.part in ("a", "all"):
            summary["a"] = part_a(args, storage)
        if args.part in ("b", "all"):
            summary["b"] = part_b(args)
    print("\n" + json.dumps(summary, default=str)[:4000])


if __name__ == "__main__":
    main()
