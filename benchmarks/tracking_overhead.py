"""What MLflow tracking costs a search: the same search of trivial trials with ``tracking=MLflowTracker(...)`` (a real
MLflow server on 127.0.0.1, SQLite store) and without it, in alternating order, on one local Ray.

Each trial reports ``--epochs`` results (``trw.hparams.report``), each after ``--epoch-s`` seconds (default 0: the
trials return at once, so the search's own cost per trial, Ray Tune and the record, is all there is to compare
with: the worst case for a tracker). The wall time includes the end of the search, which waits for the tracker to
log what it has not yet. Before the timed pairs, a short search warms Ray and one warms the server (its first
experiment). Prints each search's wall time, the ratio of the medians (goal <= 1.05), the added seconds per trial
and what reached MLflow (runs, metric points).

    python benchmarks/tracking_overhead.py [--trials 100] [--epochs 3] [--epoch-s 0] [--pairs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trw_ray as trw
from trw_ray.hparams import ContinuousUniform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tracking"))
from tracking_helpers import mlflow_server  # noqa: E402  (the tests' server: loopback, SQLite, ended by its pid)


def trivial(hparams):
    x = hparams.create("x", ContinuousUniform(0.5, -1.0, 1.0))
    for epoch in range(trw.hparams.trial_epochs(default=3)):
        time.sleep(float(os.environ.get("TRW_RAY_BENCH_EPOCH_S", "0")))
        trw.hparams.report({"loss": x * x / (epoch + 1)})
    return x * x


def run(storage: Path, name: str, trials: int, epochs: int, tracking) -> float:
    started = time.perf_counter()
    trw.hparams.search(trivial, space={"x": ContinuousUniform(0.5, -1.0, 1.0)}, num_samples=trials, max_epochs=epochs,
                       seed=0, storage_path=storage, name=name, verbose=0, tracking=tracking)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--epoch-s", type=float, default=0.0, help="seconds each trial takes before each report")
    args = parser.parse_args()
    os.environ["TRW_RAY_BENCH_EPOCH_S"] = str(args.epoch_s)  # the trials' workers inherit it
    import mlflow

    from trw_ray.ray_session import ensure_ray
    from trw_ray.tracking.mlflow_tracker import MLflowTracker

    ensure_ray()
    print(f"{platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}, "
          f"mlflow {mlflow.__version__}; {args.trials} trials x {args.epochs} reports x {args.epoch_s} s, "
          f"{args.pairs} pairs")
    with tempfile.TemporaryDirectory() as folder, mlflow_server(Path(folder) / "mlflow") as (uri, _):
        storage = Path(folder) / "searches"
        run(storage, "warm-up", 4, args.epochs, None)  # Ray's workers and Tune's imports, before any timing
        run(storage, "warm-up-tracked", 4, args.epochs, MLflowTracker(uri, experiment_name="warm-up"))
        times = {"tracked": [], "untracked": []}
        for pair in range(args.pairs):
            order = ("tracked", "untracked") if pair % 2 == 0 else ("untracked", "tracked")
            for kind in order:
                tracking = MLflowTracker(uri, experiment_name=f"overhead-{pair}") if kind == "tracked" else None
                times[kind].append(run(storage, f"{kind}-{pair}", args.trials, args.epochs, tracking))
                print(f"pair {pair + 1}: {kind:9s} {times[kind][-1]:7.2f} s", flush=True)
        client = mlflow.MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("overhead-0").experiment_id], max_results=1000)
        points = sum(len(client.get_metric_history(r.info.run_id, "loss")) for r in runs if r.data.params.get("x"))
    tracked, untracked = statistics.median(times["tracked"]), statistics.median(times["untracked"])
    print(f"median: tracked {tracked:.2f} s, untracked {untracked:.2f} s; ratio tracked / untracked "
          f"{tracked / untracked:.3f} (goal <= 1.05); {1000 * (tracked - untracked) / args.trials:.0f} ms added per "
          "trial")
    print(f"MLflow after the first tracked search: {len(runs)} runs (1 parent + {len(runs) - 1} trials), "
          f"{points} 'loss' points")


if __name__ == "__main__":
    main()
