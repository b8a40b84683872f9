"""Writing an experiment folder by hand: the record and per-sample tables a search leaves, from given arrays.

For tests and benchmarks of what reads experiments (:mod:`trw_ray.results`, the error report) without running a
search. The files are the ones a search writes (:mod:`trw_ray.layout`), through the same table writer as the
Trainer's per-sample tables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trw_ray import layout
from trw_ray.io import atomic_write, write_json_atomic

TableKey = tuple[str, str, str, int]  # (dataset, split, output, epoch)


def classification_table(sample_uid, labels, probabilities, epoch: int, output: str = "softmax"):
    """The per-sample table of a classification output from its probabilities (prediction: their argmax; loss:
    cross entropy of the label), as the Trainer writes it."""
    from trw_ray.outputs import OutputClassification
    from trw_ray.train.callbacks.sample_tables import output_table

    probabilities = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    collected = {"sample_uid": np.asarray(sample_uid, dtype=np.int64), "output": probabilities.argmax(axis=1),
                 "output_truth": labels, "output_raw": probabilities,
                 "loss": -np.log(np.clip(probabilities[rows, labels], 1e-12, None))}
    return output_table(output, OutputClassification, collected, epoch)


def write_experiment(path: str | Path, trials: Sequence[Mapping[str, Any]], metric: str = "loss",
                     mode: str = "min") -> Path:
    """Writes an experiment folder at ``path``.

    Args:
        trials: one dict per trial: ``trial_id``, ``value`` (its final metric), optional ``config``,
            ``tables`` ``{(dataset, split, output, epoch): pyarrow table}`` (e.g. :func:`classification_table`) and
            ``infos`` (what its function returned with the loss: the ``result/<name>`` columns).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    write_json_atomic(path / layout.RECORD_FOLDER / layout.SEARCH_FILE,
                      {"name": path.name, "algorithm": "hand-written", "metric": metric, "mode": mode,
                       "created": time.time()})
    history = []
    for order, trial in enumerate(trials):
        trial_id = trial["trial_id"]
        trial_dir = path / f"trial_{trial_id}"
        run_dir = trial_dir / layout.TRIAL_RUNS_FOLDER / "run_r0"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / layout.TRAINER_LOG).write_text("written by trw_ray.results.testing\n")
        for (dataset, split, output, epoch), table in trial.get("tables", {}).items():
            target = layout.samples_file(run_dir, dataset, split, output, epoch)
            atomic_write(target, lambda file, table=table: pq.write_table(table, file), mode="wb")
        if "infos" in trial:
            write_json_atomic(trial_dir / layout.TRIAL_INFOS_FILE, {"loss": trial["value"], "infos": trial["infos"]})
        last = {metric: trial["value"], "training_iteration": 1, "run_dir": str(run_dir), "trw_final": True}
        history.append({"trial_id": trial_id, **last})
        write_json_atomic(path / layout.RECORD_FOLDER / layout.TRIALS_FOLDER / f"{trial_id}.json", {
            "trial_id": trial_id, "status": "TERMINATED", "completed": True, "config": dict(trial.get("config", {})),
            "trial_dir": str(trial_dir), "last_result": last, "iterations": 1, "failures": 0, "started": order})
    lines = "".join(json.dumps(row) + "\n" for row in history)
    (path / layout.RECORD_FOLDER / layout.HISTORY_FILE).write_text(lines)
    return path
