"""The training step: the one place a batch becomes outputs, a loss and an optimizer update.

The Trainer calls a :class:`Step` once per batch of the split named ``train`` and runs every other split through
:meth:`StepContext.forward` alone. The default, :class:`TrainingStep`, is forward / backward / update with mixed
precision, gradient accumulation, gradient clipping and DataParallel as the options ask. A step is the seam for
anything else: an architecture step on a validation batch between weight steps (DARTS), a bilevel scheme, a
second optimizer.

Contract (``Trainer(step_fn=...)`` takes a factory ``() -> Step``: one step object per ``fit``):

- ``setup(context)`` once, when model, optimizers and datasets exist (``context`` is the
  :class:`~trw_ray.train.callbacks.base.TrainerContext`), before a search restores a checkpoint;
- ``step(ctx, batch)`` for every training batch, ``ctx`` a :class:`StepContext` (model, optimizers, datasets,
  epoch, batch index, and the helpers below); it returns the :class:`BatchResult` of ``batch``, whose per-sample
  values the Trainer collects for the reports;
- ``end_split(ctx)`` after the last batch of the epoch (the default applies gradients still accumulated);
- ``ctx.add_metric(name, value)``: averaged over the epoch into ``history[epoch][dataset]['train']['step'][name]``,
  so it lands in the run's history, the epoch summary and, inside a search, every epoch's Tune report;
- ``state_dict()`` / ``load_state_dict(state)``: the step's own state (its optimizer...), kept in a search
  trial's checkpoints so a paused or retried trial resumes it.

Example: alternate with a second split that trains other parameters (the shape of DARTS' architect)::

    class AlternateStep(trw.train.TrainingStep):
        def setup(self, context):
            self.other = torch.optim.Adam(context.model.gate_parameters(), lr=3e-4)

        def __call__(self, ctx, batch):
            other = ctx.forward(ctx.draw_batch('valid'))       # a batch of another split, on the device
            self.other.zero_grad(set_to_none=True)
            ctx.backward(other.loss)
            self.other.step()
            ctx.add_metric('valid_loss', other.loss)
            return super().__call__(ctx, batch)                 # the usual weight step on the train batch

        def state_dict(self):
            return {'other': self.other.state_dict()}

        def load_state_dict(self, state):
            self.other.load_state_dict(state['other'])

    trw.train.Trainer(step_fn=AlternateStep).fit(...)
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trw_ray.outputs import Output, OutputEvaluation

if TYPE_CHECKING:
    from trw_ray.train.callbacks.base import TrainerContext

STEP_METRICS = "step"  # the pseudo-output under which a step's own metrics land in the history


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good model stays in the run folder."""


@dataclass
class BatchResult:
    """One batch through the model: ``outputs`` ``{name: Output}``, their ``evaluations`` (per-sample values to
    collect), the summed ``loss`` (None when no output has one) and the batch ``size``."""

    outputs: dict[str, Output]
    evaluations: dict[str, OutputEvaluation]
    loss: torch.Tensor | None
    size: int


class Runtime:
    """How batches run on this fit's device: the forward module (DataParallel or the model), mixed precision,
    the gradient scaler, accumulation and clipping. Made once per ``fit``."""

    def __init__(self, model: torch.nn.Module, forward: Any, options: Mapping[str, Any]):
        self.model = model
        self.forward_module = forward
        self.evaluation_module = forward  # the plain model in a data-parallel worker (no collectives)
        self.device: torch.device = options["workflow_options"]["device"]
        training = options["training_parameters"]
        mixed_precision = training.get("mixed_precision")
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision)
        self.scaler = torch.amp.GradScaler("cuda") if mixed_precision == "fp16" else None
        self.non_blocking = self.device.type == "cuda"
        self._on_cpu = self.device.type == "cpu"
        self.accumulation = training["gradient_accumulation_steps"]
        self.clip = training.get("gradient_clipping_norm")
        self._full_precision = contextlib.nullcontext()  # reusable: one object for every batch

    def autocast(self):
        if self.autocast_dtype is None:
            return self._full_precision
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def prepare(self, batch: Any, where: str) -> dict[str, Any]:
        """A batch's numeric arrays as tensors on the device (a TypeError for anything but a dict)."""
        if type(batch) is not dict and not isinstance(batch, Mapping):
            raise TypeError(f"{where}: batches must be dicts {{feature_name: value}}; got {type(batch).__name__}")
        prepared = {}
        for name, value in batch.items():
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                value = torch.from_numpy(value)
            # on a CPU run a CPU tensor needs no move: skip building two device objects per feature per batch
            if isinstance(value, torch.Tensor) and (value.is_cuda or not self._on_cpu) and value.device != self.device:
                value = value.to(self.device, non_blocking=self.non_blocking)
            prepared[name] = value
        return prepared


