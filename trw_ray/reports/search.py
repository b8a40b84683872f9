"""``index.html`` of a search report: settings, best trial, importance, figures and the trial tables."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from trw_ray.io import write_text_atomic
from trw_ray.reports.html import STYLE


def _table(frame: pd.DataFrame, max_rows: int = 50) -> str:
    if frame is None or frame.empty:
        return "<p>none</p>"
    return frame.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.6g}", escape=True, border=0,
                                        na_rep="")


def build_search_index(output_dir: str | os.PathLike, settings: dict[str, Any], trials: pd.DataFrame,
                       importance: pd.DataFrame | None, figures: list[tuple[str, str]], best: dict | None,
                       experiment_dir: str, notes: list[str] | None = None,
                       links: list[tuple[str, str]] | None = None) -> Path:
    """Writes ``output_dir/index.html``; ``figures`` are ``(file name in output_dir, caption)``."""
    output_dir = Path(output_dir)
    metric = settings.get("metric", "loss")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>search report</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Search report: {html.escape(str(settings.get('name', Path(experiment_dir).name)))}</h1>",
             f"<p>experiment: <code>{html.escape(str(experiment_dir))}</code></p>"]
    shown = {key: settings.get(key) for key in ("algorithm", "metric", "mode", "num_samples", "max_epochs", "seed",
                                                "resources_per_trial", "evaluate_fn", "space_file")}
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
                     "explained by each parameter's main effect (fANOVA on a tree ensemble); std over trees.</p>")
        parts.append(_table(importance))
    for name, caption in figures:
        parts.append(f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    column = f"last/{metric}"
    ranked = trials.sort_values(column, ascending=settings.get("mode", "min") == "min") if column in trials else trials
    parts.append("<h2>Trials</h2>" + _table(ranked.drop(columns=[c for c in ("trial_dir",) if c in ranked]), 200))
    errors = trials[trials["status"] == "ERROR"] if "status" in trials else trials.iloc[0:0]
    if len(errors):
        parts.append("<h2>Failed trials</h2>" + _table(errors[["trial_id", "error"]]))
    parts.append("<p>Files: <a href='trials.csv'>trials.csv</a>, <a href='history.csv'>history.csv</a>, "
                 "<a href='importance.csv'>importance.csv</a></p></body></html>")
    return write_text_atomic(output_dir / "index.html", "\n".join(parts))
