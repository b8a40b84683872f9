"""The Trainer inside a search, without Ray: metric flattening, checkpoint state, resume at the last epoch."""

import pytest
import torch
import torch.nn as nn
from conftest import make_blobs

import trw_ray as trw
from trw_ray.train import tune_bridge
from trw_ray.train.callbacks.base import TrainerContext


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, batch):
        return {"softmax": trw.train.OutputClassification(self.layers(batch["x"]), "y")}


def _datasets():
    return {"blobs": {"train": trw.train.SequenceArray(make_blobs(60), batch_size=20),
                      "valid": trw.train.SequenceArray(make_blobs(30, seed=1), batch_size=30)}}


def test_flatten_metrics_names_every_value_and_the_search_metric():
    entry = {"mnist": {"train": {"overall_loss": {"loss": 0.5}, "softmax": {"accuracy": 0.8}},
                       "valid": {"overall_loss": {"loss": 0.7}, "softmax": {"accuracy": 0.75}},
                       "test": {"overall_loss": {"loss": 0.9}}}}
    flat = tune_bridge.flatten_metrics(entry, "loss")
    assert flat["loss"] == 0.7 and flat["mnist/train/softmax/accuracy"] == 0.8  # first split that is not train
    assert tune_bridge.flatten_metrics(entry, "mnist/valid/softmax/accuracy")["mnist/valid/softmax/accuracy"] == 0.75
    assert tune_bridge.flatten_metrics({"d": {"train": {"overall_loss": {"loss": 0.5}}}}, "loss")["loss"] == 0.5


def test_restored_optimizers_keep_this_trials_hyper_parameters():
    model = Mlp()
    donor = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    model({"x": torch.from_numpy(make_blobs(10)["x"])})["softmax"].output.sum().backward()
    donor.step()
    context = TrainerContext(options={}, run_dir=None, logger=None, model=model, optimizers={"blobs": donor}, epoch=2)
    state = tune_bridge.trainer_state(context)
    fresh_model = Mlp()
    fresh = torch.optim.SGD(fresh_model.parameters(), lr=0.01, momentum=0.9)
    target = TrainerContext(options={}, run_dir=None, logger=None, model=fresh_model, optimizers={"blobs": fresh})
    tune_bridge.restore_trainer_state(target, state)
    assert fresh.param_groups[0]["lr"] == 0.01 and target.epoch == 2  # PBT: weights and buffers, not the old lr
    assert fresh.state_dict()["state"][0]["momentum_buffer"].abs().sum() > 0
    assert all(torch.equal(a, b) for a, b in zip(fresh_model.state_dict().values(), model.state_dict().values(),
                                                   strict=True))


def test_a_trial_resumed_from_its_last_epoch_evaluates_without_training(tmp_path):
    options = trw.train.create_default_options(num_epochs=2, device="cpu", progress_bar=False)
    trainer = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [], callbacks_post_training_fn=lambda: [])
    model, results = trainer.fit(options, inputs_fn=_datasets, model_fn=lambda options: Mlp(),
                                 optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, 0.1))
    context = TrainerContext(options=options, run_dir=None, logger=None, model=model,
                             optimizers={}, epoch=2, history=results["history"])
    state = tune_bridge.trainer_state(context)
    search = tune_bridge.SearchContext(mode="trial", run_root=tmp_path / "runs", checkpoint_state=state)
    with tune_bridge.activate(search):
        resumed, again = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [], callbacks_post_training_fn=lambda: []).fit(
            trw.train.create_default_options(num_epochs=2, device="cpu", progress_bar=False), inputs_fn=_datasets,
            model_fn=lambda options: Mlp(),
            optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, 0.1))
    assert tune_bridge.current() is None and search.pending is None and search.checkpoint_state is None
    assert again["history"] == results["history"]
    assert again["outputs"]["blobs"]["valid"]["overall_loss"]["loss"] == pytest.approx(
        results["outputs"]["blobs"]["valid"]["overall_loss"]["loss"])
    assert search.run_dirs and search.run_dirs[0].startswith(str(tmp_path / "runs"))
