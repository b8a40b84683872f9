"""What a fit leaves: ``last.model.result`` (status, history, final metrics), the metadata saved with ``last.model``
and the results ``Trainer.fit`` returns."""

from __future__ import annotations

import traceback
from typing import Any

import torch

from trw_ray import layout
from trw_ray.io import write_json_atomic
from trw_ray.train.callbacks.base import TrainerContext


def model_metadata(context: TrainerContext) -> dict[str, Any]:
    """What ``last.model`` records of the model: its epoch, run folder, inputs (shape, dtype) and outputs."""
    inputs = {}
    for name, value in (context.example_batch or {}).items():
        if isinstance(value, torch.Tensor):
            inputs[name] = {"shape": [None, *value.shape[1:]], "dtype": str(value.dtype).replace("torch.", "")}
    return {
        "epoch": context.epoch,
        "run_dir": str(context.run_dir),
        "inputs": inputs,
        "outputs": {name: t.__name__ for name, t in context.output_types.items()},
    }


def final_metrics(context: TrainerContext) -> dict:
    """``{dataset: {split: metrics}}`` of the last epoch that evaluated each split."""
    final: dict = {}
    for entry in context.history:
        for dataset_name, splits in entry.items():
            for split_name, metrics in splits.items():
                final.setdefault(dataset_name, {})[split_name] = metrics
    return final


def write_run_result(context: TrainerContext, status: str, error: str | None) -> None:
    """``last.model.result``; a failure to write it is logged, never raised (the run's own error matters more)."""
    try:
        write_json_atomic(context.run_dir / layout.RESULT_FILE, {
            "status": status,
            "error": error,
            "epochs_completed": context.epoch,
            "num_epochs": context.num_epochs,
            "final": final_metrics(context),
            "history": context.history,
            "learning_rates": context.learning_rates,
            "onnx": context.extra.get("onnx"),
            "run_dir": str(context.run_dir),
            "stopped_early": context.stop_reason,
        })
    except Exception:
        context.logger.error("could not write %s:\n%s", layout.RESULT_FILE, traceback.format_exc())


def fit_results(context: TrainerContext) -> dict[str, Any]:
    """The results ``Trainer.fit`` returns."""
    return {
        "outputs": context.outputs,
        "history": context.history,
        "run_dir": str(context.run_dir),
        "learning_rates": context.learning_rates,
        "onnx": context.extra.get("onnx"),
    }
