"""Best-so-far curves from a hand-written record (no Ray): each axis equals its definition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trw_ray import layout
from trw_ray.results import load

# two trials reporting alternately; B is stopped early after 1 epoch, A and C train 3 epochs and return a test loss
ROWS = [
    ("A", 1, 0.90, False, 10.0), ("B", 1, 0.80, False, 11.0), ("A", 2, 0.70, False, 12.0),
    ("C", 1, 0.95, False, 13.0), ("A", 3, 0.65, True, 14.0), ("C", 2, 0.60, False, 15.0),
    ("C", 2, 0.60, False, 16.0),  # C resumed from its checkpoint and reported epoch 2 again
    ("C", 3, 0.72, True, 17.0),
]
RECORDS = {"A": (True, 14.5, 0.65), "B": (False, 11.5, 0.80), "C": (True, 17.5, 0.72)}


@pytest.fixture
def experiment(tmp_path):
    folder = tmp_path / "exp" / layout.RECORD_FOLDER
    (folder / layout.TRIALS_FOLDER).mkdir(parents=True)
    (folder / layout.SEARCH_FILE).write_text(json.dumps({"metric": "loss", "mode": "min", "created": 9.0}))
    lines = [json.dumps({"trial_id": t, "training_iteration": i, "loss": v, "recorded_at": clock,
                         **({"trw_final": True} if final else {})}) for t, i, v, final, clock in ROWS]
    (folder / layout.HISTORY_FILE).write_text("\n".join(lines) + "\n")
    for trial_id, (completed, ended, value) in RECORDS.items():
        (folder / layout.TRIALS_FOLDER / f"{trial_id}.json").write_text(json.dumps({
            "trial_id": trial_id, "completed": completed, "ended": ended, "started": ended - 5,
            "last_result": {"loss": value}}))
    return load(tmp_path / "exp")


def test_by_epochs_counts_every_trials_epochs_once_and_keeps_the_running_best(experiment):
    curve = experiment.anytime(by="epochs")
    assert curve["epochs"].tolist() == [1, 2, 3, 4, 5, 6, 6, 7]  # the repeated epoch 2 of C adds nothing
    assert curve["value"].tolist() == [row[2] for row in ROWS]
    assert curve["best"].tolist() == [0.90, 0.80, 0.70, 0.70, 0.65, 0.60, 0.60, 0.60]


def test_completed_only_counts_returned_values_at_their_final_report(experiment):
    curve = experiment.anytime(by="epochs", completed_only=True)
    assert np.isnan(curve["value"][:4]).all() and np.isnan(curve["best"][:4]).all()
    assert curve["best"].tolist()[4:] == [0.65, 0.65, 0.65, 0.65]  # C's 0.72 does not beat A's 0.65


def test_by_time_uses_the_seconds_since_the_search_was_created(experiment):
    curve = experiment.anytime(by="time")
    assert curve["time"].tolist() == pytest.approx([clock - 9.0 for *_, clock in ROWS])
    assert curve["best"].tolist() == experiment.anytime(by="epochs")["best"].tolist()


def test_by_trials_orders_ended_trials_by_their_end(experiment):
    curve = experiment.anytime(by="trials")
    assert curve["trial_id"].tolist() == ["B", "A", "C"] and curve["trials"].tolist() == [1, 2, 3]
    assert curve["best"].tolist() == [0.80, 0.65, 0.65]
    completed = experiment.anytime(by="trials", completed_only=True)
    assert np.isnan(completed["value"][0]) and completed["best"].tolist()[1:] == [0.65, 0.65]
    assert experiment.anytime(by="trials", mode="max")["best"].tolist() == [0.80, 0.80, 0.80]


def test_bad_arguments_name_what_is_expected(experiment):
    with pytest.raises(ValueError, match=r"by: expected one of \['epochs', 'time', 'trials'\]; got 'steps'"):
        experiment.anytime(by="steps")
    with pytest.raises(KeyError, match="metric: 'accuracy' was never reported"):
        experiment.anytime(metric="accuracy")
    with pytest.raises(TypeError, match="completed_only"):
        experiment.anytime(completed_only=1)


def test_two_experiments_compared_on_one_best_so_far_plot(experiment, tmp_path):
    import shutil

    from trw_ray.reports.comparison import compare_experiments

    other = tmp_path / "other"
    shutil.copytree(experiment.path, other)
    settings = json.loads((other / layout.RECORD_FOLDER / layout.SEARCH_FILE).read_text())
    (other / layout.RECORD_FOLDER / layout.SEARCH_FILE).write_text(json.dumps({**settings, "search": "tpe+asha"}))
    table = compare_experiments([experiment.path, other], tmp_path / "compare")
    assert table["best"].tolist() == [0.65, 0.65] and table["epochs"].tolist() == [7, 7]
    assert table["epochs to best"].tolist() == [5, 5] and table["experiment"][1] == "tpe+asha (other)"
    assert (tmp_path / "compare" / "anytime.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="paths: expected at least 2 experiment folders"):
        compare_experiments([experiment.path], tmp_path / "compare")


def test_trials_come_best_first_as_the_cli_prints_them(tmp_path):
    from trw_ray.results.testing import write_experiment

    path = write_experiment(tmp_path / "order", [{"trial_id": t, "value": v} for t, v in
                                                  (("a", 0.5), ("b", 0.1), ("c", 0.3))])
    assert list(load(path).trials()["trial_id"]) == ["b", "c", "a"]
    maximised = write_experiment(tmp_path / "max", [{"trial_id": t, "value": v} for t, v in
                                                     (("a", 0.5), ("b", 0.1), ("c", 0.3))], mode="max")
    assert list(load(maximised).trials()["trial_id"]) == ["a", "c", "b"]
