"""Space files, conversion to Ray Tune and define-by-run discovery (no Ray started)."""

from pathlib import Path

import pytest

import trw_ray as trw
from trw_ray.examples.mnist_search import evaluate_hparams
from trw_ray.hparams import ContinuousPower, DiscreteInteger, discover_space, load_space

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"


@pytest.mark.parametrize("name", ["mnist_cnn.yaml", "mnist_cnn_tiny.yaml"])
def test_space_files_load_and_convert_to_tune(name):
    space = load_space(SPACES / name)
    assert list(space.parameters) == ["learning_rate", "number_hidden", "number_conv1_channels"]
    assert space.trainable == "trw_ray.examples.mnist_search:evaluate_hparams" and space.metric == "loss"
    assert callable(space.resolve_trainable())
    from ray.tune.search.sample import Categorical, Float, Integer

    converted = space.to_tune()
    assert isinstance(converted["learning_rate"], Float) and isinstance(converted["number_hidden"], Integer)
    assert converted["number_hidden"].lower == space.parameters["number_hidden"].min
    assert converted["number_hidden"].upper == space.parameters["number_hidden"].max + 1
    assert not any(isinstance(value, Categorical) for value in converted.values())


@pytest.mark.parametrize("text, message", [
    ("parameters: {lr: {type: ContinuousUniform, default: 0.1, min: 0, max: 1}}\nepochs: 3\n",
     "unknown key(s) ['epochs']; allowed: ['trainable'"),
    ("parameters: {lr: {type: ContinuousUniform, default: 2, min: 0, max: 1}}\n", "parameters.lr: ContinuousUniform"),
    ("parameters: {lr: {type: Uniform, default: 2}}\n", "parameters.lr: 'type' must be one of"),
    ("mode: best\nparameters: {lr: {type: DiscreteBoolean, default: true}}\n", "mode: expected 'min' or 'max'"),
    ("trainable: no_colon\nparameters: {lr: {type: DiscreteBoolean, default: true}}\n", "trainable: expected 'module:function'"),
    ("metric: loss\n", "'parameters' must map"),
])
def test_bad_space_files_name_file_key_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_space(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_discovery_records_the_seed_space_without_training(tmp_path):
    specs = discover_space(lambda hparams: evaluate_hparams(hparams, max_train_samples=100, max_eval_samples=100))
    assert specs == {"learning_rate": trw.hparams.ContinuousUniform(0.1, 1e-5, 1.0),
                     "number_hidden": DiscreteInteger(500, 100, 1000),
                     "number_conv1_channels": DiscreteInteger(16, 4, 64)}
    logs = Path(trw.train.options.default_logging_directory())
    assert not logs.exists() or not any(logs.rglob("trainer.txt"))  # no run folder: nothing trained


def test_discovery_of_a_plain_function_and_of_a_function_without_parameters():
    def objective(hparams):
        return hparams.create("lr", ContinuousPower(0.01, -4, 0)) ** 2

    assert list(discover_space(objective)) == ["lr"]
    with pytest.raises(ValueError, match="no hyper-parameter was declared"):
        discover_space(lambda hparams: 1.0)
