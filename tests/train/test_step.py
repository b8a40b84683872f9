"""The training-step seam: the default step is the plain loop; a custom step alternates with a second split."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import make_blobs

import trw_ray as trw
from trw_ray.train import OutputClassification, SequenceArray, tune_bridge


class GatedNet(nn.Module):
    """A linear classifier whose logits are scaled by a gate: the gate is trained apart from the weights."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.gate = nn.Parameter(torch.zeros(1))

    def weights(self):
        return [self.fc.weight, self.fc.bias]

    def forward(self, batch):
        return {"cls": OutputClassification(self.fc(batch["x"]) * (1 + self.gate), "y")}


def datasets(train_size=200, valid_size=60):
    return {"blobs": {"train": SequenceArray(make_blobs(train_size, seed=0), batch_size=20, shuffle=False),
                      "valid": SequenceArray(make_blobs(valid_size, seed=1), batch_size=20, shuffle=False)}}


def options(num_epochs=2):
    result = trw.train.create_default_options(num_epochs=num_epochs, device="cpu", progress_bar=False, seed=0)
    result["workflow_options"]["console_log"] = False
    return result


def bare_trainer(**kwargs):
    return trw.train.Trainer(callbacks_pre_training_fn=list, callbacks_per_epoch_fn=list,
                             callbacks_post_training_fn=list, **kwargs)


class AlternateStep(trw.train.TrainingStep):
    """Before each weight step on a train batch, one Adam step of the gate on a batch of the valid split."""

    def setup(self, context):
        self.gate_optimizer = torch.optim.Adam([context.model.gate], lr=0.05)
        self.valid_batches = 0

    def __call__(self, ctx, batch):
        other = ctx.forward(ctx.draw_batch("valid"))
        self.gate_optimizer.zero_grad(set_to_none=True)
        ctx.backward(other.loss)
        self.gate_optimizer.step()
        ctx.model.fc.zero_grad(set_to_none=True)  # the gate's batch must not move the weights
        self.valid_batches += 1
        ctx.add_metric("valid_loss", other.loss)
        ctx.add_metric("gate", float(ctx.model.gate.detach()))
        return super().__call__(ctx, batch)

    def state_dict(self):
        return {"gate_optimizer": self.gate_optimizer.state_dict(), "valid_batches": self.valid_batches}

    def load_state_dict(self, state):
        self.gate_optimizer.load_state_dict(state["gate_optimizer"])
        self.valid_batches = state["valid_batches"]


def gate_free_sgd(datasets, model):
    return torch.optim.SGD(model.weights(), lr=0.1)


def test_the_default_step_is_the_plain_loop_bit_for_bit():
    torch.manual_seed(0)
    reference = GatedNet()
    optimizer = torch.optim.SGD(reference.weights(), lr=0.1)
    for _ in range(2):
        for batch in datasets()["blobs"]["train"]:
            optimizer.zero_grad(set_to_none=True)
            logits = reference.fc(torch.as_tensor(batch["x"])) * (1 + reference.gate)
            F.cross_entropy(logits, torch.as_tensor(batch["y"])).backward()
            optimizer.step()
    model, _ = bare_trainer().fit(options(), inputs_fn=datasets, model_fn=lambda o: GatedNet(),
                                  optimizers_fn=gate_free_sgd)
    assert torch.equal(model.fc.weight, reference.fc.weight) and torch.equal(model.fc.bias, reference.fc.bias)


def test_a_custom_step_alternates_with_a_second_split_and_its_metrics_land_in_the_history():
    trainer = bare_trainer(step_fn=AlternateStep)
    model, results = trainer.fit(options(), inputs_fn=lambda: datasets(valid_size=50), model_fn=lambda o: GatedNet(),
                                 optimizers_fn=gate_free_sgd)
    step = trainer._context.step
    assert step.valid_batches == 20  # 10 train batches per epoch; the valid split (3 batches) started over
    assert float(model.gate.detach()) != 0.0  # trained by the step's own optimizer only
    history = results["history"]
    assert len(history) == 2
    for entry in history:
        metrics = entry["blobs"]["train"]["step"]
        assert set(metrics) == {"valid_loss", "gate"} and metrics["valid_loss"] > 0
    assert history[1]["blobs"]["train"]["step"]["valid_loss"] < history[0]["blobs"]["train"]["step"]["valid_loss"]
    assert "step" not in history[0]["blobs"]["valid"]  # evaluated splits are not stepped
    flat = tune_bridge.flatten_metrics(history[-1], "loss")
    assert "blobs/train/step/valid_loss" in flat  # what a search trial reports every epoch

    state = tune_bridge.trainer_state(trainer._context)
    assert state["step"]["valid_batches"] == 20 and "state" in state["step"]["gate_optimizer"]
    state["step"]["valid_batches"] = 7
    tune_bridge.restore_trainer_state(trainer._context, state)
    assert step.valid_batches == 7


def test_gradient_accumulation_flushes_the_last_partial_group():
    class CountingSGD(torch.optim.SGD):
        steps = 0

        def step(self, closure=None):
            CountingSGD.steps += 1
            return super().step(closure)

    run = options(num_epochs=1)
    run["training_parameters"]["gradient_accumulation_steps"] = 3
    bare_trainer().fit(run, inputs_fn=datasets, model_fn=lambda o: GatedNet(),
                       optimizers_fn=lambda d, m: CountingSGD(m.weights(), lr=0.1))
    assert CountingSGD.steps == 4  # 10 batches: steps after batches 3, 6, 9 and the last one


def test_bad_steps_get_clear_errors():
    with pytest.raises(TypeError, match="step_fn: expected None or a function"):
        trw.train.Trainer(step_fn=AlternateStep())
    with pytest.raises(TypeError, match="step_fn: expected it to return a trw_ray.train.Step; got int"):
        bare_trainer(step_fn=lambda: 3).fit(options(), inputs_fn=datasets, model_fn=lambda o: GatedNet(),
                                            optimizers_fn=gate_free_sgd)

    class Incomplete(trw.train.Step):
        pass

    with pytest.raises(TypeError, match="abstract"):
        bare_trainer(step_fn=Incomplete).fit(options(), inputs_fn=datasets, model_fn=lambda o: GatedNet(),
                                             optimizers_fn=gate_free_sgd)

    class Forgetful(trw.train.Step):
        def __call__(self, ctx, batch):
            ctx.forward(batch)

    with pytest.raises(TypeError, match="must return the BatchResult of its batch"):
        bare_trainer(step_fn=Forgetful).fit(options(), inputs_fn=datasets, model_fn=lambda o: GatedNet(),
                                            optimizers_fn=gate_free_sgd)

    class DrawsUnknown(trw.train.TrainingStep):
        def __call__(self, ctx, batch):
            ctx.draw_batch("holdout")

    with pytest.raises(KeyError, match="draw_batch: no split 'holdout' in dataset 'blobs'"):
        bare_trainer(step_fn=DrawsUnknown).fit(options(), inputs_fn=datasets, model_fn=lambda o: GatedNet(),
                                               optimizers_fn=gate_free_sgd)
