"""Data-parallel fits on 2 Ray Train workers (gloo, 2 CPUs) against a single-process fit of the same global batch."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import make_blobs

import trw_ray as trw
from trw_ray.train import OutputClassification, SequenceArray
from trw_ray.train.distributed import WorkersConfig, merge_rank_batches, workers_config


class BlobNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.hidden = nn.Linear(4, 16)
        self.fc = nn.Linear(16, 3)

    def forward(self, batch):
        return {"cls": OutputClassification(self.fc(torch.relu(self.hidden(batch["x"]))), "y")}


def blobs(batch_size):
    def inputs():
        train, test = make_blobs(200, seed=0), make_blobs(60, seed=100)
        return {"blobs": {"train": SequenceArray(train, batch_size=batch_size, seed=4),
                          "test": SequenceArray(test, batch_size=batch_size, shuffle=False)}}
    return inputs


def sgd(datasets, model):
    return trw.train.create_sgd_optimizers_fn(datasets, model, 0.1, momentum=0.9)


def fit(workers, batch_size, num_epochs=2, model_fn=lambda options: BlobNet()):
    options = trw.train.create_default_options(num_epochs=num_epochs, device="cpu")
    trainer = trw.train.Trainer(workers=workers, callbacks_per_epoch_fn=list, callbacks_post_training_fn=list,
                                callbacks_pre_training_fn=list)
    return trainer.fit(options, inputs_fn=blobs(batch_size), model_fn=model_fn, optimizers_fn=sgd, run_prefix="ddp")


def losses(results):
    return [(entry["blobs"]["train"]["overall_loss"]["loss"], entry["blobs"]["test"]["overall_loss"]["loss"],
             entry["blobs"]["test"]["cls"]["accuracy"]) for entry in results["history"]]


def test_workers_config_is_checked():
    assert workers_config(None) is None and workers_config(1) is None
    assert workers_config({"workers": 2, "gpu_per_worker": 1}) == WorkersConfig(2, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"workers: unknown key\(s\) \['gpus'\]"):
        workers_config({"workers": 2, "gpus": 1})
    with pytest.raises(TypeError, match="workers: expected None, a number of worker processes"):
        workers_config("2")
    with pytest.raises(ValueError, match="workers"):
        workers_config(0)


def test_rank_batches_merge_in_single_process_order():
    assert merge_rank_batches([["b0", "b2", "b4"], ["b1", "b3"]]) == ["b0", "b1", "b2", "b3", "b4"]


def test_two_workers_match_one_process_with_the_same_global_batch(ray_local, tmp_path):
    single_model, single = fit(None, batch_size=40)
    model, parallel = fit(2, batch_size=20)  # 2 x 20 = the single process's 40
    np.testing.assert_allclose(losses(parallel), losses(single), rtol=1e-4, atol=1e-5)
    for name, value in single_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-4, atol=1e-5)
    outputs = parallel["outputs"]["blobs"]
    assert sorted(outputs["train"]["cls"]["sample_uid"].tolist()) == list(range(200))  # each sample once, epoch 2
    np.testing.assert_array_equal(outputs["test"]["cls"]["sample_uid"], single["outputs"]["blobs"]["test"]["cls"]["sample_uid"])
    np.testing.assert_allclose(outputs["test"]["cls"]["loss"], single["outputs"]["blobs"]["test"]["cls"]["loss"],
                               rtol=1e-4, atol=1e-6)
    run_dir = Path(parallel["run_dir"])
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["ddp_r0", "ddp_r1"]  # rank 1 wrote no folder
    saved = json.loads((run_dir / "last.model.result").read_text())
    assert saved["status"] == "completed" and saved["epochs_completed"] == 2
    assert "rank 0 of 2 data-parallel workers" in (run_dir / "trainer.txt").read_text()
    assert not (run_dir / ".ray_train").exists()


def test_a_plain_actors_pipeline_is_refused_naming_the_ray_data_back_end(ray_local):
    def inputs():
        return {"blobs": {"train": SequenceArray(make_blobs(40), batch_size=10).map(lambda b: b, nb_workers=1)}}

    options = trw.train.create_default_options(num_epochs=1, device="cpu")
    with pytest.raises(RuntimeError, match=r"SequenceMap\(nb_workers=1, backend='actors'\), whose batches come in "
                                           r"completion order.*backend='ray_data'"):
        trw.train.Trainer(workers=2).fit(options, inputs_fn=inputs, model_fn=lambda options: BlobNet(),
                                         optimizers_fn=sgd)


def add_one_to_x(batch):
    return {**batch, "x": batch["x"] + 1.0}


def test_ray_data_map_and_reservoir_feed_both_workers_each_sample_once_per_epoch(ray_local):
    def inputs():
        train, test = make_blobs(200, seed=0), make_blobs(60, seed=100)
        mapped = SequenceArray(train, batch_size=10, seed=4).map(add_one_to_x, nb_workers=1, backend="ray_data",
                                                               batches_per_job=2, epochs_per_execution=2)
        reservoir = SequenceArray(train, batch_size=10, seed=5).async_reservoir(
            200, add_one_to_x, min_reservoir_samples=200, nb_workers=1, backend="ray_data")
        return {"blobs": {"train": mapped, "test": SequenceArray(test, batch_size=10, shuffle=False)},
                "reservoir": {"train": reservoir}}

    options = trw.train.create_default_options(num_epochs=3, device="cpu")
    trainer = trw.train.Trainer(workers=2, callbacks_per_epoch_fn=list, callbacks_post_training_fn=list,
                                callbacks_pre_training_fn=list)
    _, results = trainer.fit(options, inputs_fn=inputs, model_fn=lambda options: BlobNet(), optimizers_fn=sgd)
    for dataset in ("blobs", "reservoir"):  # the last epoch: each sample once, over both ranks
        assert sorted(results["outputs"][dataset]["train"]["cls"]["sample_uid"].tolist()) == list(range(200)), dataset
    first, last = (entry["blobs"]["train"]["overall_loss"]["loss"] for entry in (results["history"][0], results["history"][-1]))
    assert last < first  # three epochs over two Ray Data executions (2 + 1 epochs) trained the model
    log = (Path(results["run_dir"]) / "trainer.txt").read_text()
    assert "rank 0 of 2 data-parallel workers" in log


class DiesOnceOnRank1(BlobNet):
    """Rank 1's process exits in its first attempt's second epoch (the marker file makes it once)."""

    def __init__(self, marker):
        super().__init__()
        self.marker, self.calls = marker, 0

    def forward(self, batch):
        from trw_ray.train.distributed import current_rank

        if self.training:
            self.calls += 1
            rank = current_rank()
            if rank is not None and rank.rank == 1 and self.calls == 13 and not os.path.exists(self.marker):
                Path(self.marker).write_text("died")
                os._exit(1)
        return super().forward(batch)


@pytest.mark.slow
def test_a_killed_worker_resumes_from_the_last_checkpoint(ray_local, tmp_path):
    marker = str(tmp_path / "died")
    _, results = fit({"workers": 2, "max_failures": 1}, batch_size=20, num_epochs=3,
                     model_fn=lambda options: DiesOnceOnRank1(marker))
    assert Path(marker).is_file()
    assert len(results["history"]) == 3
    log = (Path(results["run_dir"]) / "trainer.txt").read_text()
    resumed = re.search(r"resumed from the data-parallel checkpoint at epoch (\d+)", log)
    assert resumed and int(resumed.group(1)) >= 1, log[-3000:]  # from its checkpoint, not from scratch


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpu_workers_match_one_gpu_process(ray_local):
    def on_cuda(workers, batch_size):
        options = trw.train.create_default_options(num_epochs=2, device="cuda", data_parallel=False)
        trainer = trw.train.Trainer(workers=workers, callbacks_per_epoch_fn=list, callbacks_post_training_fn=list)
        return trainer.fit(options, inputs_fn=blobs(batch_size), model_fn=lambda options: BlobNet(), optimizers_fn=sgd)

    _, single = on_cuda(None, 40)
    _, parallel = on_cuda({"workers": 2, "cpu_per_worker": 1, "gpu_per_worker": 1}, 20)  # NCCL
    np.testing.assert_allclose(losses(parallel), losses(single), rtol=1e-3, atol=1e-4)
    assert "device: cuda:0 (rank 0 of 2" in (Path(parallel["run_dir"]) / "trainer.txt").read_text()
