"""A search in Weights & Biases: one run per trial, grouped by the search, and one run of the search itself.

    results = trw.hparams.search(evaluate, space=space, tracking='wandb')   # offline: local run folders

W&B has no nested runs: every run of a search shares ``group`` = the search's name; the trials' runs have
``job_type='trial'``, their configuration as config, every reported metric logged at ``step`` = its epoch and a
summary with their status; the search's run (``job_type='search'``) has the settings as config and the best trial
in its summary. A trial's run is written when the trial ends (``<experiment>/trw_ray/tracking/wandb.json`` keeps
which were, so a resumed search or an export writes none twice). The mode is ``$WANDB_MODE``, else ``offline``:
runs land in ``dir`` (default ``<experiment>/wandb``) for ``wandb sync`` to upload later; nothing contacts a service
unless the user asks for ``online``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from trw_ray.tracking.base import (
    Tracker,
    TrackerState,
    require,
    result_epoch,
    result_metrics,
    trial_infos,
    trial_status,
)


class WandbTracker(Tracker):
    """Logs a search to W&B (see the module doc).

    Args:
        project: default ``$WANDB_PROJECT``, else ``trw_ray``.
        mode: ``'offline'``, ``'online'`` or ``'disabled'``; default ``$WANDB_MODE``, else ``'offline'``.
        dir: where W&B writes its run folders (default: the experiment folder).
    """

    name = "wandb"

    def __init__(self, project: str | None = None, mode: str | None = None, dir: str | os.PathLike | None = None):
        self.wandb = require("wandb")
        mode = mode or os.environ.get("WANDB_MODE") or "offline"
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"mode: expected 'offline', 'online' or 'disabled'; got {mode!r}")
        self.project = project or os.environ.get("WANDB_PROJECT") or "trw_ray"
        self.mode, self.dir = mode, dir
        self.rows: dict[str, dict[int, dict[str, Any]]] = {}

    def _run_id(self, name: str) -> str:
        return hashlib.sha1(f"{self.experiment_dir}:{name}".encode()).hexdigest()[:16]

    def _init(self, name: str, job_type: str, config: dict[str, Any]):
        return self.wandb.init(project=self.project, group=self.group, job_type=job_type, name=name,
                               id=self._run_id(name), config=config, mode=self.mode, dir=str(self.run_folder),
                               reinit="create_new", resume="allow",
                               settings=self.wandb.Settings(silent=True, console="off", x_disable_stats=True))

    def start_search(self, experiment_dir: Path, settings: dict[str, Any]) -> None:
        self.experiment_dir = Path(experiment_dir)
        self.run_folder = Path(self.dir) if self.dir is not None else self.experiment_dir
        self.run_folder.mkdir(parents=True, exist_ok=True)
        self.group = str(settings.get("name") or self.experiment_dir.name)
        self.settings = {key: value for key, value in settings.items() if key not in ("created", "resumed")}
        self.state = TrackerState(experiment_dir, self.name)
        self.trials = self.state.section("runs")["trials"]

    def log_trial(self, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        status = trial_status(record)
        trial_id = record["trial_id"]
        seen = self.rows.setdefault(trial_id, {})
        for row in rows:  # the newest result of each epoch, as results.history() keeps
            if result_epoch(row) is not None:
                seen[result_epoch(row)] = row
        if status == "running" or self.trials.get(trial_id, {}).get("logged"):
            return
        if not seen or min(seen) > 1:  # a resumed search: the epochs before it are on the record
            from trw_ray.results import load

            for row in load(self.experiment_dir).history(trial_id).to_dict("records"):
                seen.setdefault(result_epoch(row), row)
        run = self._init(trial_id, "trial", dict(record.get("config") or {}))
        try:
            for step in sorted(step for step in seen if step is not None):
                run.log(result_metrics(seen[step]), step=step)
            genotype = trial_infos(record).get("genotype")
            run.summary.update({"status": status, "failures": int(record.get("failures", 0)),
                                **({"genotype": genotype} if genotype else {}),
                                **({"error": record["error"]} if record.get("error") else {})})
        finally:
            run.finish(exit_code=1 if status == "failed" else 0)
        self.trials[trial_id] = {"logged": True, "run_id": self._run_id(trial_id)}
        self.state.save()

    def end_search(self, summary: dict[str, Any]) -> None:
        if self.state.data.get("search_logged"):
            return
        run = self._init(f"{self.group} (search)", "search", self.settings)
        try:
            best = summary.get("best")
            if best is not None:
                run.summary.update({"best_trial": best["trial_id"], "best_value": float(best["value"])})
        finally:
            run.finish()
        self.state.data["search_logged"] = True
        self.state.save()
