"""Logging an experiment that already ran (finished or interrupted) to a tracker: ``trw-ray export mlflow PATH``.

The same calls a live search makes, from the record: a run a tracker has logged already is continued (only what it
lacks is added), so exporting twice, or exporting a search that was tracked live, adds nothing twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trw_ray import layout
from trw_ray.tracking.base import Tracker


def export_experiment(path: str | os.PathLike, tracker: Tracker) -> dict[str, Any]:
    """Logs the experiment at ``path`` with ``tracker``; returns ``{'trials': N, 'results': M}`` (what it passed)."""
    from trw_ray.results import load

    results = load(path)
    rows_of: dict[str, list[dict[str, Any]]] = {}
    for row in results.history_rows():
        rows_of.setdefault(row.get("trial_id"), []).append(row)
    tracker.start_search(results.path, results.settings)
    try:
        for record in results.records():
            tracker.log_trial(record, rows_of.get(record["trial_id"], []))
        best = results.best()
        report = results.path / layout.SEARCH_REPORT_FOLDER
        tracker.end_search({"best": best, "report": report if report.is_dir() else None})
    finally:
        tracker.close()
    return {"trials": len(results.records()), "results": sum(len(rows) for rows in rows_of.values())}


def experiment_dir_of(path: str | os.PathLike) -> Path:
    """``path`` checked to be an experiment folder (``trw_ray/search.json``)."""
    folder = Path(path)
    if not layout.is_experiment_folder(folder):
        raise ValueError(f"path: {str(folder)!r} is not a search experiment (no trw_ray/search.json)")
    return folder
