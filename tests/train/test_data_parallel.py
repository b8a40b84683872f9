"""Data parallel training over several GPUs: device choice and the gathering of outputs (CPU-testable parts),
and a real two-GPU fit (marked gpu, skipped without two GPUs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trw_ray as trw
from trw_ray.train.data_parallel import DataParallelOutputs, data_parallel_devices
from trw_ray.train.outputs import OutputClassification, OutputRegression


def test_devices_auto_uses_every_visible_gpu_only_for_plain_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert data_parallel_devices(torch.device("cuda")) == [0, 1]
    assert data_parallel_devices(torch.device("cuda"), True) == [0, 1]
    assert data_parallel_devices(torch.device("cuda"), False) is None
    assert data_parallel_devices(torch.device("cuda", 1)) is None  # an explicit device is respected
    assert data_parallel_devices(torch.device("cuda", 0)) is None
    assert data_parallel_devices(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert data_parallel_devices(torch.device("cuda")) is None


def test_devices_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"data_parallel: True needs the device 'cuda' and at least two visible GPUs; "
                                         r"the device is 'cpu'"):
        data_parallel_devices(torch.device("cpu"), True)
    with pytest.raises(ValueError, match=r"data_parallel: expected one of \['auto', True, False\]; got 'yes'"):
        data_parallel_devices(torch.device("cpu"), "yes")
    with pytest.raises(ValueError, match="data_parallel: True needs"):
        trw.train.create_default_options(device="cpu", data_parallel=True)


def test_gather_concatenates_each_outputs_batch_tensors_and_keeps_gradients():
    model = DataParallelOutputs(torch.nn.Identity(), device_ids=[])
    first, second = torch.randn(3, 4, requires_grad=True), torch.randn(2, 4, requires_grad=True)
    replicas = [
        {"classes": OutputClassification(first, classes_name="y", weights=torch.ones(3)),
         "value": OutputRegression(first[:, :1], target_name="t"), "raw": first.sum(), "extra": first},
        {"classes": OutputClassification(second, classes_name="y", weights=torch.full((2,), 2.0)),
         "value": OutputRegression(second[:, :1], target_name="t"), "raw": second.sum(), "extra": second},
    ]
    gathered = model.gather(replicas, torch.device("cpu"))
    assert isinstance(gathered["classes"], OutputClassification) and gathered["classes"].classes_name == "y"
    assert torch.equal(gathered["classes"].output, torch.cat([first, second]))
    assert torch.equal(gathered["classes"].weights, torch.tensor([1.0, 1, 1, 2, 2]))
    assert gathered["value"].output.shape == (5, 1) and gathered["value"].target_name == "t"
    assert torch.equal(gathered["extra"], torch.cat([first, second]))
    assert gathered["raw"].dim() == 0
    assert replicas[0]["classes"].output is first  # the replicas' outputs are left as they were
    evaluation = gathered["classes"].evaluate({"y": torch.tensor([0, 1, 2, 3, 0])}, "classes")
    evaluation.loss.backward()
    assert first.grad is not None and second.grad is not None


def test_fit_on_cpu_keeps_the_plain_model(tmp_path):
    from test_trainer import fit

    model, results = fit(num_epochs=1)
    assert not isinstance(model, torch.nn.DataParallel)
    assert "data parallel" not in (Path(results["run_dir"]) / "trainer.txt").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_fit_splits_batches_over_two_gpus():
    from test_trainer import BlobNet, blob_datasets, sgd

    options = trw.train.create_default_options(num_epochs=3, device="cuda", data_parallel=True)
    model, results = trw.train.Trainer().fit(options, inputs_fn=blob_datasets, model_fn=lambda options: BlobNet(),
                                             optimizers_fn=sgd())
    assert not isinstance(model, torch.nn.DataParallel)  # checkpoints and exports hold the plain module
    assert "data parallel over GPUs [0, 1]" in (Path(results["run_dir"]) / "trainer.txt").read_text()
    output = results["outputs"]["blobs"]["test"]["cls"]
    assert len(output["output_truth"]) == 60
    assert float((output["output"] == output["output_truth"]).mean()) >= 0.9
