"""Callbacks of the Trainer, one module each, and the default lists used when the Trainer is given none.

Each ``default_*`` function returns new instances: a callback belongs to one Trainer run. Callbacks that
need every epoch's data (worst samples, model debugging, TensorBoard) are per-epoch callbacks that write their
files at the last epoch; the others run once after training.
"""

from trw_ray.lazy_import import lazy_exports
from trw_ray.train.callbacks.base import Callback, StopRun, TrainerContext

# each callback's module (and torch, pandas...) loads on first use: ``trw_ray.train.callbacks.base`` stays light
_MODULES = {
    "best_history": ["CallbackBestHistory"],
    "classification_report": ["CallbackClassificationReport"],
    "epoch_summary": ["CallbackEpochSummary"],
    "explanations": ["CallbackExplainWorstSamples"],
    "export_augmentations": ["CallbackExportAugmentations"],
    "export_errors": ["CallbackExportErrors"],
    "export_onnx": ["CallbackExportOnnx"],
    "export_samples": ["CallbackExportSamples"],
    "history_plots": ["CallbackHistoryPlots"],
    "learning_rate_recorder": ["CallbackLearningRateRecorder"],
    "model_debugging": ["CallbackModelDebugging"],
    "report_index": ["CallbackReportIndex"],
    "sample_tables": ["CallbackSampleTables"],
    "summaries": ["CallbackDataSummary", "CallbackModelSummary"],
    "tensorboard": ["CallbackTensorboard", "CallbackTensorboardEmbedding"],
    "worst_samples": ["CallbackWorstSamplesByEpoch"],
}
_EXPORTS = {name: f"trw_ray.train.callbacks.{module}:{name}" for module, names in _MODULES.items() for name in names}

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


def default_pre_training_callbacks() -> list[Callback]:
    return []


def default_per_epoch_callbacks() -> list[Callback]:
    from trw_ray.train import callbacks as c

    return [c.CallbackEpochSummary(), c.CallbackSampleTables(), c.CallbackModelSummary(), c.CallbackDataSummary(),
            c.CallbackExportSamples(), c.CallbackExportAugmentations(), c.CallbackModelDebugging(),
            c.CallbackTensorboard(), c.CallbackWorstSamplesByEpoch()]


def default_post_training_callbacks() -> list[Callback]:
    from trw_ray.train import callbacks as c

    return [c.CallbackBestHistory(), c.CallbackHistoryPlots(), c.CallbackLearningRateRecorder(),
            c.CallbackClassificationReport(), c.CallbackExportErrors(), c.CallbackExplainWorstSamples(),
            c.CallbackTensorboardEmbedding(), c.CallbackExportOnnx(), c.CallbackReportIndex()]


__all__ = ["Callback", "StopRun", "TrainerContext", *_EXPORTS, "default_pre_training_callbacks",
           "default_per_epoch_callbacks", "default_post_training_callbacks"]
