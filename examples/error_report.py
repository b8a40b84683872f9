"""The error report of a search: what the trials agree they get wrong (label errors first).

    python examples/error_report.py                 # a search of 6 trials on MNIST with 2% of its labels flipped
    python examples/error_report.py --smoke         # 2 trials of 1 epoch on 1,000 images

Every search trial leaves per-sample tables (loss, probabilities) of each evaluated split; the report ranks the
samples by the trials' log margin of their label, weighted by each trial's log loss, shows the candidates as images,
the confusions most trials make and the training dynamics, and says which labels were planted (``label_noise``).
"""

import argparse

import trw_ray as trw

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()
size = {"max_train_samples": 1000, "max_eval_samples": 500} if args.smoke else \
    {"max_train_samples": 10000, "max_eval_samples": 2000}
noise = {"valid": 0.02}                             # 2% of the validation labels flipped, seeded


def evaluate(hparams):
    from trw_ray.examples.mnist_search import evaluate_hparams

    return evaluate_hparams(hparams, num_epochs=1 if args.smoke else 3, batch_size=200, label_noise=noise, **size)


# space=None: the search discovers the parameters evaluate_hparams declares (learning rate, widths)
results = trw.hparams.search(evaluate, num_samples=2 if args.smoke else 6, seed=0, verbose=0)
datasets = trw.datasets.create_mnist_dataset(normalize_0_1=True, label_noise=noise, **size)   # to show the images
report = trw.reports.error_report(results, datasets=datasets)
print(report["label_issues"][["split", "sample_uid", "label", "ensemble_label", "rank"]].head(10).to_string(index=False))
print(f"error report: {report['index']}")
