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
from trw_ray.reports.html import STYLE


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
            f"<style>{STYLE}</style></head><body><h1>Comparison of " + ", ".join(html.escape(label) for label in labels) + "</h1>"
            "<h2>Final metrics</h2>" + (wide.to_html(float_format=lambda v: f"{v:.6g}") if len(table) else "")
            + "<h2>Histories</h2>" + "".join(f'<figure><img src="{name}" alt="{name}"></figure>' for name in figures)
            + "</body></html>\n")
    write_text_atomic(output_dir / "index.html", page)
    return table


def compare_experiments(paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike, by: str = "epochs",
                        completed_only: bool = True, metric: str | None = None) -> pd.DataFrame:
    """Several searches on one best-so-far plot (``anytime.png``) with a table of what each found and consumed,
    ``summary.csv`` and ``index.html`` in ``output_dir``; returns the table (one row per experiment).

    Args:
        paths: experiment folders (two or more), e.g. the same space searched by two algorithms.
        by: the x axis of :meth:`trw_ray.results.ExperimentResults.anytime` (``'epochs'``, ``'time'``, ``'trials'``).
        completed_only: count only trials trained to the end (default: compare the models each search delivers).
        metric: default: the first experiment's.
    """
    from trw_ray.results import load

    if len(paths) < 2:
        raise ValueError(f"paths: expected at least 2 experiment folders to compare; got {len(paths)}")
    experiments = [load(path) for path in paths]
    metric = metric or experiments[0].metric
    names = [results.path.name for results in experiments]
    labels = [f"{results.settings.get('search') or results.settings.get('algorithm')} ({name})"
              for results, name in zip(experiments, names, strict=True)]
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    series, rows = {}, []
    for label, results in zip(labels, experiments, strict=True):
        curve = results.anytime(metric, by=by, completed_only=completed_only)
        series[label] = (curve[by].tolist(), curve["best"].tolist())
        epochs = results.anytime(metric, by="epochs")
        found = curve["best"].dropna()
        rows.append({"experiment": label, "path": str(results.path), "best": float(found.iloc[-1]) if len(found) else None,
                     f"{by} to best": float(curve.loc[found.index[found.eq(found.iloc[-1])][0], by]) if len(found) else None,
                     "epochs": int(epochs["epochs"].max()) if len(epochs) else 0,
                     "trials": int(epochs["trial_id"].nunique()) if len(epochs) else 0})
    table = pd.DataFrame(rows)
    table.to_csv(output_dir / "summary.csv", index=False)
    axis = {"epochs": "epochs trained by all trials", "time": "seconds since the search began",
            "trials": "trials ended"}[by]
    plots.plot_anytime(series, output_dir / "anytime.png", f"best {metric} so far"
                       + (" (trials trained to the end)" if completed_only else ""), axis, f"best {metric}")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trw_ray search comparison</title>"
            f"<style>{STYLE}</style></head><body><h1>Searches compared: " + ", ".join(html.escape(label) for label in labels) + "</h1>"
            + table.to_html(index=False, float_format=lambda v: f"{v:.6g}")
            + "<h2>Best so far</h2><figure><img src=\"anytime.png\" alt=\"best so far\" style=\"max-width:100%\">"
              "</figure></body></html>\n")
    write_text_atomic(output_dir / "index.html", page)
    return table
