"""``index.html``: every report of the run folder on one static page (built last)."""

from __future__ import annotations

from trw_ray.reports.html import build_run_index
from trw_ray.train.callbacks.base import Callback, TrainerContext


class CallbackReportIndex(Callback):
    def __call__(self, context: TrainerContext) -> None:
        build_run_index(context.run_dir)
