"""``model_summary.txt`` (layers, output shapes, parameters, size) and ``data_summary.txt`` (splits, sample
counts, feature shapes and types, class balance), written once after the first epoch."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.train.callbacks.base import Callback, TrainerContext


def _shape_of(value) -> str:
    if isinstance(value, torch.Tensor):
        return str([None, *value.shape[1:]])
    if isinstance(value, (tuple, list)):
        return ", ".join(_shape_of(v) for v in value)
    if hasattr(value, "output") and isinstance(value.output, torch.Tensor):
        return _shape_of(value.output)
    return type(value).__name__


def model_summary(model: torch.nn.Module, batch: dict) -> str:
    """A table of the leaf modules in call order with their output shapes and parameter counts."""
    rows: OrderedDict[str, tuple[str, str, int]] = OrderedDict()
    hooks = []
    for name, module in model.named_modules():
        if list(module.children()):
            continue

        def record(module, inputs, output, name=name):
            if name not in rows:
                rows[name] = (type(module).__name__, _shape_of(output), sum(p.numel() for p in module.parameters(recurse=False)))
        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(batch)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    size = sum(p.numel() * p.element_size() for p in model.parameters()) + \
        sum(b.numel() * b.element_size() for b in model.buffers())
    width = max([len(name) for name in rows] + [5])
    lines = [f"model: {type(model).__module__}.{type(model).__qualname__}", "",
             f"{'layer':<{width}}  {'type':<18} {'output shape':<24} {'parameters':>12}"]
    lines += [f"{name:<{width}}  {kind:<18} {shape:<24} {count:>12,}" for name, (kind, shape, count) in rows.items()]
    lines += ["", f"parameters: {parameters:,} ({trainable:,} trainable)", f"size: {size / 2**20:.3f} MiB (parameters and buffers)"]
    return "\n".join(lines) + "\n"


class CallbackModelSummary(Callback):
    def __call__(self, context: TrainerContext) -> None:
        if context.epoch != 1 or context.example_batch is None:
            return
        write_text_atomic(context.run_dir / layout.MODEL_SUMMARY_FILE, model_summary(context.model, context.example_batch))


class CallbackDataSummary(Callback):
    def __call__(self, context: TrainerContext) -> None:
        if context.epoch != 1:
            return
        lines = []
        for dataset, splits in context.datasets.items():
            for split, sequence in splits.items():
                collected = next(iter(context.outputs.get(dataset, {}).get(split, {}).values()), {})
                count = getattr(sequence, "num_samples", None)
                if count is None and "sample_uid" in collected:
                    count = len(collected["sample_uid"])
                lines.append(f"{dataset}/{split}: {count if count is not None else 'unknown'} samples"
                             + (f", {len(sequence)} batches" if hasattr(sequence, "__len__") else ""))
                for name, value in context.split_samples.get(dataset, {}).get(split, {}).items():
                    if isinstance(value, torch.Tensor):
                        lines.append(f"  {name}: shape {[None, *value.shape[1:]]} dtype {str(value.dtype).replace('torch.', '')}"
                                     f" range [{value.min().item():.4g}, {value.max().item():.4g}]")
                    else:
                        lines.append(f"  {name}: {type(value).__name__}")
                for output_name, values in context.outputs.get(dataset, {}).get(split, {}).items():
                    if not isinstance(values, dict) or "output_truth" not in values:
                        continue
                    truth = np.asarray(values["output_truth"])
                    if truth.dtype.kind not in "iu" or truth.ndim != 1:
                        continue
                    names = context.class_names(dataset, split, output_name) or []
                    counts = np.bincount(truth, minlength=len(names))
                    balance = ", ".join(f"{names[i] if i < len(names) else i}: {c} ({c / counts.sum():.1%})"
                                        for i, c in enumerate(counts))
                    lines.append(f"  class balance of {context.output_targets.get(output_name, output_name)!r}: {balance}")
        write_text_atomic(context.run_dir / layout.DATA_SUMMARY_FILE, "\n".join(lines) + "\n")
