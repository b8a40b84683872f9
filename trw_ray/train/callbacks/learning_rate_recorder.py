"""``lr_recorder/``: the learning rate of every dataset's optimizer per epoch (PNG and CSV)."""

from __future__ import annotations

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext

plots = lazy_module("trw_ray.reports.plots")


class CallbackLearningRateRecorder(Callback):
    def __call__(self, context: TrainerContext) -> None:
        if not context.learning_rates:
            return
        folder = context.run_dir / layout.LEARNING_RATE_FOLDER
        datasets = sorted({name for entry in context.learning_rates for name in entry})
        rows = ["epoch," + ",".join(datasets)]
        for epoch, entry in enumerate(context.learning_rates, start=1):
            rows.append(f"{epoch}," + ",".join(repr(entry.get(name, "")) for name in datasets))
        write_text_atomic(folder / "learning_rate.csv", "\n".join(rows) + "\n")
        series = {name: (list(range(1, len(context.learning_rates) + 1)),
                         [entry.get(name) for entry in context.learning_rates]) for name in datasets}
        plots.plot_curves(series, folder / "learning_rate.png", "learning rate per epoch", ylabel="learning rate")
