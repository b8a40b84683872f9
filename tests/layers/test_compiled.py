import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import trw_ray as trw
from trw_ray import layers as sl
from trw_ray.examples.mnist_search import create_net  # section 1.3's create_net(hparams), verbatim


def seed_net_1_4(options=None):
    """Section 1.4.2 of TRW's documentation, verbatim."""
    n = trw.simple_layers.Input([None, 1, 28, 28], 'images')
    n = trw.simple_layers.Conv2d(n, out_channels=16, kernel_size=5)
    n = trw.simple_layers.ReLU(n)
    n = trw.simple_layers.MaxPool2d(n, 2)
    n = trw.simple_layers.Conv2d(n, out_channels=32, kernel_size=5)
    n = trw.simple_layers.ReLU(n)
    n = trw.simple_layers.MaxPool2d(n, 2)
    n = trw.simple_layers.ReLU(n)
    n = trw.simple_layers.Flatten(n)
    n = trw.simple_layers.Linear(n, 10)
    n = trw.simple_layers.OutputClassification(n, output_name='softmax', classes_name='targets')
    return trw.simple_layers.compile_nn(output_nodes=[n])


class HandBuilt(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.out = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(F.max_pool2d(F.relu(self.conv2(x)), 2))
        return self.out(x.flatten(1))


def test_seed_1_4_example_equals_a_hand_built_module():
    compiled = seed_net_1_4()
    hand = HandBuilt()
    with torch.no_grad():
        targets = [hand.conv1, None, None, hand.conv2, None, None, None, hand.out]
        for layer, target in zip(compiled.layers.values(), targets, strict=True):
            if target is not None:
                target.weight.copy_(layer.weight)
                target.bias.copy_(layer.bias)
    batch = {"images": torch.rand(4, 1, 28, 28), "targets": torch.tensor([1, 2, 3, 4])}
    outputs = compiled(batch)
    assert list(outputs) == ["softmax"] and isinstance(outputs["softmax"], trw.train.OutputClassification)
    assert torch.allclose(outputs["softmax"].output, hand(batch["images"]), atol=1e-6)


def test_seed_1_3_create_net_trains_with_the_trainer():
    hparams = trw.hparams.HyperParameters()
    options = trw.train.create_default_options(num_epochs=2, device="cpu")
    model, results = trw.train.Trainer().fit(
        options,
        inputs_fn=lambda: trw.datasets.create_mnist_datasset(normalize_0_1=True, batch_size=100, max_train_samples=5000),
        model_fn=lambda options: create_net(hparams),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets=datasets, model=model,
                                                                                 learning_rate=0.1))
    assert hparams.chosen == {"number_hidden": 500, "number_conv1_channels": 16}
    assert model.layers["5_linear"].in_features == 16 * 7 * 7
    assert results["history"][-1]["mnist"]["test"]["softmax"]["accuracy"] > 0.9
    reloaded = sl.load(Path(results["run_dir"]) / "last.model")
    rebuilt, metadata = trw.train.load_model(Path(results["run_dir"]) / "last.model")
    batch = {"images": torch.rand(3, 1, 28, 28)}
    model.eval(), reloaded.eval(), rebuilt.eval()
    expected = model(batch)["softmax"].output
    assert torch.allclose(reloaded(batch)["softmax"].output, expected)
    assert torch.allclose(rebuilt(batch)["softmax"].output, expected)
    assert metadata["model_description"]["format"] == "trw_ray.layers/1"


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0


def two_inputs_two_outputs():
    image = sl.Input([None, 1, 8, 8], "image")
    extra = sl.Input([None, 3], "extra")
    trunk = sl.ReLU(sl.Conv2d(image, 4, 3))
    shared = sl.Flatten(sl.MaxPool2d(trunk, 2))
    features = sl.ConcatChannels([shared, extra])
    hidden = sl.ReLU(sl.Linear(features, 16))
    classification = sl.OutputClassification(sl.Linear(hidden, 2), output_name="cls", classes_name="label")
    regression = sl.OutputRegression(sl.Linear(hidden, 1), output_name="reg", target_name="value")
    sl.Linear(sl.Flatten(trunk), 7)  # declared but not needed by any output
    return sl.compile_nn([classification, regression])


