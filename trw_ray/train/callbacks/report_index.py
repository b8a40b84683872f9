"""``index.html``: every report of the run folder on one static page (built last)."""

from __future__ import annotations

from trw_ray.reports import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext

html = lazy_module("trw_ray.reports.html")


class CallbackReportIndex(Callback):
    def __call__(self, context: TrainerContext) -> None:
        html.build_run_index(context.run_dir)
