"""Logs one line per dataset and split with every metric of the epoch."""

from __future__ import annotations

from trw_ray.train.callbacks.base import Callback, TrainerContext


def format_epoch_summary(epoch_history: dict) -> list[str]:
    """``['mnist/train softmax: loss=0.1234 accuracy=0.9610', ...]`` for one history entry."""
    lines = []
    for dataset_name, splits in epoch_history.items():
        for split_name, outputs in splits.items():
            parts = []
            for output_name, metrics in outputs.items():
                values = " ".join(f"{metric}={value:.4g}" for metric, value in metrics.items())
                parts.append(f"{output_name}: {values}")
            lines.append(f"{dataset_name}/{split_name} " + " | ".join(parts))
    return lines


class CallbackEpochSummary(Callback):
    """Writes the metrics of the last epoch to ``trainer.txt`` (and the console when it is enabled)."""

    def __call__(self, context: TrainerContext) -> None:
        if not context.history:
            return
        for line in format_epoch_summary(context.history[-1]):
            context.logger.info("epoch %d/%d %s", context.epoch, context.num_epochs, line)
