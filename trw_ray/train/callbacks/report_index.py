"""``index.html``: every report of the run folder on one static page (built last)."""

from __future__ import annotations

from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext

run_report = lazy_module("trw_ray.reports.run")


class CallbackReportIndex(Callback):
    def __call__(self, context: TrainerContext) -> None:
        run_report.run_report(context.run_dir)
