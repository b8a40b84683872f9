"""Callbacks of the Trainer, one module each, and the default lists used when the Trainer is given none.

Each ``default_*`` function returns new instances: a callback belongs to one Trainer run. Callbacks that
need every epoch's data (worst samples, model debugging, TensorBoard) are per-epoch callbacks that write their
files at the last epoch; the others run once after training.
"""

from __future__ import annotations

from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.best_history import CallbackBestHistory
from trw_ray.train.callbacks.classification_report import CallbackClassificationReport
from trw_ray.train.callbacks.epoch_summary import CallbackEpochSummary
from trw_ray.train.callbacks.explanations import CallbackExplainWorstSamples
from trw_ray.train.callbacks.export_augmentations import CallbackExportAugmentations
from trw_ray.train.callbacks.export_errors import CallbackExportErrors
from trw_ray.train.callbacks.export_onnx import CallbackExportOnnx
from trw_ray.train.callbacks.export_samples import CallbackExportSamples
from trw_ray.train.callbacks.history_plots import CallbackHistoryPlots
from trw_ray.train.callbacks.learning_rate_recorder import CallbackLearningRateRecorder
from trw_ray.train.callbacks.model_debugging import CallbackModelDebugging
from trw_ray.train.callbacks.report_index import CallbackReportIndex
from trw_ray.train.callbacks.summaries import CallbackDataSummary, CallbackModelSummary
from trw_ray.train.callbacks.tensorboard import CallbackTensorboard, CallbackTensorboardEmbedding
from trw_ray.train.callbacks.worst_samples import CallbackWorstSamplesByEpoch


def default_pre_training_callbacks() -> list[Callback]:
    return []


def default_per_epoch_callbacks() -> list[Callback]:
    return [CallbackEpochSummary(), CallbackModelSummary(), CallbackDataSummary(), CallbackExportSamples(),
            CallbackExportAugmentations(), CallbackModelDebugging(), CallbackTensorboard(), CallbackWorstSamplesByEpoch()]


def default_post_training_callbacks() -> list[Callback]:
    return [CallbackBestHistory(), CallbackHistoryPlots(), CallbackLearningRateRecorder(),
            CallbackClassificationReport(), CallbackExportErrors(), CallbackExplainWorstSamples(),
            CallbackTensorboardEmbedding(), CallbackExportOnnx(), CallbackReportIndex()]


__all__ = [
    "Callback", "TrainerContext", "CallbackBestHistory", "CallbackClassificationReport", "CallbackDataSummary",
    "CallbackEpochSummary", "CallbackExplainWorstSamples", "CallbackExportAugmentations", "CallbackExportErrors", "CallbackExportOnnx",
    "CallbackExportSamples", "CallbackHistoryPlots", "CallbackLearningRateRecorder", "CallbackModelDebugging",
    "CallbackModelSummary", "CallbackDataSummary", "CallbackReportIndex", "CallbackTensorboard",
    "CallbackTensorboardEmbedding", "CallbackWorstSamplesByEpoch", "default_pre_training_callbacks",
    "default_per_epoch_callbacks", "default_post_training_callbacks",
]
