"""MLflow tracking against a real MLflow server on 127.0.0.1 (SQLite store, local artifacts): a live search, a
driver killed and resumed, a server stopped mid-search, and the backfill of an experiment."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import tracking_helpers
from tracking_helpers import epochs_loop, mlflow_server, tensorboard_sessions

import trw_ray as trw
from trw_ray.hparams import ContinuousUniform
from trw_ray.results import load
from trw_ray.tracking import export_experiment
from trw_ray.tracking.base import NOT_METRICS
from trw_ray.tracking.mlflow_tracker import _param_value

mlflow = pytest.importorskip("mlflow")
SPACE = {"x": ContinuousUniform(0.5, -1.0, 1.0)}


def _runs(uri, name):
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [run for run in runs if run.data.tags.get("trw_ray.role") == "search"]
    trials = {run.data.tags["trw_ray.trial_id"]: run for run in runs if run.data.tags.get("trw_ray.role") == "trial"}
    return client, parents, trials


def _newest_per_step(client, run_id, key):
    points = {}
    for metric in sorted(client.get_metric_history(run_id, key), key=lambda m: m.timestamp):
        points[metric.step] = metric.value
    return points


def _assert_logged(uri, name, results):
    """One parent, a nested run per trial with its parameters, metric histories equal to results.history(),
    statuses; returns the client and the trial runs."""
    client, parents, trials = _runs(uri, name)
    assert len(parents) == 1, [run.info.run_name for run in parents]
    assert set(trials) == set(results.trial_ids())
    for trial_id, run in trials.items():
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        config = results.trial(trial_id)["config"]
        assert run.data.params == {key: _param_value(value) for key, value in config.items()}
        history = results.history(trial_id)
        keys = [key for key in history if key not in NOT_METRICS and history[key].dtype.kind == "f"]
        assert "loss" in keys and set(run.data.metrics) == set(keys), (sorted(run.data.metrics), keys)
        for key in keys:
            expected = {int(step): value for step, value in zip(history["training_iteration"], history[key],
                                                                strict=True) if value == value}
            assert _newest_per_step(client, run.info.run_id, key) == pytest.approx(expected), (trial_id, key)
        assert run.info.status == "FINISHED" and run.data.tags["trw_ray.status"] == "finished"
    assert parents[0].data.params["algorithm"] == "random" and "best_value" in parents[0].data.metrics
    return client, trials


@pytest.mark.slow
def test_a_search_lands_in_mlflow_and_a_backfill_adds_nothing(ray_local, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "hparams"))
    import search_helpers  # the Trainer on blobs: run reports, figures, ONNX and sample tables to log as artifacts

    with mlflow_server(tmp_path / "mlflow") as (uri, _):
        results = trw.hparams.search(search_helpers.blobs_with_reports, num_samples=4, max_epochs=3, seed=0,
                                     storage_path=tmp_path, name="tracked", verbose=0,
                                     tracking=trw.tracking.MLflowTracker(uri))
        client, trials = _assert_logged(uri, "tracked", results)
        artifacts = [item.path for item in client.list_artifacts(_runs(uri, "tracked")[1][0].info.run_id)]
        assert "space.json" in artifacts
        files = {item.path for item in client.list_artifacts(next(iter(trials.values())).info.run_id)}
        assert {"index.html", "last.onnx", "samples"} <= files, files
        assert any(name.endswith("-cm.png") for name in files), files  # the run report's figures
        counts = {trial_id: len(client.get_metric_history(run.info.run_id, "loss")) for trial_id, run in trials.items()}
        export_experiment(results.path, trw.tracking.MLflowTracker(uri))
        _, _, again = _runs(uri, "tracked")
        assert set(again) == set(trials)
        assert {t: len(client.get_metric_history(run.info.run_id, "loss")) for t, run in again.items()} == counts
    sessions = tensorboard_sessions(results.path / "tensorboard")
    assert set(sessions) == set(results.trial_ids())
    for trial_id, session in sessions.items():
        history = results.history(trial_id)
        assert session["status"] == "STATUS_SUCCESS"
        assert session["hparams"] == pytest.approx(results.trial(trial_id)["config"])
        assert session["scalars"]["loss"] == pytest.approx(dict(zip(history["training_iteration"], history["loss"],
                                                                    strict=True)))


@pytest.mark.slow
def test_a_killed_and_resumed_search_continues_the_same_runs(ray_local, tmp_path):
    with mlflow_server(tmp_path / "mlflow") as (uri, _):
        code = f"import tracking_helpers; tracking_helpers.run_tracked_driver({str(tmp_path)!r}, 'resumed', {uri!r})"
        driver = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ), start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        experiment = tmp_path / "resumed"
        running = {}
        try:
            deadline = time.time() + 150
            while time.time() < deadline:
                time.sleep(0.5)
                if (experiment / "trw_ray" / "search.json").is_file():
                    trials = load(experiment).trials()
                    done = trials[trials["status"] == "TERMINATED"] if len(trials) else trials
                    if len(done) >= 1 and (experiment / "tensorboard").is_dir():
                        running = tensorboard_sessions(experiment / "tensorboard")
                        if any(s["status"] == "STATUS_RUNNING" for s in running.values()):
                            break
            assert any(s["status"] == "STATUS_RUNNING" for s in running.values()), running
            time.sleep(1.2)  # Tune saves its state every second
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait(timeout=30)
        finally:
            tracking_helpers.stop(driver)
        os.environ["TRW_RAY_TEST_EPOCH_S"] = "0"
        try:
            results = trw.hparams.search(epochs_loop, storage_path=tmp_path, name="resumed", resume=True, verbose=0,
                                         tracking=trw.tracking.MLflowTracker(uri, experiment_name="resumed"))
        finally:
            del os.environ["TRW_RAY_TEST_EPOCH_S"]
        assert len(results.trials()) == 4 and set(results.trials()["status"]) == {"TERMINATED"}
        _assert_logged(uri, "resumed", results)


@pytest.mark.slow
def test_a_server_stopped_mid_search_neither_fails_nor_stalls_it_and_is_reported_once(ray_local, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv("TRW_RAY_TEST_EPOCH_S", "0.3")
    with mlflow_server(tmp_path / "mlflow") as (uri, server):
        stopper = None

        def stop_after_first_run():
            client = mlflow.MlflowClient(uri)
            deadline = time.time() + 120
            while time.time() < deadline:
                experiment = client.get_experiment_by_name("gap")
                if experiment is not None and len(client.search_runs([experiment.experiment_id])) >= 2:
                    tracking_helpers.stop(server)
                    return
                time.sleep(0.2)

        import threading

        stopper = threading.Thread(target=stop_after_first_run, daemon=True)
        stopper.start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            started = time.perf_counter()
            results = trw.hparams.search(epochs_loop, space=SPACE, num_samples=4, max_concurrent=1, seed=0,
                                         storage_path=tmp_path, name="gap", verbose=0,
                                         tracking=trw.tracking.MLflowTracker(uri, experiment_name="gap"))
            elapsed = time.perf_counter() - started
        stopper.join(timeout=5)
    assert server.poll() is not None  # the server was down for the rest of the search
    trials = results.trials()
    assert len(trials) == 4 and trials["completed"].all() and len(results.history()) == 4 * 5  # the record is complete: 4 epochs and the final result each
    said = [str(w.message) for w in caught if "tracking:" in str(w.message)]
    assert len(said) == 1 and "mlflow: " in said[0] and "trw-ray export mlflow" in said[0], said
    assert json.loads((results.path / "trw_ray" / "search.json").read_text())["tracking_problems"]
    assert elapsed < 120, elapsed


def test_an_export_maps_trials_params_metrics_and_status_without_a_server(tmp_path, monkeypatch):
    """The mapping itself, through MLflow's SQLite store in this process (no server, no Ray)."""
    from trw_ray.results.testing import write_experiment

    monkeypatch.chdir(tmp_path)  # a SQLite store keeps its artifacts in ./mlruns

    experiment = write_experiment(tmp_path / "exp", [{"trial_id": f"t{i}", "value": 0.5 - 0.1 * i,
                                                      "config": {"x": 0.1 * i}} for i in range(2)])
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    export_experiment(experiment, trw.tracking.MLflowTracker(uri, experiment_name="exported"))
    export_experiment(experiment, trw.tracking.MLflowTracker(uri, experiment_name="exported"))
    client, parents, trials = _runs(uri, "exported")
    assert len(parents) == 1 and set(trials) == {"t0", "t1"}
    assert trials["t1"].data.params["x"] == "0.1" and trials["t1"].data.metrics["loss"] == pytest.approx(0.4)
    assert len(client.get_metric_history(trials["t1"].info.run_id, "loss")) == 1  # the second export added nothing
    assert trials["t0"].info.status == "FINISHED"
    assert parents[0].data.tags["trw_ray.best_trial"] == "t1"


def test_the_export_command_logs_an_experiment_once_and_names_a_wrong_folder(tmp_path, monkeypatch, capsys):
    from trw_ray.cli import main
    from trw_ray.results.testing import write_experiment

    monkeypatch.chdir(tmp_path)
    experiment = write_experiment(tmp_path / "exp", [{"trial_id": "t0", "value": 0.5, "config": {"x": 0.1}}])
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    for _ in range(2):
        assert main(["export", "mlflow", str(experiment), "--tracking-uri", uri, "--experiment-name", "cli"]) == 0
    assert "mlflow: 1 trials (1 results)" in capsys.readouterr().out
    _, parents, trials = _runs(uri, "cli")
    assert len(parents) == 1 and list(trials) == ["t0"]
    assert main(["export", "mlflow", str(tmp_path), "--tracking-uri", uri]) == 2
    assert "is not a search experiment" in capsys.readouterr().err
