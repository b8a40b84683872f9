"""Classification statistics with scikit-learn: confusion matrix, per-class precision/recall/F1, most common
confusions, ROC/AUC for binary outputs; written as PNG and text."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics

from trw_ray.reports import plots


@dataclass
class ClassificationSummary:
    accuracy: float
    confusion_matrix: np.ndarray
    report: dict
    confusions: list[tuple[str, str, int]]
    auc: float | None
    text: str


def class_labels(num_classes: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None and len(class_names) >= num_classes:
        return [str(name) for name in class_names[:num_classes]]
    return [str(i) for i in range(num_classes)]


def summarize_classification(truth: np.ndarray, prediction: np.ndarray, probabilities: np.ndarray | None = None,
                             class_names: Sequence[str] | None = None, most_common: int = 10) -> ClassificationSummary:
    """Statistics of one classification output on one split (sklearn computes every number)."""
    num_classes = int(max(np.max(truth), np.max(prediction)) + 1)
    if probabilities is not None:
        num_classes = max(num_classes, probabilities.shape[1])
    labels = list(range(num_classes))
    names = class_labels(num_classes, class_names)
    matrix = sk_metrics.confusion_matrix(truth, prediction, labels=labels)
    report = sk_metrics.classification_report(truth, prediction, labels=labels, target_names=names,
                                              output_dict=True, zero_division=0)
    text_report = sk_metrics.classification_report(truth, prediction, labels=labels, target_names=names, digits=4,
                                                   zero_division=0)
    off_diagonal = [(names[i], names[j], int(matrix[i, j])) for i in labels for j in labels if i != j and matrix[i, j]]
    confusions = sorted(off_diagonal, key=lambda item: -item[2])[:most_common]
    accuracy = float(sk_metrics.accuracy_score(truth, prediction))
    auc = None
    if num_classes == 2 and probabilities is not None and len(np.unique(truth)) == 2:
        auc = float(sk_metrics.roc_auc_score(truth, probabilities[:, 1]))
    lines = [f"samples: {len(truth)}", f"accuracy: {accuracy:.6f}"]
    if auc is not None:
        lines.append(f"ROC AUC: {auc:.6f}")
    lines += ["", text_report, "most common confusions (truth -> predicted: count):"]
    lines += [f"  {a} -> {b}: {count}" for a, b, count in confusions] or ["  none"]
    return ClassificationSummary(accuracy, matrix, report, confusions, auc, "\n".join(lines) + "\n")


def write_classification_report(directory: str | os.PathLike, prefix: str, truth: np.ndarray, prediction: np.ndarray,
                                probabilities: np.ndarray | None, class_names: Sequence[str] | None,
                                title: str) -> ClassificationSummary:
    """Writes ``<prefix>-cm.png`` (and its counts as ``<prefix>-cm.csv``), ``<prefix>-report.txt`` and, for binary
    outputs, ``<prefix>-roc.png``."""
    directory = Path(directory)
    summary = summarize_classification(truth, prediction, probabilities, class_names)
    names = class_labels(summary.confusion_matrix.shape[0], class_names)
    pd.DataFrame(summary.confusion_matrix, index=pd.Index(names, name="truth \\ predicted"), columns=names).to_csv(
        directory / f"{prefix}-cm.csv")
    plots.plot_confusion_matrix(summary.confusion_matrix, names, directory / f"{prefix}-cm.png",
                                f"{title} (accuracy {summary.accuracy:.4f})")
    (directory / f"{prefix}-report.txt").write_text(summary.text)
    if summary.auc is not None:
        fpr, tpr, _ = sk_metrics.roc_curve(truth, probabilities[:, 1])
        plots.plot_roc(fpr, tpr, summary.auc, directory / f"{prefix}-roc.png", title)
    return summary
