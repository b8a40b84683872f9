"""Reports: every page and figure trw_ray builds, named after what it reports.

- :func:`run_report`: a run folder's ``index.html`` (the Trainer builds it after each run);
- :func:`search_report`: a search's importance, metric against each parameter, curves and trials
  (``<experiment>/report/index.html``; ``trw.hparams.analyse`` is its seed name);
- :func:`error_report`: what the trials agree they get wrong: label-issue candidates, confusions, training dynamics;
- :func:`architecture_report`: an architecture search's progress, ranking, top cells and Pareto front;
- :func:`comparison_report` (several searches) and :func:`run_comparison_report` (several runs).

Each page is rendered by :mod:`trw_ray.reports.pages` from its Jinja2 template (one shared layout, autoescaped);
figures come from :mod:`~trw_ray.reports.plots` and :mod:`~trw_ray.reports.architecture_plots`, which take plain
data (the Trainer's callbacks call them in a worker). Sub-modules load on first use: matplotlib and scikit-learn take
seconds to import, and a Ray worker that only trains should not pay for them.
"""

from trw_ray.lazy_import import lazy_exports

_EXPORTS = {
    "ClassificationSummary": "trw_ray.reports.classification:ClassificationSummary",
    "summarize_classification": "trw_ray.reports.classification:summarize_classification",
    "run_report": "trw_ray.reports.run:run_report",
    "search_report": "trw_ray.reports.search:search_report",
    "error_report": "trw_ray.reports.errors:error_report",
    "architecture_report": "trw_ray.reports.architecture:architecture_report",
    "comparison_report": "trw_ray.reports.comparison:comparison_report",
    "run_comparison_report": "trw_ray.reports.comparison:run_comparison_report",
    # the earlier names
    "build_run_index": "trw_ray.reports.run:run_report",
    "compare_runs": "trw_ray.reports.comparison:run_comparison_report",
    "compare_experiments": "trw_ray.reports.comparison:comparison_report",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

__all__ = ["ClassificationSummary", "architecture_report", "build_run_index", "compare_experiments", "compare_runs",
           "comparison_report", "error_report", "run_comparison_report", "run_report", "search_report",
           "summarize_classification"]
