import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from conftest import make_blobs

import trw_ray as trw
from trw_ray.train import OutputClassification, OutputRegression, SequenceArray


class BlobNet(nn.Module):
    def __init__(self, num_features: int = 4, num_classes: int = 3):
        super().__init__()
        self.fc = nn.Linear(num_features, num_classes)

    def forward(self, batch):
        return {"cls": OutputClassification(self.fc(batch["x"]), "y")}


def blob_datasets(batch_size=20, seed=0, name="blobs"):
    train, test = make_blobs(200, seed=seed), make_blobs(60, seed=seed + 100)
    return {name: {"train": SequenceArray(train, batch_size=batch_size, seed=seed),
                   "test": SequenceArray(test, batch_size=batch_size, shuffle=False)}}


def sgd(learning_rate=0.1, momentum=0.9):
    return lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, learning_rate, momentum=momentum)


def fit(trainer=None, num_epochs=3, inputs_fn=blob_datasets, model_fn=lambda options: BlobNet(), **kwargs):
    options = trw.train.create_default_options(num_epochs=num_epochs, device="cpu")
    return (trainer or trw.train.Trainer()).fit(
        options, inputs_fn=inputs_fn, model_fn=model_fn, optimizers_fn=kwargs.pop("optimizers_fn", sgd()), **kwargs)


def result_json(run_dir):
    return json.loads((Path(run_dir) / "last.model.result").read_text())


def test_fit_trains_and_fills_the_run_folder():
    model, results = fit(run_prefix="blobs")
    run_dir = Path(results["run_dir"])
    assert run_dir.name == "blobs_r0"
    output = results["outputs"]["blobs"]["test"]["cls"]
    accuracy = float(np.sum(output["output"] == output["output_truth"])) / len(output["output_truth"])
    assert accuracy >= 0.9
    assert sorted(output["sample_uid"].tolist()) == list(range(60))
    assert output["loss"].shape == (60,) and output["output_raw"].shape == (60, 3)
    assert trw.train.to_value(results["outputs"]["blobs"]["test"]["overall_loss"]["loss"]) == pytest.approx(
        float(output["loss"].mean()), rel=1e-5)
    assert len(results["history"]) == 3
    assert results["history"][-1]["blobs"]["test"]["cls"]["accuracy"] == pytest.approx(accuracy)

    for name in ("trainer.txt", "last.model", "last.model.result", "best_history.txt", "last.onnx"):
        assert (run_dir / name).is_file(), name
    log = (run_dir / "trainer.txt").read_text()
    assert "epoch 3/3 blobs/test cls" in log

    payload = torch.load(run_dir / "last.model", weights_only=True)
    metadata = json.loads(payload["metadata"])
    assert metadata["model_class"].endswith(":BlobNet") and metadata["epoch"] == 3
    assert metadata["inputs"]["x"] == {"shape": [None, 4], "dtype": "float32"}
    assert torch.equal(payload["state_dict"]["fc.weight"], model.fc.weight.detach())

    saved = result_json(run_dir)
    assert saved["status"] == "completed" and saved["epochs_completed"] == 3
    assert saved["final"]["blobs"]["test"]["cls"]["accuracy"] == pytest.approx(accuracy)
    assert len(saved["history"]) == 3

    best = (run_dir / "best_history.txt").read_text()
    best_loss = min(entry["blobs"]["test"]["cls"]["loss"] for entry in results["history"])
    assert f"blobs/test/cls/loss: best={best_loss:.6g}" in best

    onnx.checker.check_model(onnx.load(str(run_dir / "last.onnx")))
    assert results["onnx"]["inputs"] == ["x"] and results["onnx"]["outputs"] == ["cls"]
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(run_dir / "last.onnx"), providers=["CPUExecutionProvider"])
    x = make_blobs(37, seed=5)["x"]
    (onnx_logits,) = session.run(["cls"], {"x": x})
    with torch.no_grad():
        torch_logits = model.eval()({"x": torch.from_numpy(x)})["cls"].output.numpy()
    assert np.max(np.abs(onnx_logits - torch_logits)) < 1e-4
    assert results["onnx"]["max_abs_difference"] < 1e-4


def test_load_model_rebuilds_and_reloads(tmp_path):
    model, results = fit(num_epochs=1)
    loaded, metadata = trw.train.load_model(Path(results["run_dir"]) / "last.model")
    assert isinstance(loaded, BlobNet) and metadata["epoch"] == 1
    assert torch.equal(loaded.fc.weight, model.fc.weight.detach())
    with pytest.raises(FileNotFoundError, match="path"):
        trw.train.load_model(tmp_path / "missing.model")


