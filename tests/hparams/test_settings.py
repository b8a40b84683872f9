"""search()'s settings: the argument, else the previous record, else the space file, else the default (no Ray)."""

from __future__ import annotations

import pytest

from trw_ray.hparams.space import SearchSpace
from trw_ray.hparams.tuning.settings import SETTINGS, resolve_settings

FILE = SearchSpace(parameters={}, metric="accuracy", mode="max", max_epochs=9, num_samples=12, algorithm="asha",
                   scheduler=None, scheduler_options={"grace_period": 2}, resources_per_trial={"cpu": 2})
PREVIOUS = {"metric": "valid_loss", "mode": "min", "max_epochs": 5, "num_samples": 8, "algorithm": "tpe",
            "scheduler": "asha", "scheduler_options": {"grace_period": 1}, "resources_per_trial": {"cpu": 1},
            "max_total_epochs": 30, "seed": 3}
ARGUMENTS = {"metric": "loss", "mode": "min", "max_epochs": 2, "num_samples": 4, "algorithm": "random",
             "scheduler": "hyperband", "scheduler_options": {"reduction_factor": 2}, "resources_per_trial": {"gpu": 1},
             "max_total_epochs": 10, "seed": 0}


def test_an_argument_wins_over_the_record_and_the_file():
    assert resolve_settings(ARGUMENTS, PREVIOUS, FILE) == ARGUMENTS


def test_without_an_argument_the_previous_record_wins_over_the_file():
    assert resolve_settings({}, PREVIOUS, FILE) == PREVIOUS


def test_without_a_record_the_space_file_gives_what_it_declares():
    resolved = resolve_settings({}, {}, FILE)
    assert {name: resolved[name] for name in ("metric", "mode", "max_epochs", "num_samples", "algorithm",
                                               "scheduler_options", "resources_per_trial")} == \
        {"metric": "accuracy", "mode": "max", "max_epochs": 9, "num_samples": 12, "algorithm": "asha",
         "scheduler_options": {"grace_period": 2}, "resources_per_trial": {"cpu": 2}}
    assert resolved["seed"] is None and resolved["max_total_epochs"] is None  # not space-file settings


def test_without_anything_each_setting_takes_its_default():
    resolved = resolve_settings({}, {}, None)
    assert resolved == {setting.name: setting.default for setting in SETTINGS}
    assert resolved["algorithm"] == "random" and resolved["num_samples"] == 40 and resolved["metric"] == "loss"


@pytest.mark.parametrize("setting", [setting.name for setting in SETTINGS])
def test_each_setting_follows_the_rule_alone(setting):
    """None at a level passes the setting to the next one; a given value (0, {} included) stops there."""
    assert resolve_settings({setting: None}, {setting: PREVIOUS[setting]}, FILE)[setting] == PREVIOUS[setting]
    falsy = {"seed": 0, "scheduler_options": {}, "resources_per_trial": {}}.get(setting)
    if falsy is not None:
        assert resolve_settings({setting: falsy}, PREVIOUS, FILE)[setting] == falsy


def test_an_empty_metric_is_an_argument_and_is_refused_by_search(tmp_path):
    import trw_ray as trw

    with pytest.raises(ValueError, match="metric: expected a non-empty string; got ''"):
        trw.hparams.search(lambda hparams: 0.0, space={"x": trw.hparams.ContinuousUniform(0.5, 0.0, 1.0)},
                           metric="", storage_path=tmp_path, verbose=0)
