"""Comparison reports: several searches on one best-so-far plot (:func:`comparison_report`), several runs' histories
overlaid with their final metrics (:func:`run_comparison_report`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from trw_ray import layout
from trw_ray.reports import plots
from trw_ray.reports.pages import table as table_data
from trw_ray.reports.pages import write_page


def _load_result(run_dir: Path) -> dict:
    path = run_dir / layout.RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"run_dirs: {str(run_dir)!r} has no last.model.result (is it a trw_ray run folder?)")
    return json.loads(path.read_text())


def run_comparison_report(run_dirs: Sequence[str | os.PathLike], output_dir: str | os.PathLike) -> pd.DataFrame:
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
    write_page(output_dir / "index.html", "comparison.html", title="trw_ray comparison", heading="Comparison of",
               labels=labels, sections=[
                   {"title": "Final metrics", "table": table_data(wide, index=True)} if len(table) else {"title": "Final metrics"},
                   {"title": "Histories", "figures": [{"src": name, "caption": name} for name in figures]}])
    return table


def comparison_report(paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike, by: str = "epochs",
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
    write_page(output_dir / "index.html", "comparison.html", title="trw_ray search comparison",
               heading="Searches compared:", labels=labels, sections=[
                   {"title": "", "table": table_data(table)},
                   {"title": "Best so far", "figures": [{"src": "anytime.png", "caption": "best so far"}], "wide": True}])
    return table


#: the names these reports had before the reports were named after what they report
compare_runs = run_comparison_report
compare_experiments = comparison_report
