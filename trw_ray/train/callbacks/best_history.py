"""``best_history.txt``: for every metric, its best value over the epochs and when it was reached."""

from __future__ import annotations

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.train.callbacks.base import Callback, TrainerContext


def lower_is_better(output_type: type | None, metric: str) -> bool:
    if output_type is not None and hasattr(output_type, "metrics_lower_is_better"):
        return metric in output_type.metrics_lower_is_better
    return metric in ("loss", "error", "mse", "mae")


def best_of_history(history: list[dict], output_types: dict[str, type]) -> dict[tuple[str, str, str, str], dict]:
    """``{(dataset, split, output, metric): {'best', 'epoch', 'last'}}``; epochs are counted from 1."""
    best: dict[tuple[str, str, str, str], dict] = {}
    for epoch, entry in enumerate(history, start=1):
        for dataset_name, splits in entry.items():
            for split_name, outputs in splits.items():
                for output_name, metrics in outputs.items():
                    for metric, value in metrics.items():
                        key = (dataset_name, split_name, output_name, metric)
                        lower = lower_is_better(output_types.get(output_name), metric)
                        record = best.setdefault(key, {"best": value, "epoch": epoch, "last": value})
                        record["last"] = value
                        if (value < record["best"]) if lower else (value > record["best"]):
                            record.update(best=value, epoch=epoch)
    return best


class CallbackBestHistory(Callback):
    """Writes ``best_history.txt`` in the run folder."""

    def __call__(self, context: TrainerContext) -> None:
        best = best_of_history(context.history, context.output_types)
        lines = [f"{'/'.join(key)}: best={record['best']:.6g} at epoch {record['epoch']} (last={record['last']:.6g})"
                 for key, record in sorted(best.items())]
        write_text_atomic(context.run_dir / layout.BEST_HISTORY_FILE, "\n".join(lines) + "\n")
