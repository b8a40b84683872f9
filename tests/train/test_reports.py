"""The run folder of a training with the default reports (TRW documentation, sections 1.1 and 1.3.3)."""

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import chromium_path, make_blobs
from sklearn import metrics as sk_metrics

import trw_ray as trw
from trw_ray.train import SequenceArray


class NetWithEmbedding(nn.Module):
    """The documentation's MNIST CNN, also returning its hidden layer as an embedding."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 2)
        self.fc1 = nn.Linear(20 * 6 * 6, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, batch):
        x = F.max_pool2d(F.relu(self.conv1(batch["images"] / 255.0)), 2, 2)
        hidden = F.relu(self.fc1(x.view(x.shape[0], -1)))
        return {"softmax": trw.train.OutputClassification(self.fc2(hidden), "targets"),
                "embedding": trw.train.OutputEmbedding(hidden)}


NUM_EPOCHS = 3


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    def inputs():
        full = trw.datasets.create_mnist_dataset(batch_size=100, max_train_samples=3000)["mnist"]
        test = full["test"]
        small_test = SequenceArray({k: v[:1000] for k, v in test.split.items()}, batch_size=250, shuffle=False,
                                   class_names=test.class_names)
        return {"mnist": {"train": full["train"], "test": small_test}}

    options = trw.train.create_default_options(num_epochs=NUM_EPOCHS, device="cpu",
                                               logging_directory=tmp_path_factory.mktemp("reports"))
    options["workflow_options"]["hparams"] = {"learning_rate": 0.1, "activation": "relu"}
    model, results = trw.train.Trainer().fit(
        options, inputs_fn=inputs, model_fn=lambda options: NetWithEmbedding(),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, learning_rate=0.1),
        run_prefix="mnist_cnn")
    return model, results, Path(results["run_dir"])


def test_no_callback_failed(mnist_run):
    log = (mnist_run[2] / "trainer.txt").read_text()
    assert "failed" not in log, log


def test_random_samples(mnist_run):
    folder = mnist_run[2] / "random_samples" / "mnist"
    assert (folder / "mnist_test_s0_e0.png").is_file() and (folder / "mnist_train_s5_e0.png").is_file()
    text = (folder / "mnist_test_s0_e0.txt").read_text()
    target = int(re.search(r"^targets=(\d)$", text, re.M).group(1))
    assert f"targets_str={trw.datasets.mnist.CLASS_NAMES[target]}" in text and "sample_uid=" in text


def test_confusion_matrices_and_reports_match_sklearn(mnist_run):
    _, results, run_dir = mnist_run
    for split, size in (("test", 1000), ("train", 3000)):
        collected = results["outputs"]["mnist"][split]["softmax"]
        matrix = pd.read_csv(run_dir / f"softmax-mnist-{split}-cm.csv", index_col=0).to_numpy()
        assert matrix.sum() == size
        assert np.array_equal(matrix, sk_metrics.confusion_matrix(collected["output_truth"], collected["output"],
                                                                    labels=list(range(10))))
        assert (run_dir / f"softmax-mnist-{split}-cm.png").is_file()
        report = (run_dir / f"softmax-mnist-{split}-report.txt").read_text()
        accuracy = float(re.search(r"^accuracy: ([\d.]+)$", report, re.M).group(1))
        assert accuracy == pytest.approx(sk_metrics.accuracy_score(collected["output_truth"], collected["output"]), abs=1e-6)
        precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
            collected["output_truth"], collected["output"], labels=list(range(10)), zero_division=0)
        row = re.search(r"^\s*3 - three\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", report, re.M)
        assert [float(row.group(i)) for i in (1, 2, 3)] == pytest.approx([precision[3], recall[3], f1[3]], abs=1e-4)
        assert int(row.group(4)) == support[3]
        assert "most common confusions" in report


def test_history_lr_and_best(mnist_run):
    run_dir = mnist_run[2]
    for metric in ("softmax-accuracy", "softmax-loss"):
        assert (run_dir / "history" / f"mnist-{metric}.png").is_file()
    assert not (run_dir / "history" / "mnist-overall_loss-loss.png").exists()  # same curve as softmax-loss
    lr = pd.read_csv(run_dir / "lr_recorder" / "learning_rate.csv")
    assert list(lr["epoch"]) == [1, 2, 3] and lr["mnist"].tolist() == pytest.approx([0.1] * 3)
    assert (run_dir / "lr_recorder" / "learning_rate.png").is_file()
    assert "mnist/test/softmax/accuracy: best=" in (run_dir / "best_history.txt").read_text()


def test_worst_samples_by_epoch(mnist_run):
    _, results, run_dir = mnist_run
    folder = run_dir / "worst_samples_by_epoch"
    table = pd.read_parquet(folder / "softmax-mnist-test-losses.parquet")
    assert list(table.columns) == ["sample_uid", "epoch_1", "epoch_2", "epoch_3"]  # one heatmap row per epoch
    assert len(table) == 1000
    collected = results["outputs"]["mnist"]["test"]["softmax"]
    last = dict(zip(collected["sample_uid"].tolist(), collected["loss"].tolist(), strict=False))
    assert table["epoch_3"].tolist() == pytest.approx([last[uid] for uid in table["sample_uid"]], rel=1e-5)
    means = table[["epoch_1", "epoch_2", "epoch_3"]].mean(axis=1).to_numpy()
    assert np.all(np.diff(means) >= -1e-6)  # sorted by overall loss
    for name in ("softmax-mnist-test-heatmap.png", "softmax-mnist-test-worst.png", "softmax-mnist-train-heatmap.png"):
        assert (folder / name).is_file()


def test_errors(mnist_run):
    _, results, run_dir = mnist_run
    collected = results["outputs"]["mnist"]["test"]["softmax"]
    errors = pd.read_csv(run_dir / "errors" / "mnist" / "softmax-test-errors.csv")
    assert len(errors) == int(np.sum(collected["output"] != collected["output_truth"])) > 0
    assert (errors["prediction"] != errors["truth"]).all()
    assert errors["probability_prediction"].is_monotonic_decreasing
    assert set(errors["truth_name"]) <= set(trw.datasets.mnist.CLASS_NAMES)
    assert (run_dir / "errors" / "mnist" / "softmax-test-errors.png").is_file()


def test_model_debugging_and_understanding(mnist_run):
    model, _, run_dir = mnist_run
    activations = pd.read_csv(run_dir / "activations" / "activations.csv")
    assert set(activations["epoch"]) == {1, 2, 3}
    assert {"conv1", "fc1", "fc2"} <= set(activations["layer"])
    assert activations["dead_fraction"].between(0, 1).all()
    gradients = pd.read_csv(run_dir / "gradients" / "gradients.csv")
    assert set(gradients["parameter"]) == {name for name, _ in model.named_parameters()}
    assert len(gradients) == 3 * len(list(model.parameters())) and (gradients["gradient_norm"] > 0).all()
    for name in ("activations/activations.png",
                 "gradients/gradient_norm.png", "explanations/softmax-mnist-test-gradcam.png"):
        assert (run_dir / name).is_file(), name


def test_summaries(mnist_run):
    model, _, run_dir = mnist_run
    summary = (run_dir / "model_summary.txt").read_text()
    assert f"parameters: {sum(p.numel() for p in model.parameters()):,}" in summary
    assert re.search(r"conv1\s+Conv2d\s+\[None, 20, 12, 12\]\s+520", summary)
    data = (run_dir / "data_summary.txt").read_text()
    assert "mnist/train: 3000 samples" in data and "mnist/test: 1000 samples" in data
    assert "images: shape [None, 1, 28, 28] dtype uint8" in data and "class balance of 'targets'" in data


def test_tensorboard_scalars_graph_histograms_hparams_and_projector(mnist_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = mnist_run[2] / "tensorboard"
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    assert "mnist/test/softmax/accuracy" in tags["scalars"]
    assert [event.step for event in accumulator.Scalars("mnist/test/softmax/loss")] == [1, 2, 3]
    assert "weights/conv1.weight" in tags["histograms"] and "gradients/fc1.weight" in tags["histograms"]
    assert tags["graph"]
    hparams = accumulator.PluginTagToContent("hparams")
    assert any(b"learning_rate" in content for content in hparams.values())
    projector = (folder / "projector_config.pbtxt").read_text()
    assert "mnist-test-embedding" in projector and "sprite" in projector
    tensors = next(folder.glob("*/*/tensors.tsv")).read_text().strip().splitlines()
    assert len(tensors) == 1000 and len(tensors[0].split("\t")) == 500


def test_onnx_reproduces_pytorch(mnist_run):
    _, results, run_dir = mnist_run
    assert results["onnx"]["max_abs_difference"] is not None and results["onnx"]["max_abs_difference"] < 1e-4
    assert "max abs difference onnxruntime vs PyTorch" in (run_dir / "trainer.txt").read_text()


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        self.sources += [value for name, value in attrs if name in ("src", "href")]


def test_index_html_references_every_report(mnist_run):
    run_dir = mnist_run[2]
    page = (run_dir / "index.html").read_text()
    parser = _Sources()
    parser.feed(page)
    from urllib.parse import unquote
    assert parser.sources and all((run_dir / unquote(source)).exists() for source in parser.sources)
    for expected in ("softmax-mnist-test-cm.png", "history/mnist-softmax-accuracy.png", "worst_samples_by_epoch/",
                     "errors/mnist/", "explanations/", "activations/", "gradients/", "random_samples/mnist/",
                     "lr_recorder/", "model_summary.txt", "data_summary.txt", "last.onnx"):
        assert expected in page, expected


def test_index_html_renders_in_headless_chromium_without_console_errors(mnist_run, tmp_path):
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs chromium-headless-shell from Debian)")
    run_dir = mnist_run[2]
    page = (run_dir / "index.html").as_uri()
    screenshot = tmp_path / "index.png"
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--allow-file-access-from-files", f"--screenshot={screenshot}", "--window-size=1280,2000", page],
        capture_output=True, text=True, timeout=120, check=False)
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, completed.stderr[-2000:]
    console = [line for line in completed.stderr.splitlines() if "CONSOLE" in line or "ERR_FILE_NOT_FOUND" in line]
    assert not console, console


def test_compare_command(mnist_run, tmp_path):
    _, _, run_dir = mnist_run
    second = tmp_path / "second_r0"
    shutil.copytree(run_dir, second)
    output = tmp_path / "comparison"
    completed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "report", "compare", str(run_dir), str(second),
                                "--output", str(output)], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    table = pd.read_csv(output / "final_metrics.csv")
    assert set(table["run"]) == {run_dir.name, "second_r0"}
    accuracy = table[(table.split == "test") & (table.metric == "accuracy")]
    assert accuracy["value"].nunique() == 1 and len(accuracy) == 2
    assert (output / "mnist-test-softmax-accuracy.png").is_file() and (output / "index.html").is_file()
    assert "mnist" in completed.stdout
    failed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "report", "compare", str(run_dir), str(tmp_path / "nope")],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and "does not exist" in failed.stderr
    (tmp_path / "empty").mkdir()
    failed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "report", "compare", str(run_dir), str(tmp_path / "empty")],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and "no last.model.result" in failed.stderr


class Binary(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.dead = nn.Linear(4, 2)

    def forward(self, batch):
        return {"binary": trw.train.OutputClassification(self.fc(batch["x"]) + 0.0 * self.dead(batch["x"]), "y")}


def test_binary_roc_integrated_gradients_and_vanishing_gradients():
    def inputs():
        train, test = make_blobs(200, num_classes=2, seed=0), make_blobs(80, num_classes=2, seed=1)
        return {"blobs": {"train": SequenceArray(train, batch_size=20), "test": SequenceArray(test, batch_size=40)}}

    options = trw.train.create_default_options(num_epochs=2, device="cpu")
    _, results = trw.train.Trainer().fit(options, inputs_fn=inputs, model_fn=lambda o: Binary(),
                                         optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, 0.1))
    run_dir = Path(results["run_dir"])
    collected = results["outputs"]["blobs"]["test"]["binary"]
    assert (run_dir / "binary-blobs-test-roc.png").is_file()
    report = (run_dir / "binary-blobs-test-report.txt").read_text()
    auc = float(re.search(r"ROC AUC: ([\d.]+)", report).group(1))
    assert auc == pytest.approx(sk_metrics.roc_auc_score(collected["output_truth"], collected["output_raw"][:, 1]), abs=1e-6)
    assert (run_dir / "explanations" / "binary-blobs-test-integrated_gradients.png").is_file()
    log = (run_dir / "trainer.txt").read_text()
    assert re.search(r"gradient of dead\.weight is vanishing", log)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(1, 8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, batch):
        tokens = self.embed(batch["x"][..., None])
        attended, _ = self.attention(tokens, tokens, tokens)
        return {"cls": trw.train.OutputClassification(self.out(attended.mean(dim=1)), "y")}


def test_attention_maps_are_exported():
    def inputs():
        return {"blobs": {"train": SequenceArray(make_blobs(60), batch_size=20),
                          "test": SequenceArray(make_blobs(30, seed=3), batch_size=30)}}

    options = trw.train.create_default_options(num_epochs=1, device="cpu")
    _, results = trw.train.Trainer().fit(options, inputs_fn=inputs, model_fn=lambda o: Attention(),
                                         optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, 0.1))
    maps = list((Path(results["run_dir"]) / "attention").glob("attention-blobs-test-uid*.png"))
    assert len(maps) == 4


def test_tensorboard_skips_the_histograms_of_non_finite_weights_with_one_line_in_the_log():
    class WithBrokenBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.unused = nn.Parameter(torch.full((5,), float("nan")))  # e.g. a weight that overflowed

        def forward(self, batch):
            return {"cls": trw.train.OutputClassification(self.fc(batch["x"]), "y")}

    options = trw.train.create_default_options(num_epochs=2, device="cpu", progress_bar=False)
    options["workflow_options"]["console_log"] = False
    trainer = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [trw.train.CallbackTensorboard(graph=False)],
                                callbacks_post_training_fn=list, strict_callbacks=True)
    _, results = trainer.fit(
        options, inputs_fn=lambda: {"blobs": {"train": trw.train.SequenceArray(make_blobs(40), batch_size=20)}},
        model_fn=lambda o: WithBrokenBuffer(),
        optimizers_fn=lambda d, m: torch.optim.SGD(m.fc.parameters(), lr=0.1))
    log = (Path(results["run_dir"]) / "trainer.txt").read_text()
    assert "The histogram is empty" not in log
    assert log.count("no histogram for 1 tensor(s) holding NaN or infinite values: weights/unused") == 2


def test_a_log_axis_over_a_narrow_range_reads_as_plain_numbers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trw_ray.reports.plots import _log_y_axis

    figure, axis = plt.subplots()
    axis.plot([1, 2, 3], [2.4, 2.31, 2.28])
    _log_y_axis(axis)
    figure.canvas.draw()
    labels = [tick.get_text() for tick in axis.get_yticklabels(minor=True) + axis.get_yticklabels()]
    plt.close(figure)
    shown = [label for label in labels if label]
    assert shown and not any("times" in label or "^" in label for label in shown), shown
    assert "2.3" in shown or "2.4" in shown, shown


def test_public_packages_list_no_import_artifacts():
    import importlib

    for name in ("trw_ray", "trw_ray.nas", "trw_ray.hparams", "trw_ray.train", "trw_ray.results", "trw_ray.data",
                 "trw_ray.layers", "trw_ray.datasets", "trw_ray.reports", "trw_ray.train.callbacks"):
        assert "annotations" not in dir(importlib.import_module(name)), name
