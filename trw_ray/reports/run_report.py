"""``index.html`` of a run folder: every report on one static page (relative links, no script, no server)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from urllib.parse import quote

from trw_ray import layout
from trw_ray.io import write_text_atomic

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
h3 { font-size: 1em; margin-bottom: 0.3em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; }
figure { display: inline-block; margin: 0.4em; vertical-align: top; }
figure img { max-width: 560px; border: 1px solid #ddd; } figcaption { font-size: 0.8em; color: #555; }
.samples img { max-width: 84px; image-rendering: pixelated; }
"""

#: (folder or glob, section title, css class) in the order the page shows them
SECTIONS = [
    (layout.ARCHITECTURE_FOLDER, "Architecture (derived cell, weights per edge over epochs)", ""),
    ("*-cm.png", "Confusion matrices", ""),
    ("*-roc.png", "ROC curves", ""),
    (layout.HISTORY_FOLDER, "History", ""),
    (layout.LEARNING_RATE_FOLDER, "Learning rate", ""),
    (layout.WORST_SAMPLES_FOLDER, "Worst samples by epoch", ""),
    (layout.ERRORS_FOLDER, "Errors", ""),
    (layout.EXPLANATIONS_FOLDER, "Explanations of the worst samples", ""),
    (layout.ATTENTION_FOLDER, "Attention maps", ""),
    (layout.ACTIVATIONS_FOLDER, "Activations", ""),
    (layout.GRADIENTS_FOLDER, "Gradients", ""),
    (layout.RANDOM_SAMPLES_FOLDER, "Random samples", "samples"),
    (layout.AUGMENTATIONS_FOLDER, "Augmentations", ""),
]
TEXT_FILES = [layout.BEST_HISTORY_FILE, layout.MODEL_SUMMARY_FILE, layout.DATA_SUMMARY_FILE]
LINKS = [layout.TRAINER_LOG, layout.MODEL_FILE, layout.RESULT_FILE, layout.ONNX_FILE, layout.TENSORBOARD_FOLDER,
         layout.SAMPLES_FOLDER]


def _link(run_dir: Path, path: Path) -> str:
    return quote(path.relative_to(run_dir).as_posix())


def _figures(run_dir: Path, paths: list[Path], css: str) -> str:
    items = [f'<figure><img src="{_link(run_dir, p)}" alt="{html.escape(p.name)}">'
             f"<figcaption>{html.escape(p.relative_to(run_dir).as_posix())}</figcaption></figure>" for p in paths]
    return f'<div class="{css}">' + "\n".join(items) + "</div>"


def _final_metrics_table(result: dict) -> str:
    rows = []
    for dataset, splits in (result.get("final") or {}).items():
        for split, outputs in splits.items():
            for output, metrics in outputs.items():
                for metric, value in metrics.items():
                    shown = f"{value:.6g}" if isinstance(value, (int, float)) else html.escape(str(value))
                    rows.append(f"<tr><td>{html.escape(dataset)}</td><td>{html.escape(split)}</td>"
                                f"<td>{html.escape(output)}</td><td>{html.escape(metric)}</td><td>{shown}</td></tr>")
    if not rows:
        return "<p>No metrics.</p>"
    return ("<table><tr><th>dataset</th><th>split</th><th>output</th><th>metric</th><th>last value</th></tr>"
            + "".join(rows) + "</table>")


def build_run_index(run_dir: str | os.PathLike) -> Path:
    """Writes ``<run_dir>/index.html`` from what the folder holds; returns its path."""
    run_dir = Path(run_dir)
    parts = [f"<h1>Run {html.escape(run_dir.name)}</h1>"]
    result_path = run_dir / layout.RESULT_FILE
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        parts.append(f"<p>status: <b>{html.escape(str(result.get('status')))}</b>, epochs: "
                     f"{result.get('epochs_completed')}/{result.get('num_epochs')}</p>")
        onnx = result.get("onnx") or {}
        if onnx.get("max_abs_difference") is not None:
            parts.append(f"<p>ONNX export: max abs difference onnxruntime vs PyTorch "
                         f"{onnx['max_abs_difference']:.3g}</p>")
        parts.append("<h2>Final metrics</h2>" + _final_metrics_table(result))
    links = [f'<a href="{quote(name)}">{name}</a>' for name in LINKS if (run_dir / name).exists()]
    if links:
        parts.append("<p>Files: " + " | ".join(links) + "</p>")
    for name in TEXT_FILES:
        path = run_dir / name
        if path.is_file():
            parts.append(f"<h2>{html.escape(name)}</h2><pre>{html.escape(path.read_text())}</pre>")
    for pattern, title, css in SECTIONS:
        if "*" in pattern:
            images = sorted(run_dir.glob(pattern))
            texts = []
        else:
            folder = run_dir / pattern
            images = sorted(folder.rglob("*.png")) if folder.is_dir() else []
            texts = sorted(folder.rglob("*.txt")) if folder.is_dir() else []
        if not images and not texts:
            continue
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if pattern == "*-cm.png":
            for image in images:
                report = image.with_name(image.name.replace("-cm.png", "-report.txt"))
                parts.append(_figures(run_dir, [image], css))
                if report.is_file():
                    parts.append(f"<h3>{html.escape(report.name)}</h3><pre>{html.escape(report.read_text())}</pre>")
            continue
        if images:
            parts.append(_figures(run_dir, images, css))
        for text in texts[:40]:
            parts.append(f"<h3>{html.escape(text.relative_to(run_dir).as_posix())}</h3>"
                         f"<pre>{html.escape(text.read_text()[:4000])}</pre>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>trw_ray run {html.escape(run_dir.name)}</title><style>{STYLE}</style></head>"
            "<body>\n" + "\n".join(parts) + "\n</body></html>\n")
    return write_text_atomic(run_dir / layout.RUN_INDEX, page)
