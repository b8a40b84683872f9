"""TensorBoard's HParams view of a search, kept current while it runs: ``tensorboard --logdir <experiment>``.

One folder per trial, ``<experiment>/tensorboard/<trial_id>/``, holds its session (the configuration, written with
its first reported result), every reported metric as a scalar at its epoch, and its status: running while it
trains, then success (trained to the end, or stopped early: scalar ``trw_ray/stopped_early`` is 1) or failure.
Written with TensorBoard's own event writer and plugin records (no TensorFlow), by the driver.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trw_ray.tracking.base import Tracker, TrackerState, result_epoch, result_metrics, trial_status

FOLDER = "tensorboard"


def _hparam_value(value: Any):
    from google.protobuf import struct_pb2

    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, (int, float)):
        return struct_pb2.Value(number_value=float(value))
    return struct_pb2.Value(string_value=str(value))


class TensorBoardHParams(Tracker):
    """Writes the HParams sessions of a search's trials (see the module doc). Every search writes them."""

    name = "tensorboard"

    def __init__(self):
        self.writers: dict[str, Any] = {}

    def start_search(self, experiment_dir: Path, settings: dict[str, Any]) -> None:
        self.folder = Path(experiment_dir) / FOLDER
        self.state = TrackerState(experiment_dir, self.name)
        self.trials = self.state.section("local")["trials"]

    def _writer(self, trial_id: str):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        if trial_id not in self.writers:
            self.writers[trial_id] = EventFileWriter(str(self.folder / trial_id), flush_secs=1)
        return self.writers[trial_id]

    def _plugin_event(self, tag: str, plugin_data, step: int = 0):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import metadata

        value = summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(plugin_data),
                                          tensor=metadata.NULL_TENSOR)
        return event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value]))

    def _session_end(self, status: str):
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

        code = {"running": api_pb2.STATUS_RUNNING, "failed": api_pb2.STATUS_FAILURE}.get(status, api_pb2.STATUS_SUCCESS)
        from tensorboard.plugins.hparams import metadata

        end = plugin_data_pb2.HParamsPluginData(
            session_end_info=plugin_data_pb2.SessionEndInfo(status=code, end_time_secs=time.time()))
        return self._plugin_event(metadata.SESSION_END_INFO_TAG, end)

    def log_trial(self, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import metadata, plugin_data_pb2

        trial_id = record["trial_id"]
        logged = self.trials.setdefault(trial_id, {"started": False, "last_step": 0, "status": None})
        new_rows = [row for row in rows if (result_epoch(row) or 0) > logged["last_step"]]
        status = trial_status(record)
        if not new_rows and (status == logged["status"] or not logged["started"]):
            return
        writer = self._writer(trial_id)
        if not logged["started"]:
            start = plugin_data_pb2.HParamsPluginData(session_start_info=plugin_data_pb2.SessionStartInfo(
                hparams={key: _hparam_value(value) for key, value in (record.get("config") or {}).items()},
                group_name=trial_id, start_time_secs=float(record.get("started") or time.time())))
            writer.add_event(self._plugin_event(metadata.SESSION_START_INFO_TAG, start))
            logged["started"] = True
        for row in new_rows:
            step = result_epoch(row) or 0
            values = [summary_pb2.Summary.Value(tag=key, simple_value=value)
                      for key, value in result_metrics(row).items()]
            writer.add_event(event_pb2.Event(wall_time=float(row.get("recorded_at") or time.time()), step=step,
                                             summary=summary_pb2.Summary(value=values)))
            logged["last_step"] = max(logged["last_step"], step)
        if status != logged["status"]:
            if status == "stopped_early":
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=logged["last_step"], summary=summary_pb2.Summary(
                    value=[summary_pb2.Summary.Value(tag="trw_ray/stopped_early", simple_value=1.0)])))
            writer.add_event(self._session_end(status))
            logged["status"] = status
        writer.flush()
        if status != "running":
            writer.close()
            del self.writers[trial_id]
        self.state.save_every(2.0)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
        if getattr(self, "state", None) is not None:
            self.state.save()
