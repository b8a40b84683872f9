"""``<output>-<dataset>-<split>-cm.png`` and ``-report.txt`` (and ``-roc.png`` for binary outputs) for every
classification output of every split, from the last evaluation."""

from __future__ import annotations

from trw_ray.lazy_import import lazy_module
from trw_ray.outputs import OutputClassification
from trw_ray.train.callbacks.base import Callback, TrainerContext

classification = lazy_module("trw_ray.reports.classification")


def classification_outputs(context: TrainerContext):
    """``(dataset, split, output_name, collected)`` of every classification output."""
    for dataset, splits in context.outputs.items():
        for split, outputs in splits.items():
            for output_name, collected in outputs.items():
                output_type = context.output_types.get(output_name)
                if output_type is not None and issubclass(output_type, OutputClassification) and "output" in collected:
                    yield dataset, split, output_name, collected


class CallbackClassificationReport(Callback):
    def __call__(self, context: TrainerContext) -> None:
        summaries = {}
        for dataset, split, output_name, collected in classification_outputs(context):
            summaries[(dataset, split, output_name)] = classification.write_classification_report(
                context.run_dir, f"{output_name}-{dataset}-{split}", collected["output_truth"], collected["output"],
                collected.get("output_raw"), context.class_names(dataset, split, output_name),
                title=f"{output_name} {dataset}/{split}")
        context.extra["classification_reports"] = summaries
