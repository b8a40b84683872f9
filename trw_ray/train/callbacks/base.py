"""The callback interface: a callable that receives the trainer's context at one phase of training."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

    import torch


@dataclass
class TrainerContext:
    """Everything a callback may read (and what the Trainer has produced so far).

    Attributes:
        options: the options of the run.
        run_dir: the run folder (``<logging_directory>/<run_prefix>_rN``).
        logger: writes to the run's ``trainer.txt``.
        model: the model being trained.
        datasets: ``{dataset: {split: sequence}}``.
        optimizers: ``{dataset: optimizer}``; schedulers likewise.
        history: one dict per finished epoch, ``history[e][dataset][split][output][metric]``.
        outputs: the per-sample values of the last evaluation of each split,
            ``outputs[dataset][split][output][key]`` (numpy arrays).
        epoch: the number of finished epochs.
        example_batch: a small batch (first samples of the first batch seen), on the model's device.
        learning_rates: one ``{dataset: learning rate}`` per finished epoch.
        output_types: ``{output_name: Output class}``; output_targets: ``{output_name: target feature}``.
        split_samples: the first samples of each split as the model saw them in the first epoch (on CPU).
        extra: free room for callbacks to share results (e.g. the ONNX comparison).
        step: the run's training step (:mod:`trw_ray.train.step`); its ``state_dict()`` goes into checkpoints.
        stop_reason: why training ends before ``num_epochs`` (set by :meth:`stop_training`), else None.
        callback_state: what callbacks keep across a search trial's pause and resume (plain data: numbers,
            strings, lists, dicts); it goes into the trial's checkpoints with the model.
    """

    options: dict[str, Any]
    run_dir: Path
    logger: logging.Logger
    model: torch.nn.Module | None = None
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    optimizers: dict[str, Any] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    outputs: dict[str, dict[str, dict]] = field(default_factory=dict)
    output_types: dict[str, type] = field(default_factory=dict)
    epoch: int = 0
    example_batch: dict[str, Any] | None = None
    learning_rates: list[dict[str, float]] = field(default_factory=list)
    output_targets: dict[str, str] = field(default_factory=dict)
    split_samples: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    step: Any = None
    stop_reason: str | None = None
    callback_state: dict[str, Any] = field(default_factory=dict)
    _stop_after: int | None = None

    @property
    def num_epochs(self) -> int:
        """The epochs the run trains: the options' ``num_epochs``, or fewer once :meth:`stop_training` is called."""
        planned = self.options["training_parameters"]["num_epochs"]
        return planned if self._stop_after is None else min(planned, self._stop_after)

    def stop_training(self, reason: str) -> None:
        """Ends training after the current epoch, as if it were the last one: the epoch's remaining callbacks see
        ``is_last_epoch``, the post-training callbacks run, and the run's result records ``stopped_early``
        (e.g. an early-stopping rule or the NAS collapse guard). Unlike :class:`StopRun`, the run completes."""
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"reason: expected a non-empty string; got {reason!r}")
        self.stop_reason = reason
        self._stop_after = self.epoch

    @property
    def is_last_epoch(self) -> bool:
        return self.epoch >= self.num_epochs

    def class_names(self, dataset: str, split: str, output_name: str) -> list[str] | None:
        """The class names of an output's target feature, when its sequence knows them."""
        sequence = self.datasets.get(dataset, {}).get(split)
        target = self.output_targets.get(output_name)
        names = getattr(sequence, "class_names", None) or {}
        return names.get(target) if target is not None else None

    def samples_by_uid(self, dataset: str, split: str, sample_uids) -> dict[str, Any] | None:
        """The samples with these uids when the split's sequence can look them up, else None."""
        sequence = self.datasets.get(dataset, {}).get(split)
        lookup = getattr(sequence, "samples_by_uid", None)
        if lookup is None:
            return None
        return lookup(sample_uids)


class StopRun(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a callback to end ``fit`` at once, without an error: the run folder is closed with the status
    ``stopped`` and the exception reaches ``fit``'s caller (e.g. a search's discovery, once the model exists)."""


class Callback(abc.ABC):
    """Base of every callback.

    A callback instance belongs to one Trainer run. When it raises, the Trainer writes its name and
    traceback to ``trainer.txt`` and training goes on, unless the callback was created with ``strict=True``
    (or the Trainer with ``strict_callbacks=True``), in which case the error stops training.
    """

    def __init__(self, strict: bool = False):
        self.strict = strict

    @abc.abstractmethod
    def __call__(self, context: TrainerContext) -> None:
        """Runs the callback at its phase (pre-training, end of epoch or post-training)."""

    @property
    def name(self) -> str:
        return type(self).__name__
