"""One training on several processes: ``Trainer(workers=2)`` runs DistributedDataParallel on Ray Train workers, and a
search trains every trial that way with ``resources_per_trial={'workers': 2}``.

    python examples/data_parallel.py             # the MNIST CNN on 10,000 images, 2 workers, 2 epochs
    python examples/data_parallel.py --smoke     # 1,000 images, 1 epoch

Each worker trains on its share of the batches (the split's batch size is one worker's batch); the gradients are
averaged; evaluation gathers every worker's samples, so the metrics and per-sample tables equal one process's.
Rank 0 writes the run folder. On GPUs: ``workers={'workers': 2, 'gpu_per_worker': 1}``.
"""

import argparse

import trw_ray as trw
from trw_ray.examples.mnist_tour import Net, test_accuracy

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()
samples = 1000 if args.smoke else 10000

options = trw.train.create_default_options(num_epochs=1 if args.smoke else 2, progress_bar=False)
trainer = trw.train.Trainer(workers={"workers": 2, "cpu_per_worker": 1},
                            callbacks_per_epoch_fn=lambda: [trw.train.CallbackEpochSummary()])
model, results = trainer.fit(
    options,
    inputs_fn=lambda: trw.datasets.create_mnist_dataset(batch_size=50, max_train_samples=samples,
                                                        max_eval_samples=samples // 2),
    model_fn=lambda options: Net(),
    optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, learning_rate=0.05))
print(f"run folder: {results['run_dir']}; test accuracy: {test_accuracy(results):.4f} (2 workers)")
