"""The search report (seed section 1.3.3): importance, metric against each hyper-parameter, learning curves, the
trials; ``<experiment>/report/index.html``.

Example::

    trw.reports.search_report('~/trw_ray_logs/searches/evaluate_hparams_random_...', 'hparams_report')

Everything goes to ``output_dir`` (default ``<experiment>/report``); the experiment's own files are only read.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trw_ray import layout
from trw_ray.hparams.parameter_importance import importance as compute_importance
from trw_ray.hparams.parameter_importance import importance_caveat
from trw_ray.hparams.space import ContinuousPower, space_from_settings
from trw_ray.reports.pages import figures as figure_items
from trw_ray.reports.pages import table, write_page

MIN_TRIALS_FOR_IMPORTANCE = 4
#: figures drawn wider than the page's default figure box
WIDE_FIGURES = ("metric_vs_hparams.png", "anytime.png")
SHOWN_SETTINGS = ("search", "algorithm", "scheduler", "metric", "mode", "num_samples", "max_epochs", "max_total_epochs",
                  "seed", "resources_per_trial", "algorithm_options", "scheduler_options", "evaluate_fn", "space_file")


def search_report(path_or_results, output_dir: str | os.PathLike | None = None, metric: str | None = None,
            seed: int = 0, errors_report: bool = True, datasets=None) -> dict[str, Any]:
    """Builds the search report.

    Args:
        path_or_results: an experiment folder or :class:`trw_ray.results.ExperimentResults`.
        output_dir: where the report goes (default ``<experiment>/report``).
        metric: default: the search's metric; each trial contributes its last reported value.
        seed: seed of the importance forest (same seed, same importance).
        errors_report: also build the error report (:func:`trw_ray.reports.errors`) in ``output_dir/errors``
            when the trials left per-sample tables; ``datasets`` is passed to it (for the candidates' images).

    Returns:
        ``{'index': path of index.html, 'importance': DataFrame or None, 'trials': DataFrame, 'output_dir': path,
        'errors': the error report's result or None}``.
    """
    from trw_ray.reports.plots import (
        plot_anytime,
        plot_bars,
        plot_learning_curves,
        plot_metric_against_parameters,
    )
    from trw_ray.results import load

    results = load(path_or_results)
    metric = metric or results.metric
    output_dir = Path(output_dir) if output_dir is not None else results.path / layout.SEARCH_REPORT_FOLDER
    output_dir.mkdir(parents=True, exist_ok=True)
    trials = results.trials()
    history = results.history()
    trials.to_csv(output_dir / "trials.csv", index=False)
    history.to_csv(output_dir / "history.csv", index=False)
    space = space_from_settings(results.settings)
    column = f"last/{metric}"
    notes: list[str] = []
    figures: list[tuple[str, str]] = []

    scored = trials[pd.to_numeric(trials.get(column), errors="coerce").notna()] if column in trials else trials.iloc[0:0]
    importance = None
    if len(scored) >= MIN_TRIALS_FOR_IMPORTANCE:
        importance = compute_importance(scored, metric=metric, space=space, seed=seed)
        importance.to_csv(output_dir / "importance.csv", index=False)
        plot_bars(list(importance["parameter"]), list(importance["importance"]), output_dir / "importance.png",
                  title=f"hyper-parameter importance for {metric} ({len(scored)} trials)",
                  xlabel="fraction of variance (main effect)",
                  errors=[list((importance["importance"] - importance["low"]).clip(lower=0)),
                          list((importance["high"] - importance["importance"]).clip(lower=0))])
        figures.append(("importance.png", "importance of each hyper-parameter: mean over the trees, bars from their "
                                          "10th to 90th percentile"))
        notes.append(importance_caveat(importance))
    else:
        notes.append(f"importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} trials with a {metric}; "
                     f"{len(scored)} reported one")

    best = results.best(metric) if len(scored) else None
    if len(scored):
        panels = []
        values = pd.to_numeric(scored[column]).to_numpy(dtype=float)
        best_position = int(np.argmin(values) if results.mode == "min" else np.argmax(values))
        for name in [c[len("config/"):] for c in scored.columns if c.startswith("config/")]:
            spec = space.get(name)
            column_values = scored[f"config/{name}"].tolist()
            categorical = spec.choices if spec is not None else None
            if spec is None and not pd.api.types.is_numeric_dtype(scored[f"config/{name}"]):
                categorical = sorted({str(v) for v in column_values})
                column_values = [str(v) for v in column_values]
            panels.append({"name": name, "x": column_values, "y": values, "categories": categorical,
                           "log": isinstance(spec, ContinuousPower), "best": best_position})
        if panels:
            plot_metric_against_parameters(panels, output_dir / "metric_vs_hparams.png", metric,
                                           title=f"{metric} of each trial against each hyper-parameter")
            figures.append(("metric_vs_hparams.png", f"{metric} against each hyper-parameter (red star: best)"))
    if metric in history and len(history):
        curves = {trial_id: (rows["training_iteration"].tolist(), rows[metric].tolist())
                  for trial_id, rows in history.groupby("trial_id")}
        positive = bool((pd.to_numeric(history[metric], errors="coerce").dropna() > 0).all())
        plot_learning_curves(curves, output_dir / "learning_curves.png", title=f"{metric} of every trial",
                             ylabel=metric, highlight=best["trial_id"] if best else None, log_y=positive)
        figures.append(("learning_curves.png", "learning curves of every trial (red: best)"))
    if metric in history and len(history):
        series = {}
        for completed_only, label in ((False, "any trial, any epoch (validation while training)"),
                                      (True, "trials trained to the end (the value they returned)")):
            curve = results.anytime(metric, by="epochs", completed_only=completed_only)
            if curve["best"].notna().any():
                series[label] = (curve["epochs"].tolist(), curve["best"].tolist())
        if series:
            plot_anytime(series, output_dir / "anytime.png", title=f"best {metric} found against training consumed",
                         xlabel="epochs trained by all trials", ylabel=f"best {metric} so far")
            figures.append(("anytime.png", f"best {metric} so far against the epochs all trials trained "
                                           "(results.anytime)"))
    errors = None
    if errors_report:
        from trw_ray.reports.errors import error_report

        try:
            errors = error_report(results, output_dir / layout.SEARCH_ERRORS_FOLDER, datasets=datasets)
        except Exception as error:  # noqa: BLE001 - the search report stands without the error report
            notes.append(f"the error report failed: {type(error).__name__}: {error}")
    links = [(f"{layout.SEARCH_ERRORS_FOLDER}/index.html", "error report: label-issue candidates, confusions, training dynamics")] \
        if errors is not None else []
    created = results.settings.get("created") or 0.0
    retries = pd.DataFrame([{"trial_id": record["trial_id"], "failure": retry.get("failure"),
                             "at (s)": round(retry["at"] - created, 1) if retry.get("at") else None,
                             "error": retry.get("error"), "resumed_from_epoch": retry.get("resumed_from_epoch")}
                            for record in results.records() for retry in record.get("retries") or []])
    index = _write_page(output_dir, results.settings, trials, importance, figures, best, str(results.path),
                        notes, links, retries)
    return {"index": index, "importance": importance, "trials": trials, "output_dir": output_dir, "errors": errors}


def analyse_hyperparameters(hprams_path_pattern: str, output_path: str | os.PathLike, **kwargs) -> dict[str, Any]:
    """The seed's name (and argument spelling): ``hprams_path_pattern`` is an experiment folder, or a pattern whose
    folder is one (TRW's ``<root>/hparams-*.pkl``)."""
    candidate = Path(hprams_path_pattern)
    if glob.has_magic(str(candidate)):
        candidate = candidate.parent
    return search_report(candidate, output_path, **kwargs)



def _run_link(run_dir: Any, output_dir: Path) -> str:
    """A link to a trial's run report (its index.html, else its folder), relative to the report."""
    if not isinstance(run_dir, str) or not run_dir:
        return ""
    target = Path(run_dir) / layout.RUN_INDEX if (Path(run_dir) / layout.RUN_INDEX).is_file() else Path(run_dir)
    try:
        return os.path.relpath(target, output_dir)
    except ValueError:  # another drive
        return target.as_uri()


def _write_page(output_dir: Path, settings: dict[str, Any], trials: pd.DataFrame, importance: pd.DataFrame | None,
                figures: list[tuple[str, str]], best: dict | None, experiment_dir: str, notes: list[str],
                links: list[tuple[str, str]], retries: pd.DataFrame) -> Path:
    """``output_dir/index.html``: ``figures`` are ``(file name in output_dir, caption)``; ``retries``: one row per retry
    of a trial (``trial_id``, ``failure``, ``at``, ``error``, ``resumed_from_epoch``)."""
    metric = settings.get("metric", "loss")
    shown = {key: settings.get(key) for key in SHOWN_SETTINGS if settings.get(key) not in (None, {}, "")}
    column = f"last/{metric}"
    ranked = trials.sort_values(column, ascending=settings.get("mode", "min") == "min") if column in trials else trials
    ranked = ranked.drop(columns=[c for c in ("trial_dir", "run_dir") if c in ranked]).assign(
        run=[_run_link(run_dir, output_dir) for run_dir in ranked.get("run_dir", [None] * len(ranked))])
    failed = trials[trials["status"] == "ERROR"][["trial_id", "error"]] if "status" in trials else None
    if best is not None:
        best = {**best, "config": json.dumps(best.get("config"), indent=1)}
    items = [{**item, "wide": item["src"] in WIDE_FIGURES} for item in figure_items(figures)]
    return write_page(output_dir / "index.html", "search.html", name=settings.get("name", Path(experiment_dir).name),
                      experiment_dir=experiment_dir, settings=json.dumps(shown, indent=1, default=str),
                      trial_count=len(trials), metric=metric, best=best, notes=notes, links=links,
                      status_counts=list(trials["status"].value_counts().items()) if len(trials) else [],
                      importance=table(importance) if importance is not None else None, figures=items,
                      trials=table(ranked, 200), failed=table(failed, 50), retries=table(retries, 200))


#: the names of the seed (``trw.hparams.analyse``) and of the first releases
analyse = search_report