def synthetic(num_samples, seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(num_samples, 1, 8, 8)).astype(np.float32)
    extra = rng.normal(size=(num_samples, 3)).astype(np.float32)
    label = (image.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    value = (extra[:, :1] * 2 + 1).astype(np.float32)
    return {"image": image, "extra": extra, "label": label, "value": value}


def test_shared_subgraph_runs_once_and_unused_nodes_are_not_built():
    net = two_inputs_two_outputs()
    assert not any(module.__class__ is nn.Linear and module.out_features == 7 for module in net.layers.values())
    calls = []
    conv = next(module for module in net.layers.values() if isinstance(module, nn.Conv2d))
    conv.register_forward_hook(lambda *args: calls.append(1))
    net({"image": torch.randn(2, 1, 8, 8), "extra": torch.randn(2, 3)})
    assert len(calls) == 1
    freed = [index for *_, frees in net._plan for index in frees]
    assert sorted(freed) == sorted(set(range(len(net.nodes))) - set(net.output_indices))


def test_two_inputs_two_outputs_train_with_the_trainer():
    options = trw.train.create_default_options(num_epochs=8, device="cpu")
    model, results = trw.train.Trainer().fit(
        options,
        inputs_fn=lambda: {"synthetic": {"train": trw.train.SequenceArray(synthetic(400, 0), batch_size=40),
                                         "test": trw.train.SequenceArray(synthetic(100, 1), batch_size=50)}},
        model_fn=lambda options: two_inputs_two_outputs(),
        optimizers_fn=lambda datasets, model: trw.train.create_adam_optimizers_fn(datasets, model, learning_rate=0.01))
    history = results["history"]
    assert history[-1]["synthetic"]["test"]["cls"]["accuracy"] > 0.75  # chance: 0.5
    assert history[-1]["synthetic"]["test"]["reg"]["loss"] < history[0]["synthetic"]["test"]["reg"]["loss"] / 2
    run_dir = Path(results["run_dir"])
    assert results["onnx"]["inputs"] == ["image", "extra"] and results["onnx"]["outputs"] == ["cls", "reg"]
    assert results["onnx"]["max_abs_difference"] is None or results["onnx"]["max_abs_difference"] < 1e-4
    reloaded = sl.load(run_dir / "last.model").eval()
    batch = {name: torch.from_numpy(value) for name, value in synthetic(5, 2).items()}
    model.eval()
    assert torch.allclose(reloaded(batch)["reg"].output, model(batch)["reg"].output)
    description = json.loads(json.dumps(model.describe()))
    assert sl.load_description(description).describe() == model.describe()


def test_state_dict_round_trip_and_torch_compile():
    net, other = seed_net_1_4(), seed_net_1_4()
    other.load_state_dict(net.state_dict())
    batch = {"images": torch.rand(2, 1, 28, 28)}
    net.eval(), other.eval()
    assert torch.allclose(net(batch)["softmax"].output, other(batch)["softmax"].output)
    compiled = torch.compile(net, backend="eager")
    assert torch.allclose(compiled(batch)["softmax"].output, net(batch)["softmax"].output)


def test_missing_feature_at_run_time_names_it():
    with pytest.raises(KeyError, match=r"no feature 'images'; features present: \['pixels', 'targets'\]"):
        seed_net_1_4()({"pixels": torch.rand(1, 1, 28, 28), "targets": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"feature 'images' has shape \[1, 1, 20, 20\]; declared \[None, 1, 28, 28\]"):
        seed_net_1_4()({"images": torch.rand(1, 1, 20, 20)})


def test_compile_nn_argument_errors():
    x = sl.Input([None, 4], "x")
    with pytest.raises(ValueError, match="output names must be unique"):
        sl.compile_nn([sl.OutputEmbedding(x, "e"), sl.OutputEmbedding(sl.ReLU(x), "e")])
    with pytest.raises(ValueError, match="output_nodes"):
        sl.compile_nn([])
    with pytest.raises(TypeError, match="output_nodes"):
        sl.compile_nn([torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="unknown node type 'Bogus'"):
        sl.load_description({"format": "trw_ray.layers/1", "nodes": [{"type": "Bogus", "args": {}, "parents": []}],
                             "outputs": [0]})