def test_run_folders_are_never_reused(tmp_path):
    logging_root = Path(trw.train.create_default_options()["workflow_options"]["logging_directory"])
    existing = logging_root / "same_r0"
    existing.mkdir(parents=True)
    (existing / "precious.txt").write_text("keep me")
    _, first = fit(num_epochs=1, run_prefix="same")
    _, second = fit(num_epochs=1, run_prefix="same")
    assert [Path(first["run_dir"]).name, Path(second["run_dir"]).name] == ["same_r1", "same_r2"]
    assert (existing / "precious.txt").read_text() == "keep me"


def test_model_returning_a_tensor_is_refused():
    class TensorNet(BlobNet):
        def forward(self, batch):
            return self.fc(batch["x"])

    with pytest.raises(TypeError, match=r"must return a dict \{output_name: Output\}.*got Tensor"):
        fit(model_fn=lambda options: TensorNet())


def test_missing_target_key_names_it_and_failure_is_recorded():
    class WrongTarget(BlobNet):
        def forward(self, batch):
            return {"cls": OutputClassification(self.fc(batch["x"]), "labels")}

    with pytest.raises(KeyError, match=r"'labels'.*features present: \['sample_uid', 'x', 'y'\]") as error:
        fit(model_fn=lambda options: WrongTarget(), run_prefix="wrong")
    del error
    run_dir = next(Path(trw.train.create_default_options()["workflow_options"]["logging_directory"]).glob("wrong_r0"))
    assert "training failed" in (run_dir / "trainer.txt").read_text()
    assert result_json(run_dir)["status"] == "failed"


def test_target_out_of_range_for_the_number_of_classes():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\] for 2 classes"):
        fit(model_fn=lambda options: BlobNet(num_classes=2))


def test_empty_split_is_refused():
    def inputs():
        datasets = blob_datasets()
        datasets["blobs"]["valid"] = []
        return datasets

    with pytest.raises(ValueError, match=r"dataset 'blobs' split 'valid' epoch 1: the split produced no batch"):
        fit(inputs_fn=inputs)


def test_inputs_fn_with_wrong_structure():
    with pytest.raises(TypeError, match="inputs_fn must return"):
        fit(inputs_fn=lambda: [1, 2])


