"""Training: the Trainer, its training step, options, outputs, optimizers, callbacks and in-RAM sequences.

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

from trw_ray.lazy_import import lazy_exports

# Names load on first use: ``import trw_ray.train.tune_bridge`` (inside every search trial) or the Output classes
# do not load the Trainer, its callbacks or the pipelines.
_EXPORTS = {name: f"{module}:{name}" for module, names in {
    "trw_ray.data": ["Sequence", "SequenceArray", "SequenceAsyncReservoir", "SequenceCollate", "SequenceFromDataLoader",
                     "SequenceMap", "SequenceMapError"],
    "trw_ray.train.callbacks": [
        "Callback", "CallbackBestHistory", "CallbackClassificationReport", "CallbackDataSummary", "CallbackEpochSummary",
        "CallbackExplainWorstSamples", "CallbackExportAugmentations", "CallbackExportErrors", "CallbackExportOnnx",
        "CallbackExportSamples", "CallbackHistoryPlots", "CallbackLearningRateRecorder", "CallbackModelDebugging",
        "CallbackModelSummary", "CallbackReportIndex", "CallbackSampleTables", "CallbackTensorboard",
        "CallbackTensorboardEmbedding", "CallbackWorstSamplesByEpoch", "TrainerContext"],
    "trw_ray.train.model_io": ["load_model", "read_model_metadata", "save_model"],
    "trw_ray.train.optimizers": ["create_adam_optimizers_fn", "create_scheduler_cosine", "create_scheduler_step_lr",
                                 "create_sgd_optimizers_fn"],
    "trw_ray.train.options": ["create_default_options", "resolve_device"],
    "trw_ray.outputs": ["Output", "OutputClassification", "OutputEmbedding", "OutputEvaluation", "OutputRegression",
                        "OutputSegmentation"],
    "trw_ray.train.step": ["BatchResult", "Step", "StepContext", "TrainingStep"],
    "trw_ray.train.trainer": ["Trainer", "TrainingDivergedError", "create_run_directory"],
    "trw_ray.train.utilities": ["to_value"],
}.items() for name in names}
_EXPORTS.update({
    "callbacks": "trw_ray.train.callbacks",
    "callback_best_history": "trw_ray.train.callbacks.best_history",
    "callback_epoch_summary": "trw_ray.train.callbacks.epoch_summary",
    "callback_export_onnx": "trw_ray.train.callbacks.export_onnx",
    "callback_tensorboard": "trw_ray.train.callbacks.tensorboard",
    "callback_worst_samples": "trw_ray.train.callbacks.worst_samples",
})

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

__all__ = sorted(_EXPORTS)
