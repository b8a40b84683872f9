"""The run report: ``index.html`` of a run folder, every report the Trainer wrote on one static page."""

from __future__ import annotations

import json
import os
from pathlib import Path

from trw_ray import layout
from trw_ray.reports.pages import table, write_page

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


def _figure(run_dir: Path, path: Path) -> dict[str, str]:
    return {"src": path.relative_to(run_dir).as_posix(), "caption": path.relative_to(run_dir).as_posix()}


def _text(run_dir: Path, path: Path, limit: int | None = None) -> dict[str, str]:
    return {"heading": path.relative_to(run_dir).as_posix(), "text": path.read_text()[:limit]}


def _final_metrics(result: dict) -> list[dict]:
    return [{"dataset": dataset, "split": split, "output": output, "metric": metric, "last value": value}
            for dataset, splits in (result.get("final") or {}).items() for split, outputs in splits.items()
            for output, metrics in outputs.items() for metric, value in metrics.items()]


def _section(run_dir: Path, pattern: str) -> list[dict]:
    """The parts of one section: figures, then text files (a confusion matrix with its classification report)."""
    if pattern == "*-cm.png":
        parts = []
        for image in sorted(run_dir.glob(pattern)):
            parts.append({"figures": [_figure(run_dir, image)]})
            report = image.with_name(image.name.replace("-cm.png", "-report.txt"))
            if report.is_file():
                parts.append({"heading": report.name, "text": report.read_text()})
        return parts
    if "*" in pattern:
        images, texts = sorted(run_dir.glob(pattern)), []
    else:
        folder = run_dir / pattern
        images = sorted(folder.rglob("*.png")) if folder.is_dir() else []
        texts = sorted(folder.rglob("*.txt")) if folder.is_dir() else []
    parts = [{"figures": [_figure(run_dir, image) for image in images]}] if images else []
    return parts + [_text(run_dir, text, 4000) for text in texts[:40]]


def run_report(run_dir: str | os.PathLike) -> Path:
    """Writes ``<run_dir>/index.html`` from what the folder holds; returns its path."""
    run_dir = Path(run_dir)
    result_path = run_dir / layout.RESULT_FILE
    result = json.loads(result_path.read_text()) if result_path.is_file() else None
    sections = []
    for pattern, title, css in SECTIONS:
        parts = _section(run_dir, pattern)
        if parts:
            sections.append({"title": title, "css": css, "parts": parts})
    return write_page(run_dir / layout.RUN_INDEX, "run.html", name=run_dir.name, result=result,
                      onnx_difference=((result or {}).get("onnx") or {}).get("max_abs_difference"),
                      metrics=table(_final_metrics(result or {})),
                      links=[name for name in LINKS if (run_dir / name).exists()],
                      texts=[(name, (run_dir / name).read_text()) for name in TEXT_FILES if (run_dir / name).is_file()],
                      sections=sections)


#: the name this page had before the reports were named after what they report
build_run_index = run_report
