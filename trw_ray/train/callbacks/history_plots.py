"""``history/``: one PNG per dataset, output and metric with the curve of every split."""

from __future__ import annotations

from trw_ray import layout
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext

plots = lazy_module("trw_ray.reports.plots")


def history_series(history: list[dict]) -> dict[tuple[str, str, str], dict[str, tuple[list, list]]]:
    """``{(dataset, output, metric): {split: (epochs, values)}}``; epochs count from 1."""
    series: dict[tuple[str, str, str], dict[str, tuple[list, list]]] = {}
    for epoch, entry in enumerate(history, start=1):
        for dataset, splits in entry.items():
            for split, outputs in splits.items():
                for output, metrics in outputs.items():
                    for metric, value in metrics.items():
                        xs, ys = series.setdefault((dataset, output, metric), {}).setdefault(split, ([], []))
                        xs.append(epoch)
                        ys.append(value)
    return series


class CallbackHistoryPlots(Callback):
    def __call__(self, context: TrainerContext) -> None:
        series = history_series(context.history)
        for (dataset, output, metric), curves in series.items():
            if output == "overall_loss" and self._single_loss_output(series, dataset, curves):
                continue  # the same curve as the only output's loss
            plots.plot_curves(curves, context.run_dir / layout.HISTORY_FOLDER / f"{dataset}-{output}-{metric}.png",
                              title=f"{dataset} {output}: {metric}", ylabel=metric)

    @staticmethod
    def _single_loss_output(series, dataset, overall) -> bool:
        losses = [curves for (d, o, m), curves in series.items() if d == dataset and m == "loss" and o != "overall_loss"]
        return len(losses) == 1 and losses[0] == overall
