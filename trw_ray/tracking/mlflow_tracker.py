"""A search in MLflow: one parent run per search, one nested run per trial.

    results = trw.hparams.search(evaluate, space=space, tracking='mlflow')             # $MLFLOW_TRACKING_URI
    results = trw.hparams.search(evaluate, space=space,
                                 tracking=MLflowTracker('http://127.0.0.1:5000', experiment_name='mnist'))

The parent run (tag ``trw_ray.role=search``) holds the search's settings as parameters, its space as an artifact,
the best trial and its value, and the search report's folder once it is built (``trw-ray export mlflow`` after
``trw-ray report``). Each trial's run (tag ``mlflow.parentRunId``) holds its configuration as parameters, every
reported metric with ``step`` = its epoch, tags ``trw_ray.trial_id``, ``trw_ray.algorithm``, ``trw_ray.status``
(running, finished, stopped_early, failed), ``trw_ray.failures`` and, for an architecture search,
``trw_ray.genotype``; when it ends, its status (FINISHED or FAILED) and artifacts: the run report (``index.html``
and figures), ``last.onnx`` and the per-sample tables.

The runs are found again by their tags and by ``<experiment>/trw_ray/tracking/mlflow.json``: a resumed search, or an
export of an experiment already logged, continues the same runs and logs only the epochs not logged yet. A trial
resumed from an earlier checkpoint may report an epoch again; MLflow then holds both points of that step, and the
newest is the one ``results.history()`` keeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from trw_ray import layout
from trw_ray.tracking.base import (
    Tracker,
    TrackerState,
    require,
    result_epoch,
    result_metrics,
    trial_infos,
    trial_status,
)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value
METRICS_PER_BATCH = 1000  # MLflow's limit on the metrics of one log_batch
#: what the tracker changes in MLflow's HTTP client unless the user set it: fail fast, the sync retries itself
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}  # no line per ended run in the search's output
STATUS = {"finished": "FINISHED", "stopped_early": "FINISHED", "failed": "FAILED"}
#: the state file is rewritten at most this often while a search runs (a run created since is found by its tags)
STATE_SAVE_S = 2.0


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM_LENGTH]


def _run_artifacts(run_dir: Path) -> list[tuple[Path, str | None]]:
    """(file or folder, artifact path) of a run folder: its report page and figures, ONNX file and sample tables."""
    chosen: list[tuple[Path, str | None]] = []
    for name in (layout.RUN_INDEX, layout.ONNX_FILE):
        if (run_dir / name).is_file():
            chosen.append((run_dir / name, None))
    for image in sorted(run_dir.rglob("*.png")):
        parent = image.parent.relative_to(run_dir).as_posix()
        chosen.append((image, None if parent == "." else parent))
    if (run_dir / layout.SAMPLES_FOLDER).is_dir():
        chosen.append((run_dir / layout.SAMPLES_FOLDER, layout.SAMPLES_FOLDER))
    return chosen


class MLflowTracker(Tracker):
    """Logs a search to an MLflow tracking server (see the module doc).

    Args:
        tracking_uri: default ``$MLFLOW_TRACKING_URI``, else MLflow's default.
        experiment_name: the MLflow experiment; default ``$MLFLOW_EXPERIMENT_NAME``, else the search's name.
        artifacts: log each trial's run report, ONNX file and per-sample tables when it ends.
    """

    name = "mlflow"
    #: trials logged at once (one HTTP request each at a time): a backlog of many short trials clears sooner
    concurrency = 4

    def __init__(self, tracking_uri: str | None = None, experiment_name: str | None = None, artifacts: bool = True):
        self.mlflow = require("mlflow")
        for argument, value in (("tracking_uri", tracking_uri), ("experiment_name", experiment_name)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{argument}: expected None or a non-empty string; got {value!r}")
        if not isinstance(artifacts, bool):
            raise TypeError(f"artifacts: expected True or False; got {artifacts!r}")
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or self.mlflow.get_tracking_uri()
        self.experiment_name = experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        self.artifacts = artifacts
        self.client = None
        self.state: TrackerState | None = None
        self.lock = threading.Lock()  # the state, shared by the threads that log trials at once

    # ------------------------------------------------------------------ runs

    def _section(self) -> dict[str, Any]:
        key = hashlib.sha1(self.tracking_uri.encode()).hexdigest()[:12]
        section = self.state.section(key)
        section["tracking_uri"] = self.tracking_uri
        return section

    def _find_run(self, **tags: str) -> str | None:
        query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
        runs = self.client.search_runs([self.experiment_id], filter_string=query, max_results=1)
        return runs[0].info.run_id if runs else None

    def start_search(self, experiment_dir: Path, settings: dict[str, Any]) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        self.client = MlflowClient(self.tracking_uri)
        self.experiment_dir = Path(experiment_dir)
        self.state = TrackerState(experiment_dir, self.name)
        # runs of this experiment can exist only if it was logged before (a resumed search, an export): only then
        # is a trial the state does not know looked up by its tags (a new search makes no lookups)
        self.logged_before = bool(self.state.data)
        section = self._section()
        name = self.experiment_name or settings.get("name") or self.experiment_dir.name
        experiment = self.client.get_experiment_by_name(name)
        self.experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        self.algorithm = str(settings.get("search") or settings.get("algorithm"))
        where = {"trw_ray.experiment_dir": str(self.experiment_dir), "trw_ray.role": "search"}
        parent = section.get("parent_run_id") or self._find_run(**where)
        if parent is None:
            parent = self.client.create_run(self.experiment_id, run_name=settings.get("name") or self.experiment_dir.name,
                                            tags={**where, "trw_ray.algorithm": self.algorithm}).info.run_id
            shown = {key: value for key, value in settings.items()
                     if key not in ("space", "created", "resumed") and value not in (None, {}, "")}
            self.client.log_batch(parent, params=[Param(key, _param_value(value)) for key, value in shown.items()])
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "space.json"
                path.write_text(json.dumps(settings.get("space") or {}, indent=1, default=str))
                self.client.log_artifact(parent, str(path))
        section["parent_run_id"], section["experiment_id"] = parent, self.experiment_id
        self.state.save()

    def _trial_run(self, record: dict[str, Any], section: dict[str, Any]) -> tuple[dict[str, Any], list]:
        """The trial's run (created with the parameters to log, or found again) and the parameters to log."""
        from mlflow.entities import Param

        trial_id = record["trial_id"]
        with self.lock:
            logged = section["trials"].get(trial_id)
        if logged is not None:
            return logged, []
        tags = {"trw_ray.experiment_dir": str(self.experiment_dir), "trw_ray.trial_id": trial_id}
        run_id = self._find_run(**tags) if self.logged_before else None
        last_step, params = 0, []
        if run_id is None:
            run_id = self.client.create_run(self.experiment_id, run_name=trial_id, tags={
                **tags, "mlflow.parentRunId": section["parent_run_id"], "trw_ray.role": "trial",
                "trw_ray.algorithm": self.algorithm}).info.run_id
            params = [Param(key, _param_value(value)) for key, value in (record.get("config") or {}).items()]
        else:  # created before the state was saved (a driver killed between the two): continue after its last step
            run = self.client.get_run(run_id)
            last_step = max((metric.step for metric in self._history(run_id, run.data.metrics)), default=0)
        with self.lock:
            logged = section["trials"][trial_id] = {"run_id": run_id, "last_step": last_step, "ended": False,
                                                    "tags": None}
        return logged, params

    def _history(self, run_id: str, metrics: dict[str, float]):
        for key in metrics:
            yield from self.client.get_metric_history(run_id, key)

    # ------------------------------------------------------------------ what the sync calls

    def log_trial(self, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric, RunTag

        section = self._section()
        logged, params = self._trial_run(record, section)
        metrics = []
        last_step = logged["last_step"]
        for row in rows:
            step = result_epoch(row)
            if step is None or step <= logged["last_step"]:
                continue
            timestamp = int(1000 * float(row.get("recorded_at") or row.get("timestamp") or 0))
            metrics.extend(Metric(key, value, timestamp, step) for key, value in result_metrics(row).items())
            last_step = max(last_step, step)
        status = trial_status(record)
        tags = [RunTag("trw_ray.status", status), RunTag("trw_ray.failures", str(record.get("failures", 0)))]
        if status in STATUS:  # what the function returned, read once it has
            genotype = (record.get("last_result") or {}).get("genotype") or trial_infos(record).get("genotype")
            if genotype:
                tags.append(RunTag("trw_ray.genotype", str(genotype)))
        if record.get("error"):
            tags.append(RunTag("trw_ray.error", str(record["error"])[:5000]))
        shown = {tag.key: tag.value for tag in tags}
        if shown == logged.get("tags"):
            tags = []  # nothing new to say: a status-only update costs no request
        if metrics or params or tags:
            for start in range(0, max(len(metrics), 1), METRICS_PER_BATCH):  # params and tags with the first batch
                self.client.log_batch(logged["run_id"], metrics=metrics[start:start + METRICS_PER_BATCH],
                                      params=params if start == 0 else (), tags=tags if start == 0 else ())
        with self.lock:
            logged["tags"] = shown
        with self.lock:
            logged["last_step"] = last_step
        if status in STATUS and not logged["ended"]:
            run_dir = (record.get("last_result") or {}).get("run_dir")
            if self.artifacts and run_dir and Path(run_dir).is_dir():
                for path, artifact_path in _run_artifacts(Path(run_dir)):
                    if path.is_dir():
                        self.client.log_artifacts(logged["run_id"], str(path), artifact_path)
                    else:
                        self.client.log_artifact(logged["run_id"], str(path), artifact_path)
            self.client.set_terminated(logged["run_id"], STATUS[status])
            with self.lock:
                logged["ended"] = True
        with self.lock:
            self.state.save_every(STATE_SAVE_S)

    def end_search(self, summary: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        section = self._section()
        parent = section["parent_run_id"]
        best = summary.get("best")
        if best is not None:
            self.client.log_batch(parent, metrics=[Metric("best_value", float(best["value"]), 0, 0)],
                                  tags=[RunTag("trw_ray.best_trial", str(best["trial_id"])),
                                        RunTag("trw_ray.best_config", _param_value(best.get("config")))])
        report = summary.get("report")
        if report and Path(report).is_dir() and not section.get("report_logged"):
            self.client.log_artifacts(parent, str(report), "report")
            section["report_logged"] = True
        self.client.set_terminated(parent, "FINISHED")
        self.state.save()

    def close(self) -> None:
        if self.state is not None:
            with self.lock:
                self.state.save()
