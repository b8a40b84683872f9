"""``random_samples/<dataset>/``: the first samples of each split as the model received them, image-like
features as PNG, every other feature in a text file (with class names: ``targets_str=5 - five``)."""

from __future__ import annotations

import numpy as np
import torch

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext

plots = lazy_module("trw_ray.reports.plots")


def _value_text(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return str(value.reshape(-1)[0].item())
        if value.size <= 16:
            return np.array2string(value, precision=4, separator=", ")
        return f"array shape={list(value.shape)} dtype={value.dtype} min={value.min():.4g} max={value.max():.4g}"
    return str(value)


class CallbackExportSamples(Callback):
    """Writes ``max_samples`` samples per split once, at the end of the first epoch."""

    def __init__(self, max_samples: int = 6, strict: bool = False):
        super().__init__(strict=strict)
        self.max_samples = max_samples

    def __call__(self, context: TrainerContext) -> None:
        if context.epoch != 1:
            return
        class_names_of = {}
        for output_name, target in context.output_targets.items():
            for dataset, splits in context.datasets.items():
                for split in splits:
                    names = context.class_names(dataset, split, output_name)
                    if names:
                        class_names_of[(dataset, split, target)] = names
        for dataset, splits in context.split_samples.items():
            folder = context.run_dir / layout.RANDOM_SAMPLES_FOLDER / dataset
            for split, batch in splits.items():
                count = min(self.max_samples, min(len(v) for v in batch.values() if hasattr(v, "__len__")))
                for index in range(count):
                    stem = f"{dataset}_{split}_s{index}_e0"
                    lines = []
                    images = [(name, value[index]) for name, value in batch.items()
                              if isinstance(value, torch.Tensor) and plots.to_displayable_image(value[index].numpy()) is not None]
                    for name, image in images:
                        suffix = "" if len(images) == 1 else f"_{name}"
                        plots.save_image(image.numpy(), folder / f"{stem}{suffix}.png")
                    image_names = {name for name, _ in images}
                    for name, value in batch.items():
                        if name in image_names:
                            continue
                        item = value[index] if hasattr(value, "__getitem__") and not isinstance(value, (str, bytes)) else value
                        lines.append(f"{name}={_value_text(item)}")
                        names = class_names_of.get((dataset, split, name))
                        if names is not None:
                            class_index = int(_value_text(item)) if _value_text(item).lstrip("-").isdigit() else None
                            if class_index is not None and 0 <= class_index < len(names):
                                lines.append(f"{name}_str={names[class_index]}")
                    write_text_atomic(folder / f"{stem}.txt", "\n".join(lines) + "\n")
