"""Model comparison: overlay the histories of several runs and tabulate their final metrics."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.reports import plots


def _load_result(run_dir: Path) -> dict:
    path = run_dir / layout.RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"run_dirs: {str(run_dir)!r} has no last.model.result (is it a trw_ray run folder?)")
    return json.loads(path.read_text())


def compare_runs(run_dirs: Sequence[str | os.PathLike], output_dir: str | os.PathLike) -> pd.DataFrame:
    """Writes one PNG per metric with every run's curve, ``final_metrics.csv`` and ``index.html`` in
    ``output_dir``; returns the table of final metrics (one row per run and metric)."""
    runs = [Path(run_dir) for run_dir in run_dirs]
    if len(runs) < 2:
        raise ValueError(f"run_dirs: expected at least 2 run folders to compare; got {len(runs)}")
    labels = [run.name if [r.name for r in runs].count(run.name) == 1 else str(run) for run in runs]
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    curves: dict[tuple[str, str, str, str], dict[str, tuple[list, list]]] = {}
    rows = []
    for label, run in zip(labels, runs, strict=False):
        result = _load_result(run)
        for epoch, entry in enumerate(result.get("history") or [], start=1):
            for dataset, splits in entry.items():
                for split, outputs in splits.items():
                    for output, metrics in outputs.items():
                        for metric, value in metrics.items():
                            if value is None:
                                continue
                            xs, ys = curves.setdefault((dataset, split, output, metric), {}).setdefault(label, ([], []))
                            xs.append(epoch)
                            ys.append(value)
        for dataset, splits in (result.get("final") or {}).items():
            for split, outputs in splits.items():
                for output, metrics in outputs.items():
                    for metric, value in metrics.items():
                        rows.append({"run": label, "dataset": dataset, "split": split, "output": output,
                                     "metric": metric, "value": value, "epochs": result.get("epochs_completed")})
    figures = []
    for (dataset, split, output, metric), series in sorted(curves.items()):
        name = f"{dataset}-{split}-{output}-{metric}.png"
        plots.plot_curves(series, output_dir / name, f"{dataset}/{split} {output} {metric}", ylabel=metric)
        figures.append(name)
    table = pd.DataFrame(rows, columns=["run", "dataset", "split", "output", "metric", "value", "epochs"])
    table.to_csv(output_dir / "final_metrics.csv", index=False)
    wide = table.pivot_table(index=["dataset", "split", "output", "metric"], columns="run", values="value") \
        if len(table) else table
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trw_ray comparison</title>"
            "</head><body><h1>Comparison of " + ", ".join(html.escape(label) for label in labels) + "</h1>"
            "<h2>Final metrics</h2>" + (wide.to_html(float_format=lambda v: f"{v:.6g}") if len(table) else "")
            + "<h2>Histories</h2>" + "".join(f'<figure><img src="{name}" alt="{name}"></figure>' for name in figures)
            + "</body></html>\n")
    write_text_atomic(output_dir / "index.html", page)
    return table
