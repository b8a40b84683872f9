"""Trackers fed from the record: TensorBoard HParams sessions and W&B offline runs of an experiment, and the
background sync that never blocks or fails a search."""

import sys
import time

import numpy as np
import pytest
from tracking_helpers import tensorboard_sessions, wandb_run

from trw_ray.results import load
from trw_ray.results.testing import write_experiment
from trw_ray.tracking import TensorBoardHParams, Tracker, TrackingSync, export_experiment, resolve_trackers


def _experiment(path):
    """Three trials of two epochs each (finished, stopped early, failed) written by hand, as a search leaves them."""
    experiment = write_experiment(path, [{"trial_id": f"t{i}", "value": 0.5 - 0.1 * i, "config": {"lr": 0.1 * (i + 1),
                                                                                                "act": "relu"}}
                                         for i in range(3)])
    import json

    history = experiment / "trw_ray" / "history.jsonl"
    rows = []
    for i in range(3):
        for epoch in (1, 2):
            rows.append({"trial_id": f"t{i}", "training_iteration": epoch, "loss": 1.0 / epoch - 0.1 * i,
                         "accuracy": 0.5 + 0.1 * epoch + 0.01 * i, "recorded_at": time.time()})
    history.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for i, change in ((1, {"completed": False, "stopped_early": True}), (2, {"status": "ERROR", "error": "boom"})):
        record_path = experiment / "trw_ray" / "trials" / f"t{i}.json"
        record = json.loads(record_path.read_text())
        record.update(change)
        record_path.write_text(json.dumps(record))
    return experiment


def test_tensorboard_hparams_sessions_hold_each_trials_config_metrics_and_status(tmp_path):
    experiment = _experiment(tmp_path / "exp")
    export_experiment(experiment, TensorBoardHParams())
    sessions = tensorboard_sessions(experiment / "tensorboard")
    assert set(sessions) == {"t0", "t1", "t2"}
    assert sessions["t0"]["hparams"] == {"lr": pytest.approx(0.1), "act": "relu"}
    assert [sessions[t]["status"] for t in ("t0", "t1", "t2")] == ["STATUS_SUCCESS", "STATUS_SUCCESS", "STATUS_FAILURE"]
    assert sessions["t1"]["scalars"]["trw_ray/stopped_early"] == {2: 1.0}
    history = load(experiment).history("t2")
    assert sessions["t2"]["scalars"]["loss"] == pytest.approx(dict(zip(history["training_iteration"], history["loss"], strict=True)))
    export_experiment(experiment, TensorBoardHParams())  # again: nothing is written twice
    assert tensorboard_sessions(experiment / "tensorboard") == sessions


def test_tensorboard_status_is_running_until_the_trial_ends(tmp_path):
    tracker = TensorBoardHParams()
    tracker.start_search(tmp_path, {})
    record = {"trial_id": "a", "config": {"x": 1}, "status": "RUNNING"}
    tracker.log_trial(record, [{"trial_id": "a", "training_iteration": 1, "loss": 0.5}])
    assert tensorboard_sessions(tmp_path / "tensorboard")["a"]["status"] == "STATUS_RUNNING"
    tracker.log_trial({**record, "status": "TERMINATED", "completed": True},
                      [{"trial_id": "a", "training_iteration": 2, "loss": 0.25}])
    session = tensorboard_sessions(tmp_path / "tensorboard")["a"]
    assert session["status"] == "STATUS_SUCCESS" and session["scalars"]["loss"] == {1: 0.5, 2: 0.25}