_CHECKED_OUTPUT_TYPES: set[type] = set()  # Output subclasses seen: a batch of those needs no isinstance walk


def _check_outputs(outputs: Any, context: StepContext) -> None:
    if type(outputs) is dict and all(type(output) in _CHECKED_OUTPUT_TYPES for output in outputs.values()):
        return
    where = context.where
    if not isinstance(outputs, Mapping):
        raise TypeError(
            f"{where}: the model's forward(batch) must return a dict {{output_name: Output}} "
            f"(e.g. {{'softmax': trw.train.OutputClassification(x, 'targets')}}); got {type(outputs).__name__}"
        )
    for name, output in outputs.items():
        if not isinstance(output, Output):
            raise TypeError(
                f"{where}: output {name!r} must be a trw_ray.train Output (OutputClassification, "
                f"OutputRegression, ...); got {type(output).__name__}"
            )
        _CHECKED_OUTPUT_TYPES.add(type(output))


def _batch_size(batch: Mapping[str, Any], outputs: Mapping[str, Output]) -> int:
    for output in outputs.values():
        return int(output.output.shape[0])
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return 0


@dataclass
class StepContext:
    """What a step sees for one split of one epoch (the Trainer updates ``batch_index`` before each call).

    Attributes:
        trainer: the run's :class:`~trw_ray.train.callbacks.base.TrainerContext` (options, logger, history...).
        runtime: device, mixed precision and gradient settings (see :class:`Runtime`).
        dataset, split: what is being run; ``optimizer``: the dataset's optimizer (None when evaluating).
        epoch: the 0-based epoch being run; ``batch_index``: the batch's index in the split.
    """

    trainer: TrainerContext
    runtime: Runtime
    dataset: str
    split: str
    optimizer: torch.optim.Optimizer | None
    epoch: int
    batch_index: int = -1
    metrics: dict[str, list[float]] = field(default_factory=dict)
    _cycles: dict[tuple[str, str], Iterator] = field(default_factory=dict)

    @property
    def model(self) -> torch.nn.Module:
        return self.trainer.model

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.trainer.optimizers

    @property
    def datasets(self) -> dict[str, dict[str, Any]]:
        return self.trainer.datasets

    @property
    def where(self) -> str:
        return f"dataset {self.dataset!r} split {self.split!r} epoch {self.epoch + 1}"

    def forward(self, batch: Mapping[str, Any]) -> BatchResult:
        """Runs the model on a prepared batch (mixed precision as configured) and evaluates every output.

        Raises:
            TrainingDivergedError: the summed loss is NaN or infinite.
        """
        runtime = self.runtime
        with runtime.autocast():
            outputs = (runtime.forward_module if self.optimizer is not None else runtime.evaluation_module)(batch)
            _check_outputs(outputs, self)
            evaluations, loss = {}, None
            for name, output in outputs.items():
                evaluation = output.evaluate(batch, name)
                evaluations[name] = evaluation
                if evaluation.loss is not None:
                    loss = evaluation.loss if loss is None else loss + evaluation.loss
        if loss is not None and not math.isfinite(loss.item()):
            context = self.trainer
            from trw_ray.layout import MODEL_FILE

            kept = (f"{context.run_dir / MODEL_FILE} holds the model of the last good epoch ({context.epoch})"
                    if context.epoch else "no epoch had finished, so no model was saved")
            raise TrainingDivergedError(
                f"the loss is {float(loss.detach())} in {self.where}, batch {self.batch_index}; training stopped. {kept}")
        return BatchResult(outputs, evaluations, loss, _batch_size(batch, outputs))

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, through the gradient scaler under fp16."""
        if self.runtime.scaler is not None:
            self.runtime.scaler.scale(loss).backward()
        else:
            loss.backward()

    def update(self, optimizer: torch.optim.Optimizer | None = None, parameters=None) -> None:
        """Clips the gradients (``gradient_clipping_norm``), steps ``optimizer`` (default: the split's) and zeroes
        its gradients. ``parameters``: what clipping covers (default: the model's)."""
        optimizer = optimizer or self.optimizer
        runtime = self.runtime
        if runtime.clip:
            parameters = self.model.parameters() if parameters is None else parameters
        if runtime.scaler is not None:
            if runtime.clip:
                runtime.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, runtime.clip)
            runtime.scaler.step(optimizer)
            runtime.scaler.update()
        else:
            if runtime.clip:
                torch.nn.utils.clip_grad_norm_(parameters, runtime.clip)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def draw_batch(self, split: str, dataset: str | None = None) -> dict[str, Any]:
        """The next batch of another split (of this dataset by default), prepared on the device; the split starts
        over when it ends, so a step can draw from a split smaller than the one it trains on."""
        dataset = self.dataset if dataset is None else dataset
        sequence = self.datasets.get(dataset, {}).get(split)
        if sequence is None:
            known = {name: sorted(splits) for name, splits in self.datasets.items()}
            raise KeyError(f"draw_batch: no split {split!r} in dataset {dataset!r}; known: {known}")
        key = (dataset, split)
        for _ in range(2):
            iterator = self._cycles.get(key)
            if iterator is None:
                iterator = self._cycles[key] = iter(sequence)
            try:
                return self.runtime.prepare(next(iterator), f"dataset {dataset!r} split {split!r}")
            except StopIteration:
                self._cycles.pop(key, None)
        raise ValueError(f"draw_batch: dataset {dataset!r} split {split!r} produced no batch (empty split)")

    def add_metric(self, name: str, value: float | torch.Tensor) -> None:
        """Adds one value of a step metric; the epoch's history gets the mean under ``step/<name>``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"add_metric: name expected a non-empty string; got {name!r}")
        if isinstance(value, torch.Tensor):
            value = value.detach()
        self.metrics.setdefault(name, []).append(value)

    def metric_means(self) -> dict[str, float]:
        """The epoch's mean of each step metric."""
        return {name: float(np.mean([float(value) for value in values])) for name, values in self.metrics.items()}


class Step(abc.ABC):
    """The interface of a training step (see the module doc); :class:`TrainingStep` is the default."""

    def setup(self, context: TrainerContext) -> None:  # noqa: B027 - an optional hook
        """Called once model, optimizers and datasets exist."""

    @abc.abstractmethod
    def __call__(self, ctx: StepContext, batch: dict[str, Any]) -> BatchResult:
        """Trains on one batch and returns its :class:`BatchResult` (``ctx.forward(batch)``'s)."""

    def end_split(self, ctx: StepContext) -> None:  # noqa: B027 - an optional hook
        """Called after the last batch of an epoch's training split."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Restores what :meth:`state_dict` returned."""


class TrainingStep(Step):
    """Forward, backward and an optimizer update every ``gradient_accumulation_steps`` batches (the default)."""

    def __call__(self, ctx: StepContext, batch: dict[str, Any]) -> BatchResult:
        result = ctx.forward(batch)
        if result.loss is None:
            raise ValueError(f"{ctx.where}: the model returned no output with a loss; nothing to train")
        accumulation = ctx.runtime.accumulation
        ctx.backward(result.loss / accumulation if accumulation != 1 else result.loss)
        if (ctx.batch_index + 1) % accumulation == 0:
            ctx.update()
        return result

    def end_split(self, ctx: StepContext) -> None:
        if ctx.batch_index >= 0 and (ctx.batch_index + 1) % ctx.runtime.accumulation != 0:
            ctx.update()
