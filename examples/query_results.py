"""Query a search experiment without Ray: trials, best, histories, best-so-far curve, per-sample tables, a model.

    python examples/query_results.py ~/trw_ray_logs/searches/<experiment>
    python examples/query_results.py --smoke      # on a small experiment written by hand

Works on a finished, interrupted or still running search (it reads trw_ray's own record, ``<experiment>/trw_ray``).
"""

import argparse
from pathlib import Path

import numpy as np

import trw_ray as trw

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", help="an experiment folder")
parser.add_argument("--smoke", action="store_true", help="query a small hand-written experiment")
args = parser.parse_args()
if args.smoke:  # three trials with a validation table each, as a search leaves them
    from trw_ray.results.testing import classification_table, write_experiment

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 50)
    from trw_ray.io import default_logging_directory

    args.path = write_experiment(Path(default_logging_directory()) / "example_experiment", [
        {"trial_id": f"t{i}", "value": 0.4 + 0.1 * i, "config": {"lr": 0.1 * (i + 1)},
         "tables": {("mnist", "valid", "softmax", 1): classification_table(
             np.arange(50), labels, rng.dirichlet(np.ones(3), size=50), 1)}} for i in range(3)])
elif args.path is None:
    parser.error("path: give an experiment folder, or --smoke")

results = trw.results.load(args.path)
print(results)
print(results.trials()[["trial_id", "status", f"last/{results.metric}"]].to_string(index=False))
best = results.best()                                       # the trial with the best last value of the metric
print(f"best: {best['trial_id']} {results.metric}={best['value']:.4f} {best['config']}")
print(results.history(best["trial_id"]).tail(3).to_string(index=False))   # every reported epoch
print(results.anytime().tail(3).to_string(index=False))     # the best value found against the epochs consumed
samples = results.samples(split="valid")                    # per-sample tables of every trial's last epoch
print(f"{len(samples)} per-sample rows; columns: {list(samples.columns)[:8]} ...")
