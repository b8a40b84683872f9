"""The tour of TRW's documentation (section 1.3.2), with its truncated brackets completed, on a subset."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn
import torch.nn.functional as F

import trw_ray as trw


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()  # noqa: UP008 - the documentation's code, verbatim
        self.conv1 = nn.Conv2d(1, 20, 5, 2)
        self.fc1 = nn.Linear(20 * 6 * 6, 500)
        self.fc2 = nn.Linear(500, 10)
        self.relu_fc1 = nn.ReLU()
        self.relu_conv1 = nn.ReLU()

    def forward(self, batch):
        # a batch should be a dictionary of features
        x = batch['images'] / 255.0

        x = self.relu_conv1(self.conv1(x))
        x = F.max_pool2d(x, 2, 2)
        x = x.view(x.shape[0], -1)
        x = self.relu_fc1(self.fc1(x))
        x = self.fc2(x)

        # Here we create a softmax output that will use
        # the `targets` feature as classification target
        return {
            'softmax': trw.train.OutputClassification(x, 'targets')
        }


def test_seed_tour_reaches_95_percent_on_a_subset():
    # Configure and run the training/evaluation
    options = trw.train.create_default_options(num_epochs=2)
    trainer = trw.train.Trainer()

    model, results = trainer.fit(
        options,
        inputs_fn=lambda: trw.datasets.create_mnist_datasset(batch_size=100, max_train_samples=10000),
        model_fn=lambda options: Net(),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(
            datasets=datasets, model=model, learning_rate=0.1))

    # Calculate statistics of the final epoch
    output = results['outputs']['mnist']['test']['softmax']
    accuracy = float(np.sum(output['output'] == output['output_truth'])) / len(output['output_truth'])
    assert accuracy >= 0.95
    assert len(output['output_truth']) == 10000


def test_cli_tour_prints_run_folder_and_accuracy_then_searches(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "trw_ray.cli", "tour", "--epochs", "1", "--max-train-samples", "3000", "--batch-size", "50",
         "--logging-directory", str(tmp_path), "--search-trials", "3", "--search-algorithm", "random"],
        capture_output=True, text=True, timeout=400, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "test accuracy: 0." in completed.stdout
    run_dir = Path(completed.stdout.split("run folder: ")[1].splitlines()[0])
    assert run_dir.parent == tmp_path and (run_dir / "last.onnx").is_file()
    accuracy = float(completed.stdout.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.85
    assert "search: 3 trials (9 epochs)" in completed.stdout
    assert "best loss of the trials trained to the end 0." in completed.stdout  # random search: all of them
    report = Path(completed.stdout.split("search report: ")[1].splitlines()[0])
    experiment = Path(completed.stdout.split("experiment: ")[1].splitlines()[0])
    assert report.is_file() and experiment.parent == tmp_path / "searches"
    listed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "results", str(experiment), "--json"],
                            capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(listed.stdout)
    assert len(data["trials"]) == 3
    assert data["best"]["value"] == pytest.approx(min(t["last/loss"] for t in data["trials"]), rel=1e-6)
    table = subprocess.run([sys.executable, "-m", "trw_ray.cli", "results", str(experiment)],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert "config/learning_rate" in table and "best trial" in table


def test_cli_rejects_unknown_command():
    completed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "frobnicate"], capture_output=True, text=True,
                               check=False)
    assert completed.returncode == 2 and "invalid choice" in completed.stderr


def test_cli_search_reports_bad_requests_as_one_line_errors(tmp_path):
    space = Path(__file__).resolve().parents[1] / "search_spaces" / "mnist_cnn_tiny.yaml"
    completed = subprocess.run(
        [sys.executable, "-m", "trw_ray.cli", "search", str(space), "--gpus-per-trial", "1", "--storage-path",
         str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 2
    assert "trw-ray search: error: resources_per_trial: a trial asks for 1 GPU" in completed.stderr
    assert "Traceback" not in completed.stderr
    missing = subprocess.run([sys.executable, "-m", "trw_ray.cli", "results", str(tmp_path / "nothing")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "is not a trw_ray search experiment" in missing.stderr
