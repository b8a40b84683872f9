"""Train the documentation's MNIST CNN with every default report (TRW documentation, sections 1.1 and 1.3).

    python examples/train_with_reports.py            # 3 epochs on full MNIST, about a minute on 2 cores
    python examples/train_with_reports.py --smoke    # 1 epoch on 2,000 images, seconds

Prints the run folder (open its index.html: confusion matrices, history, worst samples, errors, explanations,
activations, the ONNX check...) and the test accuracy.
"""

import argparse

import trw_ray as trw
from trw_ray.examples.mnist_tour import Net, test_accuracy

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()

options = trw.train.create_default_options(num_epochs=1 if args.smoke else 3, progress_bar=False)
model, results = trw.train.Trainer().fit(
    options,
    inputs_fn=lambda: trw.datasets.create_mnist_dataset(
        normalize_0_1=False, batch_size=100, max_train_samples=2000 if args.smoke else None,
        max_eval_samples=500 if args.smoke else None),
    model_fn=lambda options: Net(),                       # forward(batch) returns {'softmax': OutputClassification}
    optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, learning_rate=0.1))

print(f"run folder: {results['run_dir']} (index.html: every report)")
print(f"test accuracy: {test_accuracy(results):.4f}")
