"""Training: the Trainer, its options, outputs, optimizers, callbacks and in-RAM sequences.

Example (the tour of TRW's documentation)::

    import trw_ray as trw
    options = trw.train.create_default_options(num_epochs=10)
    model, results = trw.train.Trainer().fit(
        options,
        inputs_fn=lambda: trw.datasets.create_mnist_dataset(),
        model_fn=lambda options: Net(),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(
            datasets=datasets, model=model, learning_rate=0.1))
"""

from __future__ import annotations

from trw_ray.data import (
    Sequence,
    SequenceArray,
    SequenceAsyncReservoir,
    SequenceCollate,
    SequenceFromDataLoader,
    SequenceMap,
    SequenceMapError,
)
from trw_ray.train import callbacks
from trw_ray.train.callbacks import (
    Callback,
    CallbackBestHistory,
    CallbackClassificationReport,
    CallbackDataSummary,
    CallbackEpochSummary,
    CallbackExplainWorstSamples,
    CallbackExportAugmentations,
    CallbackExportErrors,
    CallbackExportOnnx,
    CallbackExportSamples,
    CallbackHistoryPlots,
    CallbackLearningRateRecorder,
    CallbackModelDebugging,
    CallbackModelSummary,
    CallbackReportIndex,
    CallbackTensorboard,
    CallbackTensorboardEmbedding,
    CallbackWorstSamplesByEpoch,
    TrainerContext,
)
from trw_ray.train.callbacks import best_history as callback_best_history
from trw_ray.train.callbacks import epoch_summary as callback_epoch_summary
from trw_ray.train.callbacks import export_onnx as callback_export_onnx
from trw_ray.train.callbacks import tensorboard as callback_tensorboard
from trw_ray.train.callbacks import worst_samples as callback_worst_samples
from trw_ray.train.model_io import load_model, read_model_metadata, save_model
from trw_ray.train.optimizers import (
    create_adam_optimizers_fn,
    create_scheduler_cosine,
    create_scheduler_step_lr,
    create_sgd_optimizers_fn,
)
from trw_ray.train.options import create_default_options, resolve_device
from trw_ray.train.outputs import (
    Output,
    OutputClassification,
    OutputEmbedding,
    OutputEvaluation,
    OutputRegression,
    OutputSegmentation,
)
from trw_ray.train.trainer import Trainer, TrainingDivergedError, create_run_directory
from trw_ray.train.utilities import to_value

__all__ = [
    "Callback",
    "CallbackBestHistory",
    "CallbackClassificationReport",
    "CallbackDataSummary",
    "CallbackEpochSummary",
    "CallbackExplainWorstSamples",
    "CallbackExportAugmentations",
    "CallbackExportErrors",
    "CallbackExportOnnx",
    "CallbackExportSamples",
    "CallbackHistoryPlots",
    "CallbackLearningRateRecorder",
    "CallbackModelDebugging",
    "CallbackModelSummary",
    "CallbackReportIndex",
    "CallbackTensorboard",
    "CallbackTensorboardEmbedding",
    "CallbackWorstSamplesByEpoch",
    "callback_tensorboard",
    "callback_worst_samples",
    "Output",
    "OutputClassification",
    "OutputEmbedding",
    "OutputEvaluation",
    "OutputRegression",
    "OutputSegmentation",
    "Sequence",
    "SequenceArray",
    "SequenceAsyncReservoir",
    "SequenceCollate",
    "SequenceFromDataLoader",
    "SequenceMap",
    "SequenceMapError",
    "Trainer",
    "TrainerContext",
    "TrainingDivergedError",
    "callback_best_history",
    "callback_epoch_summary",
    "callback_export_onnx",
    "callbacks",
    "create_adam_optimizers_fn",
    "create_default_options",
    "create_run_directory",
    "create_scheduler_cosine",
    "create_scheduler_step_lr",
    "create_sgd_optimizers_fn",
    "load_model",
    "read_model_metadata",
    "resolve_device",
    "save_model",
    "to_value",
]
