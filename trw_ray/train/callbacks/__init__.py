"""Callbacks of the Trainer, one module each, and the default lists used when the Trainer is given none.

Each ``default_*`` function returns new instances: a callback belongs to one Trainer run.
"""

from __future__ import annotations

from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.best_history import CallbackBestHistory
from trw_ray.train.callbacks.epoch_summary import CallbackEpochSummary
from trw_ray.train.callbacks.export_onnx import CallbackExportOnnx


def default_pre_training_callbacks() -> list[Callback]:
    return []


def default_per_epoch_callbacks() -> list[Callback]:
    return [CallbackEpochSummary()]


def default_post_training_callbacks() -> list[Callback]:
    return [CallbackBestHistory(), CallbackExportOnnx()]


__all__ = [
    "Callback",
    "TrainerContext",
    "CallbackBestHistory",
    "CallbackEpochSummary",
    "CallbackExportOnnx",
    "default_pre_training_callbacks",
    "default_per_epoch_callbacks",
    "default_post_training_callbacks",
]
