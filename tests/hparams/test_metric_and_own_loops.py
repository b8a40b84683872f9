"""The metric a user names is what is optimised and recorded; a function with its own loop reports each epoch."""

from pathlib import Path

import pytest
import search_helpers

import trw_ray as trw
from trw_ray.hparams import ContinuousUniform
from trw_ray.train.tune_bridge import MetricNotReportedError

ACCURACY = "blobs/valid/softmax/accuracy"


def test_a_named_trainer_metric_is_optimised_and_every_epoch_of_it_kept(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.blobs_returning_a_loss, metric=ACCURACY, mode="max", num_samples=3,
                                 seed=1, storage_path=tmp_path, name="accuracy", verbose=0)
    trials = results.trials()
    history = results.history()
    for trial_id in trials["trial_id"]:
        rows = history[history["trial_id"] == trial_id].sort_values("training_iteration")
        assert rows[ACCURACY].notna().sum() == 3  # every epoch's accuracy, the final report's too
        last = trials.set_index("trial_id").loc[trial_id]
        assert last[f"last/{ACCURACY}"] == rows[ACCURACY].iloc[-1]
        assert 0.0 <= last[f"last/{ACCURACY}"] <= 1.0 and last["last/loss"] > 0  # the returned loss as 'loss'
    best = results.best(completed_only=True)
    assert best["value"] == trials[f"last/{ACCURACY}"].max()


@pytest.mark.parametrize("function, metric, reported", [
    (search_helpers.blobs_returning_a_loss, "blobs/valid/softmax/acuracy", ACCURACY),
    (search_helpers.quadratic, "accuracy", "'loss'"),
])
def test_a_metric_never_reported_ends_the_search_naming_what_was(ray_local, tmp_path, function, metric, reported):
    with pytest.raises(MetricNotReportedError, match=f"metric: {metric!r} is not among .*{reported}") as raised:
        trw.hparams.search(function, metric=metric, mode="max", num_samples=6, seed=0, storage_path=tmp_path,
                           name="typo", verbose=0, max_concurrent=1)
    assert isinstance(raised.value, ValueError)
    trials = trw.results.load(tmp_path / "typo").trials()
    assert len(trials) < 6  # the search ended at the first failure instead of failing every trial


def test_a_returned_dict_names_its_values(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.own_loop, metric="accuracy", mode="max", num_samples=3, seed=0,
                                 storage_path=tmp_path, name="dict", verbose=0)
    trials = results.trials()
    assert trials["completed"].all() and (trials["epochs"] == 4).all()
    assert results.best()["value"] == pytest.approx(trials["last/accuracy"].max())


@pytest.mark.parametrize("function", [search_helpers.own_loop, search_helpers.own_loop_on_tune_report])
def test_an_own_loop_under_asha_completes_its_budget(ray_local, tmp_path, function):
    results = trw.hparams.search(function, space={"x": ContinuousUniform(0.5, -1.0, 1.0)}, metric="accuracy",
                                 mode="max", algorithm="asha", max_epochs=4, num_samples=6, seed=0, max_concurrent=1,
                                 storage_path=tmp_path, name="asha", verbose=0,
                                 algorithm_options={"grace_period": 1, "reduction_factor": 2})
    trials = results.trials()
    full = trials[trials["epochs"] == 4]
    assert len(full) and full["completed"].all(), trials
    assert results.best(completed_only=True) is not None
    assert results.anytime(completed_only=True)["best"].notna().any()
    history = results.history()
    if "epoch" in history:  # trw.hparams.report counts them
        epochs = history.groupby("trial_id")["epoch"].max()
    else:  # ray.tune.report: the reports before the final one
        epochs = history[history["trw_final"] != True].groupby("trial_id").size()  # noqa: E712
    assert epochs.to_dict() == trials.set_index("trial_id")["epochs"].to_dict()


def test_discovering_an_own_loops_space_runs_one_epoch_in_the_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("TRW_RAY_LOGGING_ROOT", str(tmp_path))
    for function in (search_helpers.own_loop, search_helpers.own_loop_on_tune_report):
        assert list(trw.hparams.discover_space(function)) == ["x"]
    assert (tmp_path / "loop_epochs.log").read_text().splitlines() == ["0.5 0", "0.5 0"]


def test_report_outside_a_search_does_nothing_and_checks_its_arguments():
    trw.hparams.report({"accuracy": 0.5})
    assert trw.hparams.trial_epochs(default=7) == 7 and trw.hparams.resume_state() is None
    with pytest.raises(ValueError, match="metrics: expected a non-empty dict"):
        trw.hparams.report([0.5])
    with pytest.raises(ValueError, match="non-finite 'accuracy'"):
        trw.hparams.report({"accuracy": float("nan")})
    with pytest.raises(ValueError, match="state: expected None or a dict"):
        trw.hparams.report({"accuracy": 0.5}, state=3)


def test_a_partial_space_says_once_which_parameters_stay_at_their_defaults(ray_local, tmp_path):
    with pytest.warns(UserWarning, match="space: the trials declare kind with hparams.create") as caught:
        results = trw.hparams.search(search_helpers.quadratic, space={"x": ContinuousUniform(0.5, -2.0, 2.0)},
                                     num_samples=3, seed=0, storage_path=tmp_path, name="partial", verbose=0)
    assert sum("stay at their defaults" in str(warning.message) for warning in caught) == 1
    assert len(results.trials()) == 3


@pytest.mark.slow
def test_the_mnist_example_searched_for_its_validation_accuracy(ray_local, tmp_path):
    space = Path(__file__).resolve().parents[2] / "search_spaces" / "mnist_cnn_tiny.yaml"
    metric = "mnist/valid/softmax/accuracy"
    results = trw.hparams.search(space=space, metric=metric, mode="max", num_samples=2, max_epochs=2, seed=0,
                                 storage_path=tmp_path, name="mnist_accuracy", verbose=0)
    trials, history = results.trials(), results.history()
    last_epoch = history.sort_values("training_iteration").groupby("trial_id")[metric].last()
    assert (history.groupby("trial_id")[metric].count() == 2).all()  # every epoch's accuracy kept
    assert results.best()["trial_id"] == last_epoch.idxmax() == trials["trial_id"].iloc[0]
    assert results.best()["value"] == pytest.approx(last_epoch.max())
    assert (trials["last/loss"] > 0).all() and (trials[f"last/{metric}"] <= 1).all()
