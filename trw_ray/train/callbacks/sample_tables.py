"""``samples/<dataset>/<split>/<output>/epoch_<E>.parquet``: what the model did with every sample, every epoch.

One table per output of every evaluated split (and of the train split, with each sample as the model saw it
while training), one row per sample:

=========================  ==========================================================================
``sample_uid``, ``epoch``  the sample (its ``sample_uid`` feature, else its position) and the finished epochs
``output``                 the output's name (a model may have several)
``loss``                   the sample's loss
``prediction``, ``truth``  classification: class indices; regression: the values (a list when there are several)
``probability_truth``      classification: the probability given to the true class,
``probability_prediction``   and to the predicted one
``probabilities``          classification with at most ``max_classes`` classes: the whole probability vector
``accuracy``, ``dice``     segmentation: per-sample pixel accuracy and Dice (the maps themselves are not stored)
=========================  ==========================================================================

These tables feed the cross-trial error report of a search (``trw_ray.results.ExperimentResults.samples``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trw_ray import layout
from trw_ray.checks import positive_int
from trw_ray.io import atomic_write
from trw_ray.train.callbacks.base import Callback, TrainerContext

MAX_CLASSES_WITH_PROBABILITIES = 100


def _column(values: np.ndarray, dtype) -> Any:
    import pyarrow as pa

    values = np.asarray(values)
    if values.ndim <= 1:
        return pa.array(values.astype(dtype, copy=False))
    flat = values.reshape(len(values), -1)
    if flat.shape[1] == 1:
        return pa.array(flat[:, 0].astype(dtype, copy=False))
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.astype(dtype, copy=False).ravel()), flat.shape[1])


def output_table(output_name: str, output_type: type, collected: dict[str, np.ndarray], epoch: int,
                 max_classes: int = MAX_CLASSES_WITH_PROBABILITIES):
    """The per-sample pyarrow table of one output of one split, or None for outputs without a per-sample loss."""
    import pyarrow as pa

    from trw_ray.outputs import OutputClassification, OutputRegression, OutputSegmentation

    if "loss" not in collected or "sample_uid" not in collected or not issubclass(
            output_type, (OutputClassification, OutputRegression, OutputSegmentation)):
        return None
    count = len(collected["sample_uid"])
    columns: dict[str, Any] = {
        "sample_uid": pa.array(np.asarray(collected["sample_uid"]).astype(np.int64, copy=False)),
        "epoch": pa.array(np.full(count, epoch, dtype=np.int32)),
        "output": pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, dtype=np.int32)), pa.array([output_name])),
        "loss": _column(collected["loss"], np.float32),
    }
    if issubclass(output_type, OutputClassification):
        prediction = np.asarray(collected["output"], dtype=np.int64)
        truth = np.asarray(collected["output_truth"], dtype=np.int64)
        columns["prediction"] = pa.array(prediction)
        columns["truth"] = pa.array(truth)
        probabilities = collected.get("output_raw")
        if probabilities is not None:
            probabilities = np.asarray(probabilities, dtype=np.float32)
            rows = np.arange(count)
            columns["probability_truth"] = pa.array(probabilities[rows, truth])
            columns["probability_prediction"] = pa.array(probabilities[rows, prediction])
            if probabilities.shape[1] <= max_classes:
                columns["probabilities"] = _column(probabilities, np.float32)
    elif issubclass(output_type, OutputRegression):
        columns["prediction"] = _column(collected["output"], np.float32)
        columns["truth"] = _column(collected["output_truth"], np.float32)
    else:
        for name in ("accuracy", "dice"):
            if name in collected:
                columns[name] = _column(collected[name], np.float32)
    return pa.table(columns)


def write_split_tables(context: TrainerContext, dataset: str, split: str, max_classes: int) -> None:
    import pyarrow.parquet as pq

    for output_name, collected in context.outputs.get(dataset, {}).get(split, {}).items():
        output_type = context.output_types.get(output_name)
        if output_type is None or not isinstance(collected, dict):
            continue
        table = output_table(output_name, output_type, collected, context.epoch, max_classes)
        if table is not None:
            path = layout.samples_file(context.run_dir, dataset, split, output_name, context.epoch)
            # no dictionary encoding but for the output's name, no column statistics: 3x faster, and smaller
            atomic_write(path, lambda file, table=table: pq.write_table(
                table, file, compression="zstd", use_dictionary=["output"], write_statistics=False), mode="wb")


class CallbackSampleTables(Callback):
    """Writes the per-sample table of every split evaluated in the epoch (see the module doc).

    Args:
        max_classes: classification outputs with at most this many classes also store the probability vector.
        splits: restrict to these split names (default: every split the epoch ran).
    """

    def __init__(self, max_classes: int = MAX_CLASSES_WITH_PROBABILITIES, splits: list[str] | None = None,
                 strict: bool = False):
        super().__init__(strict=strict)
        positive_int(max_classes, "max_classes", 0)
        if splits is not None and (isinstance(splits, str) or not all(isinstance(name, str) for name in splits)):
            raise TypeError(f"splits: expected None or a list of split names; got {splits!r}")
        self.max_classes = max_classes
        self.splits = splits

    def __call__(self, context: TrainerContext) -> None:
        for dataset, splits in (context.history[-1] if context.history else {}).items():
            for split in splits:
                if self.splits is None or split in self.splits:
                    write_split_tables(context, dataset, split, self.max_classes)