def test_wandb_offline_runs_hold_each_trials_config_and_metric_history(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    from trw_ray.tracking.wandb_tracker import WandbTracker

    experiment = _experiment(tmp_path / "exp")
    export_experiment(experiment, WandbTracker(project="test"))
    folders = sorted((experiment / "wandb").glob("offline-run-*"))
    runs = [wandb_run(folder) for folder in folders]
    assert len(runs) == 4  # three trials and the search
    trial = next(run for run in runs if run["config"].get("lr") == 0.1)
    history = load(experiment).history("t0")
    assert [row["loss"] for row in trial["history"]] == pytest.approx(list(history["loss"]))
    assert [row["_step"] for row in trial["history"]] == list(history["training_iteration"])
    assert trial["job_type"] == "trial" and trial["group"] == "exp"
    search = next(run for run in runs if run["job_type"] == "search")
    assert search["summary"]["best_trial"] == "t2"
    export_experiment(experiment, WandbTracker(project="test"))  # again: no run written twice
    assert len(sorted((experiment / "wandb").glob("offline-run-*"))) == 4


class Flaky(Tracker):
    """Fails its first ``failures`` calls, then records what it is given."""

    name = "flaky"

    def __init__(self, failures=0, delay=0.0):
        self.failures, self.delay, self.calls = failures, delay, 0
        self.rows, self.ended = {}, None

    def _maybe_fail(self):
        self.calls += 1
        time.sleep(self.delay)
        if self.calls <= self.failures:
            raise ConnectionError("tracking server down")

    def start_search(self, experiment_dir, settings):
        self._maybe_fail()

    def log_trial(self, record, rows):
        self._maybe_fail()
        self.rows.setdefault(record["trial_id"], []).extend(row["training_iteration"] for row in rows)

    def end_search(self, summary):
        self._maybe_fail()
        self.ended = summary


def test_the_sync_never_blocks_the_recorder_and_loses_nothing_when_calls_fail(tmp_path, monkeypatch):
    monkeypatch.setattr("trw_ray.tracking.sync.RETRY_FIRST_S", 0.05)
    slow, flaky = Flaky(delay=0.2), Flaky(failures=3)
    sync = TrackingSync([slow, flaky], tmp_path)
    sync.start({})
    started = time.perf_counter()
    for epoch in range(1, 21):
        sync.trial_changed({"trial_id": "a"}, {"trial_id": "a", "training_iteration": epoch})
    assert time.perf_counter() - started < 0.1  # 20 updates while each call of one tracker takes 0.2 s
    assert sync.finish({"best": None}, timeout_s=10) == ["flaky: 3 call(s) failed and were retried successfully "
                                                          "(first: ConnectionError: tracking server down)"]
    assert slow.rows == flaky.rows == {"a": list(range(1, 21))}
    assert slow.ended == flaky.ended == {"best": None}


def test_a_tracker_that_stays_down_is_reported_once_and_the_end_does_not_wait_for_it(tmp_path):
    down = Flaky(failures=10**9)
    sync = TrackingSync([down], tmp_path)
    sync.start({})
    sync.trial_changed({"trial_id": "a"}, {"trial_id": "a", "training_iteration": 1})
    time.sleep(0.2)
    started = time.perf_counter()
    [problem] = sync.finish({"best": None}, timeout_s=60)
    assert time.perf_counter() - started < 6  # a failing tracker gets a few seconds, not the whole timeout
    assert problem.startswith("flaky: 1 trial(s) not fully logged") and "tracking server down" in problem
    assert "trw-ray export flaky" in problem


def test_tracking_argument_is_checked_and_a_missing_package_names_its_extra(monkeypatch):
    with pytest.raises(ValueError, match=r"tracking: expected one of \['mlflow', 'wandb'\]"):
        resolve_trackers("neptune")
    with pytest.raises(TypeError, match="tracking: expected None, one of"):
        resolve_trackers([3])
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r"pip install 'trw-ray\[mlflow\]'"):
        resolve_trackers("mlflow")
    assert resolve_trackers(None) == []
    assert np.all([isinstance(t, Tracker) for t in resolve_trackers([Flaky()])])


def test_tracker_arguments_are_checked():
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    from trw_ray.tracking.mlflow_tracker import MLflowTracker
    from trw_ray.tracking.wandb_tracker import WandbTracker

    with pytest.raises(ValueError, match="tracking_uri: expected None or a non-empty string; got 3"):
        MLflowTracker(tracking_uri=3)
    with pytest.raises(TypeError, match="artifacts: expected True or False; got 'yes'"):
        MLflowTracker("sqlite:///x.db", artifacts="yes")
    with pytest.raises(ValueError, match="mode: expected 'offline', 'online' or 'disabled'; got 'loud'"):
        WandbTracker(mode="loud")
