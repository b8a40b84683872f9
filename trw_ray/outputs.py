"""Model outputs: what a model's ``forward(batch)`` returns, one ``{name: Output}`` per task.

An ``Output`` wraps a tensor the model produced and knows which batch feature is its target, how to turn
both into a per-sample loss, what to collect for the reports and which metrics to compute at the end of a
split. The Trainer sums the losses of every output of a batch and back-propagates the sum.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

CriterionFn = Callable[[], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


@dataclass
class OutputEvaluation:
    """What one output gives for one batch.

    Attributes:
        loss: scalar to back-propagate, or None for outputs without a loss.
        collect: per-sample tensors (first dimension = batch), detached, gathered over the split.
    """

    loss: torch.Tensor | None
    collect: dict[str, torch.Tensor] = field(default_factory=dict)


class _Who:
    """``output 'name' (Kind)`` for error messages, formatted only when an error needs it (not once per batch)."""

    __slots__ = ("kind", "name")

    def __init__(self, name: str, kind: str):
        self.name, self.kind = name, kind

    def __str__(self) -> str:
        return f"output {self.name!r} ({self.kind})"


def get_batch_feature(batch: Mapping[str, Any], name: str, who: str | _Who) -> Any:
    """``batch[name]`` or a KeyError naming the missing feature, who asked for it and the keys present."""
    try:
        return batch[name]
    except KeyError:
        raise KeyError(
            f"{who}: the batch has no feature {name!r}; features present: {sorted(map(str, batch.keys()))}"
        ) from None


def _criterion(criterion_fn: CriterionFn | None, default: CriterionFn, who: str):
    factory = default if criterion_fn is None else criterion_fn
    if not callable(factory):
        raise TypeError(f"{who}: criterion_fn must be a callable returning a loss module; got {factory!r}")
    return factory()


class Output(abc.ABC):
    """Base class of outputs.

    Args:
        output: the tensor produced by the model (batch first).
        criterion_fn: a factory ``() -> loss`` whose loss returns one value per sample (``reduction='none'``).
        weights: per-sample loss weights: the name of a batch feature, or a tensor of shape (N,).
    """

    #: metrics of this kind of output that are better when lower (others are better when higher)
    metrics_lower_is_better: tuple[str, ...] = ("loss",)

    def __init__(self, output: torch.Tensor, criterion_fn: CriterionFn | None = None, weights=None):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"{type(self).__name__}: output must be a torch.Tensor; got {type(output).__name__}")
        if output.dim() < 1:
            raise ValueError(f"{type(self).__name__}: output must have a batch dimension; got shape {tuple(output.shape)}")
        self.output = output
        self.criterion_fn = criterion_fn
        self.weights = weights

    @abc.abstractmethod
    def evaluate(self, batch: Mapping[str, Any], output_name: str) -> OutputEvaluation:
        """Computes the loss of this output for ``batch`` and what to collect per sample."""

    @classmethod
    def metrics(cls, collected: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Split-level metrics from the per-sample values collected over the whole split."""
        if "loss" in collected and len(collected["loss"]):
            return {"loss": float(np.mean(collected["loss"]))}
        return {}

    @classmethod
    def finalize(cls, collected: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Turns the raw per-sample values gathered over a split into the reported ones (e.g. logits -> class)."""
        return collected

    def _weighted_mean(self, per_sample: torch.Tensor, batch: Mapping[str, Any], output_name: str) -> torch.Tensor:
        if self.weights is None:
            return per_sample.mean()
        who = f"output {output_name!r} ({type(self).__name__})"
        weights = get_batch_feature(batch, self.weights, who) if isinstance(self.weights, str) else self.weights
        weights = torch.as_tensor(weights, device=per_sample.device, dtype=per_sample.dtype).reshape(-1)
        if weights.shape[0] != per_sample.shape[0]:
            raise ValueError(
                f"{who}: weights must have one value per sample ({per_sample.shape[0]}); got shape {tuple(weights.shape)}"
            )
        return (per_sample * weights).mean()


class OutputClassification(Output):
    """Multi-class classification (cross entropy by default).

    Args:
        output: logits of shape (N, C).
        classes_name: name of the batch feature holding the target class indices, shape (N,) or (N, 1).
        criterion_fn: factory of a per-sample loss, default ``nn.CrossEntropyLoss(reduction='none')``.
        weights: per-sample weights (batch feature name or tensor).

    Collected per sample: ``output`` (predicted class), ``output_truth``, ``output_raw`` (probabilities),
    ``loss``. Metrics: ``loss``, ``accuracy``.

    Examples:
        >>> return {'softmax': OutputClassification(logits, 'targets')}
    """

    def __init__(self, output: torch.Tensor, classes_name: str, criterion_fn: CriterionFn | None = None, weights=None):
        super().__init__(output, criterion_fn, weights)
        if output.dim() != 2:
            raise ValueError(
                f"OutputClassification: output must be logits of shape (N, C); got shape {tuple(output.shape)} "
                "(use OutputSegmentation for per-pixel classification)"
            )
        if not isinstance(classes_name, str):
            raise TypeError(f"OutputClassification: classes_name must be a batch feature name (str); got {classes_name!r}")
        self.classes_name = classes_name

    def evaluate(self, batch, output_name):
        who = _Who(output_name, "OutputClassification")
        target = get_batch_feature(batch, self.classes_name, who)
        if not isinstance(target, torch.Tensor) or target.device != self.output.device:
            target = torch.as_tensor(target, device=self.output.device)
        if target.dim() == 2 and target.shape[1] == 1:
            target = target[:, 0]
        if target.dim() != 1 or target.shape[0] != self.output.shape[0]:
            raise ValueError(
                f"{who}: target {self.classes_name!r} must have shape ({self.output.shape[0]},); got {tuple(target.shape)}"
            )
        if target.is_floating_point():
            raise TypeError(f"{who}: target {self.classes_name!r} must hold integer class indices; got {target.dtype}")
        if target.dtype != torch.int64:
            target = target.long()
        collect = {"output_raw": self.output.detach(), "output_truth": target}
        default_loss = self.criterion_fn is None and self.weights is None
        if not default_loss or target.is_cuda:
            # a class out of range is a device-side assert on a GPU, and a custom criterion may not check it
            self._check_classes(target, who)
        if default_loss:
            # the per-sample losses are recomputed from the collected logits at the end of the split
            try:
                return OutputEvaluation(loss=F.cross_entropy(self.output, target), collect=collect)
            except (IndexError, RuntimeError):  # torch on the CPU refuses a class out of range: say which
                self._check_classes(target, who)
                raise
        criterion = (_criterion(self.criterion_fn, None, who) if self.criterion_fn is not None
                     else functools.partial(F.cross_entropy, reduction="none"))
        per_sample = criterion(self.output, target)
        if per_sample.dim() != 1:
            raise ValueError(f"{who}: criterion must return one loss per sample (reduction='none'); got {tuple(per_sample.shape)}")
        collect["loss"] = per_sample.detach()
        return OutputEvaluation(loss=self._weighted_mean(per_sample, batch, output_name), collect=collect)

    def _check_classes(self, target: torch.Tensor, who: str) -> None:
        num_classes = self.output.shape[1]
        low, high = (int(value) for value in torch.aminmax(target))
        if low < 0 or high >= num_classes:
            bad = target[(target < 0) | (target >= num_classes)]
            raise ValueError(
                f"{who}: target {self.classes_name!r} must be in [0, {num_classes - 1}] for {num_classes} classes; "
                f"got values from {int(bad.min())} to {int(bad.max())}"
            )

    @classmethod
    def finalize(cls, collected):
        truth = collected.get("output_truth")
        if truth is not None and len(truth) and truth.min() < 0:  # -100 is cross entropy's ignored class
            raise ValueError(f"OutputClassification: target class indices must be >= 0; got {int(truth.min())}")
        # numpy over a whole split: torch's row-wise kernels cost ~1.5x more on (N, 10) logits on the CPU
        logits = np.asarray(collected.pop("output_raw"), dtype=np.float32)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exponentials = np.exp(shifted)
        sums = exponentials.sum(axis=1, keepdims=True)
        if "loss" not in collected:
            truth = collected["output_truth"]
            collected["loss"] = np.log(sums[:, 0]) - shifted[np.arange(len(truth)), truth]
        collected["output"] = logits.argmax(axis=1)
        collected["output_raw"] = exponentials / sums
        return collected

    @classmethod
    def metrics(cls, collected):
        metrics = super().metrics(collected)
        if len(collected.get("output_truth", ())):
            metrics["accuracy"] = float(np.mean(collected["output"] == collected["output_truth"]))
        return metrics


class OutputRegression(Output):
    """Regression (mean squared error by default, ``loss='l1'`` for mean absolute error).

    Args:
        output: predictions of shape (N, ...).
        target_name: batch feature with the targets, same shape as ``output``.
        criterion_fn: factory of an element-wise loss (``reduction='none'``); overrides ``loss``.
        loss: ``'mse'`` or ``'l1'``.
        weights: per-sample weights (batch feature name or tensor).

    Collected: ``output``, ``output_truth``, ``loss``. Metrics: ``loss``, ``mse``, ``mae``.
    """

    metrics_lower_is_better = ("loss", "mse", "mae")
    _LOSSES = {"mse": lambda: torch.nn.MSELoss(reduction="none"), "l1": lambda: torch.nn.L1Loss(reduction="none")}

    def __init__(self, output, target_name: str, criterion_fn: CriterionFn | None = None, loss: str = "mse", weights=None):
        super().__init__(output, criterion_fn, weights)
        if loss not in self._LOSSES:
            raise ValueError(f"OutputRegression: loss must be one of {sorted(self._LOSSES)}; got {loss!r}")
        self.target_name = target_name
        self.loss_name = loss

    def evaluate(self, batch, output_name):
        who = f"output {output_name!r} (OutputRegression)"
        target = torch.as_tensor(get_batch_feature(batch, self.target_name, who), device=self.output.device)
        if target.shape != self.output.shape:
            if target.numel() == self.output.numel():
                target = target.reshape(self.output.shape)
            else:
                raise ValueError(
                    f"{who}: target {self.target_name!r} must have the output's shape {tuple(self.output.shape)}; "
                    f"got {tuple(target.shape)}"
                )
        target = target.to(self.output.dtype)
        criterion = _criterion(self.criterion_fn, self._LOSSES[self.loss_name], who)
        elementwise = criterion(self.output, target)
        per_sample = elementwise.reshape(elementwise.shape[0], -1).mean(dim=1)
        loss = self._weighted_mean(per_sample, batch, output_name)
        return OutputEvaluation(
            loss=loss, collect={"output": self.output.detach(), "output_truth": target, "loss": per_sample.detach()}
        )

    @classmethod
    def metrics(cls, collected):
        metrics = super().metrics(collected)
        if len(collected.get("output_truth", ())):
            error = (collected["output"].astype(np.float64) - collected["output_truth"].astype(np.float64)).reshape(
                len(collected["output"]), -1
            )
            metrics["mse"] = float(np.mean(error**2))
            metrics["mae"] = float(np.mean(np.abs(error)))
        return metrics


def dice_loss_per_sample(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice averaged over classes, one value per sample. ``logits`` (N, C, ...), ``target`` (N, ...)."""
    probabilities = torch.softmax(logits, dim=1)
    one_hot = F.one_hot(target, num_classes=logits.shape[1]).movedim(-1, 1).to(probabilities.dtype)
    dims = tuple(range(2, logits.dim()))
    intersection = (probabilities * one_hot).sum(dim=dims)
    denominator = probabilities.sum(dim=dims) + one_hot.sum(dim=dims)
    dice = (2 * intersection + smooth) / (denominator + smooth)
    return 1 - dice.mean(dim=1)


class OutputSegmentation(Output):
    """Per-pixel (or per-voxel) classification.

    Args:
        output: logits of shape (N, C, H, W) or (N, C, D, H, W).
        target_name: batch feature with class maps of shape (N, H, W) or (N, 1, H, W) (and 3D likewise).
        loss: ``'cross_entropy'`` (per-pixel, averaged per sample) or ``'dice'`` (1 - soft Dice).
        criterion_fn: factory of a per-pixel loss (``reduction='none'``); overrides ``loss``.
        weights: per-sample weights (batch feature name or tensor).
        collect_output: keep the predicted and true maps per sample (memory: N x H x W int64 per split).

    Collected: ``loss``, ``accuracy`` and ``dice`` per sample, and the maps when ``collect_output``.
    Metrics: ``loss``, ``accuracy`` (pixel), ``dice`` (mean over classes).
    """

    def __init__(self, output, target_name: str, loss: str = "cross_entropy", criterion_fn: CriterionFn | None = None,
                 weights=None, collect_output: bool = True):
        super().__init__(output, criterion_fn, weights)
        if output.dim() not in (4, 5):
            raise ValueError(
                f"OutputSegmentation: output must be logits (N, C, H, W) or (N, C, D, H, W); got {tuple(output.shape)}"
            )
        if loss not in ("cross_entropy", "dice"):
            raise ValueError(f"OutputSegmentation: loss must be 'cross_entropy' or 'dice'; got {loss!r}")
        self.target_name = target_name
        self.loss_name = loss
        self.collect_output = collect_output

    def evaluate(self, batch, output_name):
        who = f"output {output_name!r} (OutputSegmentation)"
        target = torch.as_tensor(get_batch_feature(batch, self.target_name, who), device=self.output.device)
        spatial = tuple(self.output.shape[2:])
        if target.dim() == self.output.dim() and target.shape[1] == 1:
            target = target[:, 0]
        if tuple(target.shape) != (self.output.shape[0], *spatial):
            raise ValueError(
                f"{who}: target {self.target_name!r} must have shape (N, {', '.join(map(str, spatial))}) or "
                f"(N, 1, {', '.join(map(str, spatial))}); got {tuple(target.shape)}"
            )
        num_classes = self.output.shape[1]
        if bool(((target < 0) | (target >= num_classes)).any()):
            raise ValueError(
                f"{who}: target {self.target_name!r} must be in [0, {num_classes - 1}]; "
                f"got values from {int(target.min())} to {int(target.max())}"
            )
        target = target.long()
        if self.criterion_fn is not None:
            criterion = _criterion(self.criterion_fn, None, who)
            per_pixel = criterion(self.output, target)
            per_sample = per_pixel.reshape(per_pixel.shape[0], -1).mean(dim=1)
        elif self.loss_name == "dice":
            per_sample = dice_loss_per_sample(self.output, target)
        else:
            per_sample = F.cross_entropy(self.output, target, reduction="none").reshape(target.shape[0], -1).mean(dim=1)
        loss = self._weighted_mean(per_sample, batch, output_name)
        with torch.no_grad():
            prediction = self.output.argmax(dim=1)
            accuracy = (prediction == target).reshape(target.shape[0], -1).float().mean(dim=1)
            dice = 1 - dice_loss_per_sample(self.output.detach(), target, smooth=1e-6)
        collect = {"loss": per_sample.detach(), "accuracy": accuracy, "dice": dice}
        if self.collect_output:
            collect.update(output=prediction, output_truth=target)
        return OutputEvaluation(loss=loss, collect=collect)

    @classmethod
    def metrics(cls, collected):
        metrics = super().metrics(collected)
        for name in ("accuracy", "dice"):
            if len(collected.get(name, ())):
                metrics[name] = float(np.mean(collected[name]))
        return metrics


class OutputEmbedding(Output):
    """An intermediate tensor to collect (e.g. for the embedding projector); it has no loss."""

    def __init__(self, output: torch.Tensor):
        super().__init__(output)

    def evaluate(self, batch, output_name):
        return OutputEvaluation(loss=None, collect={"output": self.output.detach()})
