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


def run_training(
    num_epochs: int = 3,
    max_train_samples: int | None = None,
    batch_size: int = 1000,
    learning_rate: float = 0.1,
    logging_directory: str | None = None,
    device: str | None = None,
    run_prefix: str = "mnist_cnn",
) -> dict[str, Any]:
    """Trains the tour's CNN with every default report; returns the run folder, test accuracy and timings."""
    options = trw.train.create_default_options(num_epochs=num_epochs, device=device, logging_directory=logging_directory)
    started = time.perf_counter()
    _, results = trw.train.Trainer().fit(
        options,
        inputs_fn=lambda: trw.datasets.create_mnist_dataset(batch_size=batch_size, max_train_samples=max_train_samples),
        model_fn=lambda options: Net(),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(
            datasets=datasets, model=model, learning_rate=learning_rate),
        run_prefix=run_prefix,
    )
    return {"run_dir": results["run_dir"], "test_accuracy": test_accuracy(results),
            "seconds": time.perf_counter() - started, "results": results}
