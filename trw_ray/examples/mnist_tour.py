"""The MNIST tour of TRW's documentation (section 1.3): the seed's ``Net`` trained with the Trainer."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

import trw_ray as trw


class Net(nn.Module):
    """The documentation's MNIST CNN: conv 5x5/2 (20) -> max-pool -> fc 500 -> fc 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 2)
        self.fc1 = nn.Linear(20 * 6 * 6, 500)
        self.fc2 = nn.Linear(500, 10)
        self.relu_fc1 = nn.ReLU()
        self.relu_conv1 = nn.ReLU()

    def forward(self, batch):
        x = batch["images"] / 255.0
        x = self.relu_conv1(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(x.shape[0], -1)
        x = self.relu_fc1(self.fc1(x))
        x = self.fc2(x)
        return {"softmax": trw.train.OutputClassification(x, "targets")}


def test_accuracy(results: dict[str, Any], dataset: str = "mnist", split: str = "test", output: str = "softmax") -> float:
    collected = results["outputs"][dataset][split][output]
    return float(np.sum(collected["output"] == collected["output_truth"])) / len(collected["output_truth"])


def augmentation(seed: int = 0):
    """The tour's augmentation: a random translation of up to 2 pixels and a small affine transform."""
    from trw_ray.data.transforms import Compose, RandomAffine, RandomCropPad, TransformBatch

    return TransformBatch(Compose([RandomCropPad(2), RandomAffine(max_rotation=8, max_scale=0.08, max_translation=1)]),
                          seed=seed)


def create_inputs(batch_size: int = 1000, max_train_samples: int | None = None, augment: str | None = None,
                  workers: int = 2, seed: int = 0) -> dict:
    """MNIST, its train split optionally augmented through ``SequenceMap`` (``augment='map'``) or
    ``SequenceAsyncReservoir`` (``augment='reservoir'``) with ``workers`` Ray actors."""
    datasets = trw.datasets.create_mnist_dataset(batch_size=batch_size, max_train_samples=max_train_samples, seed=seed)
    train = datasets["mnist"]["train"]
    if augment == "map":
        datasets["mnist"]["train"] = train.map(augmentation(seed), nb_workers=workers)
    elif augment == "reservoir":
        datasets["mnist"]["train"] = train.async_reservoir(
            max_reservoir_samples=min(train.num_samples, 20 * batch_size), function_to_run=augmentation(seed),
            min_reservoir_samples=min(train.num_samples, 5 * batch_size), nb_workers=workers)
    elif augment not in (None, "none"):
        raise ValueError(f"augment: expected None, 'map' or 'reservoir'; got {augment!r}")
    return datasets


def run_training(
    num_epochs: int = 3,
    max_train_samples: int | None = None,
    batch_size: int = 1000,
    learning_rate: float = 0.1,
    logging_directory: str | None = None,
    device: str | None = None,
    run_prefix: str = "mnist_cnn",
    augment: str | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Trains the tour's CNN with every default report; returns the run folder, test accuracy and timings."""
    options = trw.train.create_default_options(num_epochs=num_epochs, device=device, logging_directory=logging_directory)
    started = time.perf_counter()
    _, results = trw.train.Trainer().fit(
        options,
        inputs_fn=lambda: create_inputs(batch_size, max_train_samples, augment, workers),
        model_fn=lambda options: Net(),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(
            datasets=datasets, model=model, learning_rate=learning_rate),
        run_prefix=run_prefix,
    )
    return {"run_dir": results["run_dir"], "test_accuracy": test_accuracy(results),
            "seconds": time.perf_counter() - started, "results": results}
