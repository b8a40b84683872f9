"""Reports: figures, text tables and static HTML built from arrays, tables and run folders.

This package never imports ``trw_ray.train``, ``hparams`` or ``nas``: the Trainer's callbacks call it with
plain data, and the same functions serve the driver's reports of a search. Its sub-modules load on first use
(matplotlib and scikit-learn take seconds to import; a Ray worker that only trains should not pay for them).
"""

from trw_ray.lazy_import import lazy_exports, lazy_module

_EXPORTS = {"ClassificationSummary": "trw_ray.reports.classification:ClassificationSummary",
            "summarize_classification": "trw_ray.reports.classification:summarize_classification",
            "compare_runs": "trw_ray.reports.compare:compare_runs", "build_run_index": "trw_ray.reports.html:build_run_index"}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

__all__ = ["ClassificationSummary", "build_run_index", "compare_runs", "lazy_module", "summarize_classification"]
