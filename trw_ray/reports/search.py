"""``index.html`` of a search report: settings, best trial, importance, figures and the trial tables."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.reports.html import STYLE

#: the search page at 1400 px: wide figures use the page's width, long cells wrap instead of widening the table
SEARCH_STYLE = STYLE + """
figure.wide { display: block; } figure.wide img { max-width: 100%; }
td { max-width: 26em; overflow-wrap: anywhere; } th { font-size: 0.85em; }
"""
#: figures drawn wider than the page's default figure box
WIDE_FIGURES = ("metric_vs_hparams.png", "anytime.png")
SHOWN_SETTINGS = ("search", "algorithm", "scheduler", "metric", "mode", "num_samples", "max_epochs", "max_total_epochs",
                  "seed", "resources_per_trial", "algorithm_options", "scheduler_options", "evaluate_fn", "space_file")


def _table(frame: pd.DataFrame, max_rows: int = 50, html_columns: tuple[str, ...] = ()) -> str:
    """The first ``max_rows`` rows; cells are escaped except in ``html_columns`` (links the page builds)."""
    if frame is None or frame.empty:
        return "<p>none</p>"
    frame = frame.head(max_rows).copy()
    for column in frame.columns:
        if column not in html_columns and frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: html.escape(str(v)) if isinstance(v, str) else v)
    return frame.to_html(index=False, float_format=lambda v: f"{v:.6g}", escape=False, border=0, na_rep="")


def _run_link(run_dir: Any, output_dir: Path) -> str:
    """A short link to a trial's run report (its index.html, else its folder), relative to the report."""
    if not isinstance(run_dir, str) or not run_dir:
        return ""
    target = Path(run_dir) / layout.RUN_INDEX if (Path(run_dir) / layout.RUN_INDEX).is_file() else Path(run_dir)
    try:
        href = os.path.relpath(target, output_dir)
    except ValueError:  # another drive
        href = target.as_uri()
    return f"<a href='{html.escape(href)}'>run</a>"


def build_search_index(output_dir: str | os.PathLike, settings: dict[str, Any], trials: pd.DataFrame,
                       importance: pd.DataFrame | None, figures: list[tuple[str, str]], best: dict | None,
                       experiment_dir: str, notes: list[str] | None = None,
                       links: list[tuple[str, str]] | None = None,
                       retries: pd.DataFrame | None = None) -> Path:
    """Writes ``output_dir/index.html``; ``figures`` are ``(file name in output_dir, caption)``; ``retries``: one
    row per retry of a trial (``trial_id``, ``failure``, ``at``, ``error``, ``resumed_from_epoch``)."""
    output_dir = Path(output_dir)
    metric = settings.get("metric", "loss")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>search report</title>"
             f"<style>{SEARCH_STYLE}</style></head><body>",
             f"<h1>Search report: {html.escape(str(settings.get('name', Path(experiment_dir).name)))}</h1>",
             f"<p>experiment: <code>{html.escape(str(experiment_dir))}</code></p>"]
    shown = {key: settings.get(key) for key in SHOWN_SETTINGS if settings.get(key) not in (None, {}, "")}
    parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(shown, indent=1, default=str)) + "</pre>")
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    parts.append(f"<p>{len(trials)} trial(s): " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + "</p>")
    if best is not None:
        parts.append(f"<h2>Best trial</h2><p><b>{html.escape(best['trial_id'])}</b>: {html.escape(metric)} = "
                     f"{best['value']:.6g}</p><pre>{html.escape(json.dumps(best.get('config'), indent=1))}</pre>")
        if best.get("run_dir"):
            parts.append(f"<p>run folder: <code>{html.escape(str(best['run_dir']))}</code></p>")
    for note in notes or []:
        parts.append(f"<p><i>{html.escape(note)}</i></p>")
    for href, text in links or []:
        parts.append(f"<p><a href='{html.escape(href)}'>{html.escape(text)}</a></p>")
    if importance is not None:
        parts.append("<h2>Hyper-parameter importance</h2><p>Fraction of the metric's variance over the space "
                     "explained by each parameter's main effect (fANOVA on a tree ensemble, each tree fitted to a "
                     "bootstrap sample of the trials): mean, std, 10th-90th percentile (low, high) over the trees, "
                     "and p_top, the fraction of trees in which the parameter matters most.</p>")
        parts.append(_table(importance))
    for name, caption in figures:
        wide = " class='wide'" if name in WIDE_FIGURES else ""
        parts.append(f"<figure{wide}><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    column = f"last/{metric}"
    ranked = trials.sort_values(column, ascending=settings.get("mode", "min") == "min") if column in trials else trials
    ranked = ranked.drop(columns=[c for c in ("trial_dir", "run_dir") if c in ranked]).assign(
        run=[_run_link(run_dir, output_dir) for run_dir in ranked.get("run_dir", [None] * len(ranked))])
    parts.append("<h2>Trials</h2><p>Best first; <i>run</i> opens the trial's run report (paths in trials.csv).</p>"
                 + _table(ranked, 200, html_columns=("run",)))
    errors = trials[trials["status"] == "ERROR"] if "status" in trials else trials.iloc[0:0]
    if len(errors):
        parts.append("<h2>Failed trials</h2>" + _table(errors[["trial_id", "error"]]))
    if retries is not None and len(retries):
        parts.append("<h2>Retried trials</h2><p>Each retry of a trial (its own exception, its actor or node lost), "
                     "with the epoch it resumed from (0: from scratch).</p>" + _table(retries, 200))
    parts.append("<p>Files: <a href='trials.csv'>trials.csv</a>, <a href='history.csv'>history.csv</a>, "
                 "<a href='importance.csv'>importance.csv</a></p></body></html>")
    return write_text_atomic(output_dir / "index.html", "\n".join(parts))