def test_nan_loss_stops_training_and_keeps_the_last_good_model():
    class DivergingNet(BlobNet):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, batch):
            self.calls += 1
            logits = self.fc(batch["x"])
            if self.training and self.calls > 15:  # epoch 1 = 10 train + 3 test batches
                logits = logits * float("nan")
            return {"cls": OutputClassification(logits, "y")}

    with pytest.raises(trw.train.TrainingDivergedError, match=r"dataset 'blobs' split 'train' epoch 2") as error:
        fit(model_fn=lambda options: DivergingNet(), run_prefix="nan")
    assert "last good epoch (1)" in str(error.value)
    run_dir = Path(trw.train.create_default_options()["workflow_options"]["logging_directory"]) / "nan_r0"
    payload = torch.load(run_dir / "last.model", weights_only=True)
    assert json.loads(payload["metadata"])["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in payload["state_dict"].values())
    saved = result_json(run_dir)
    assert saved["status"] == "diverged" and saved["epochs_completed"] == 1 and "epoch 2" in saved["error"]


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.cls = nn.Linear(8, 3)
        self.reg = nn.Linear(8, 1)

    def forward(self, batch):
        hidden = torch.relu(self.body(batch["x"]))
        return {"cls": OutputClassification(self.cls(hidden), "y"),
                "reg": OutputRegression(self.reg(hidden), "target")}


def test_several_datasets_and_outputs():
    def inputs():
        datasets = {}
        for name, seed in (("first", 0), ("second", 1)):
            train, test = make_blobs(100, seed=seed), make_blobs(40, seed=seed + 10)
            for split in (train, test):
                split["target"] = split["x"][:, :1] * 2
            datasets[name] = {"train": SequenceArray(train, batch_size=25), "test": SequenceArray(test, batch_size=25)}
        return datasets

    _, results = fit(inputs_fn=inputs, model_fn=lambda options: TwoHeads(), num_epochs=2, optimizers_fn=sgd(0.01))
    for name in ("first", "second"):
        test = results["outputs"][name]["test"]
        assert set(test) == {"cls", "reg", "overall_loss"}
        assert test["reg"]["output"].shape == (40, 1)
        assert test["overall_loss"]["loss"] == pytest.approx(
            results["history"][-1][name]["test"]["cls"]["loss"] + results["history"][-1][name]["test"]["reg"]["loss"])
        assert "mae" in results["history"][-1][name]["test"]["reg"]


def test_gradient_accumulation_equals_a_larger_batch():
    def weights(batch_size, steps):
        options = trw.train.create_default_options(num_epochs=1, device="cpu", gradient_accumulation_steps=steps)
        data = make_blobs(40)
        torch.manual_seed(0)
        model, _ = trw.train.Trainer(callbacks_post_training_fn=lambda: []).fit(
            options, inputs_fn=lambda: {"b": {"train": SequenceArray(data, batch_size=batch_size, shuffle=False)}},
            model_fn=lambda options: BlobNet(), optimizers_fn=sgd(0.5, momentum=0.0))
        return model.fc.weight.detach().clone()

    assert torch.allclose(weights(20, 1), weights(10, 2), atol=1e-6)
    assert not torch.allclose(weights(20, 1), weights(10, 1), atol=1e-6)


class FailingCallback(trw.train.Callback):
    def __call__(self, context):
        raise RuntimeError("boom in callback")


def test_failing_callback_is_logged_and_training_goes_on():
    _, results = fit(trainer=trw.train.Trainer(callbacks_per_epoch_fn=lambda: [FailingCallback()]), num_epochs=2)
    log = (Path(results["run_dir"]) / "trainer.txt").read_text()
    assert log.count("callback FailingCallback failed") == 2 and "boom in callback" in log
    assert len(results["history"]) == 2


def test_strict_callback_stops_training():
    with pytest.raises(RuntimeError, match="boom in callback"):
        fit(trainer=trw.train.Trainer(callbacks_per_epoch_fn=lambda: [FailingCallback(strict=True)]))
    with pytest.raises(RuntimeError, match="boom in callback"):
        fit(trainer=trw.train.Trainer(callbacks_per_epoch_fn=lambda: [FailingCallback()], strict_callbacks=True))


def test_eval_every_x_epoch_and_learning_rates():
    optimizers_fn = lambda datasets, model: trw.train.create_sgd_optimizers_fn(  # noqa: E731
        datasets, model, 0.1, scheduler_fn=trw.train.create_scheduler_step_lr(1, gamma=0.5))
    _, results = fit(num_epochs=4, eval_every_X_epoch=2, optimizers_fn=optimizers_fn)
    assert [sorted(entry["blobs"]) for entry in results["history"]] == [
        ["train"], ["test", "train"], ["train"], ["test", "train"]]
    assert [lr["blobs"] for lr in results["learning_rates"]] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_bf16_autocast_on_cpu_trains():
    options = trw.train.create_default_options(num_epochs=2, device="cpu", mixed_precision="bf16")
    _, results = trw.train.Trainer().fit(options, inputs_fn=blob_datasets, model_fn=lambda options: BlobNet(),
                                         optimizers_fn=sgd())
    assert results["history"][-1]["blobs"]["test"]["cls"]["accuracy"] > 0.8


def test_fit_argument_errors():
    with pytest.raises(TypeError, match="inputs_fn"):
        trw.train.Trainer().fit(inputs_fn=None, model_fn=lambda o: BlobNet())
    with pytest.raises(ValueError, match="eval_every_X_epoch"):
        fit(eval_every_X_epoch=0)
    with pytest.raises(ValueError, match="run_prefix"):
        fit(run_prefix="a/b")


def test_a_callback_ends_the_run_without_an_error_with_stop_run():
    class StopAfterFirstEpoch(trw.train.Callback):
        def __call__(self, context):
            if context.epoch == 1:
                raise trw.train.callbacks.StopRun("enough")

    trainer = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [StopAfterFirstEpoch()], callbacks_post_training_fn=list)
    with pytest.raises(trw.train.callbacks.StopRun, match="enough"):
        fit(trainer)
    run_dir = trainer._context.run_dir
    result = result_json(run_dir)
    assert result["status"] == "stopped" and result["epochs_completed"] == 1
    assert "failed" not in (run_dir / "trainer.txt").read_text()
