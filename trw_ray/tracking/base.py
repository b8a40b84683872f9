"""What a tracker is given: a search's settings, each trial's record and its new reported results, the search's
summary; and the pieces every tracker maps the same way (a trial's status, a result's metrics and epoch).

A tracker is called by :class:`~trw_ray.tracking.sync.TrackingSync` in a background thread of the driver, from
what the search's record receives, so trial processes and cluster workers never talk to the tracking server. A
tracker keeps what it has logged in ``<experiment>/trw_ray/tracking/<name>.json`` (:class:`TrackerState`), so a
resumed search, or an export of the same experiment, continues the same runs instead of duplicating them.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from trw_ray import layout
from trw_ray.io import write_json_atomic
from trw_ray.search_context import FINAL_KEY

#: keys of a reported result that are bookkeeping, not metrics
NOT_METRICS = {"trial_id", "training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "time_since_restore",
               "iterations_since_restore", "pid", "recorded_at", "done", "date", "hostname", "node_ip", "epoch", FINAL_KEY}
STATUSES = ("running", "finished", "stopped_early", "failed")
TRACKING_FOLDER = "tracking"


def require(package: str):
    """The optional ``package`` a tracker logs through; ImportError naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(f"tracking: {package!r} needs the {package} package: pip install 'trw-ray[{package}]'") \
            from error


def trial_status(record: dict[str, Any]) -> str:
    """``running``, ``finished`` (trained to the end), ``stopped_early`` (a scheduler or budget ended it) or
    ``failed``, from a trial's record."""
    if record.get("status") == "ERROR":
        return "failed"
    if record.get("status") == "TERMINATED":
        return "finished" if record.get("completed") else "stopped_early"
    return "running"


def result_epoch(row: dict[str, Any]) -> int | None:
    """The epoch (Tune's training iteration) of a reported result, None when it has none."""
    value = row.get("training_iteration")
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def result_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a reported result, bookkeeping keys aside."""
    return {key: float(value) for key, value in row.items()
            if key not in NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def trial_infos(record: dict[str, Any]) -> dict[str, Any]:
    """What the trial's function returned beside its loss (``trw_ray_infos.json``; e.g. a ``genotype``)."""
    trial_dir = record.get("trial_dir")
    path = Path(trial_dir) / layout.TRIAL_INFOS_FILE if trial_dir else None
    try:
        infos = json.loads(path.read_text(encoding="utf-8")).get("infos") if path else None
    except (OSError, ValueError, AttributeError):
        return {}
    return infos if isinstance(infos, dict) else {}


class TrackerState:
    """A tracker's memory of an experiment: what it has logged where (``<experiment>/trw_ray/tracking/<name>.json``)."""

    def __init__(self, experiment_dir: str | Path, name: str):
        self.path = Path(experiment_dir) / layout.RECORD_FOLDER / TRACKING_FOLDER / f"{name}.json"
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def section(self, key: str) -> dict[str, Any]:
        """The part of the state for one destination (a tracking URI, a W&B folder)."""
        return self.data.setdefault(key, {"trials": {}})

    def save(self) -> None:
        write_json_atomic(self.path, self.data)
        self.saved_at = time.monotonic()

    def save_every(self, seconds: float) -> None:
        """Saves unless the last save is less than ``seconds`` old (the state of thousands of trials is one file)."""
        if time.monotonic() - getattr(self, "saved_at", float("-inf")) >= seconds:
            self.save()


class Tracker:
    """The base of trackers. Each method may raise (a server down): the sync retries it later with the same data.

    ``name`` names the tracker in messages and its state file.
    """

    name = "tracker"
    #: how many trials :class:`~trw_ray.tracking.sync.TrackingSync` may hand :meth:`log_trial` at once (from as
    #: many threads; one trial's updates always in order)
    concurrency = 1

    def start_search(self, experiment_dir: Path, settings: dict[str, Any]) -> None:
        """The search starts or resumes (``settings``: its ``trw_ray/search.json``)."""

    def log_trial(self, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """A trial's record changed: ``record`` is the whole record now, ``rows`` the results reported since the last
        successful call for this trial (oldest first; an export gives all of them)."""

    def end_search(self, summary: dict[str, Any]) -> None:
        """The search ended: ``summary`` has ``best`` (``trial_id``, ``value``, ``config``; or None) and ``report``
        (the search report's folder, or None)."""

    def close(self) -> None:
        """Releases what the tracker holds (files, clients); called once, after the last call."""
