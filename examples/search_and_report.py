"""A hyper-parameter search on a local Ray (TRW documentation, section 1.3.3), then its report.

    python examples/search_and_report.py             # 8 trials of ASHA over search_spaces/mnist_cnn_tiny.yaml
    python examples/search_and_report.py --smoke     # 2 trials, 1 epoch on 1,000 images

The space file names the trainable (``trw_ray.examples.mnist_search:evaluate_hparams``, the documentation's network
built with simple layers), its parameters and their ranges. The report ranks the parameters by importance (fANOVA),
plots the metric against each and the learning curves, and links every trial's run report.
"""

import argparse
from pathlib import Path

import trw_ray as trw

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()

space = Path(__file__).resolve().parent.parent / "search_spaces" / "mnist_cnn_tiny.yaml"
results = trw.hparams.search(
    space=space, algorithm="random" if args.smoke else "asha", num_samples=2 if args.smoke else 8, seed=0,
    max_epochs=1 if args.smoke else None, verbose=0)   # into $TRW_RAY_LOGGING_ROOT/searches

trials = results.trials()                         # one row per trial: status, config/..., last/<metric>, epochs
best = results.best()
print(f"{len(trials)} trials; best {results.metric} {best['value']:.4f} with {best['config']}")
report = trw.reports.search_report(results)     # <experiment>/report/index.html
print(f"search report: {report['index']}")
