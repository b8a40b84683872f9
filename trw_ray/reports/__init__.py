"""Reports: figures, text tables and static HTML built from arrays, tables and run folders.

This package never imports ``trw_ray.train``, ``hparams`` or ``nas``: the Trainer's callbacks call it with
plain data, and the same functions serve the driver's reports of a search.
"""

from __future__ import annotations

from trw_ray.reports.classification import ClassificationSummary, summarize_classification
from trw_ray.reports.compare import compare_runs
from trw_ray.reports.html import build_run_index

__all__ = ["ClassificationSummary", "build_run_index", "compare_runs", "summarize_classification"]
