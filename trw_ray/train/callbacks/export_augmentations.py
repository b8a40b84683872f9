"""``augmentations/<dataset>/``: the same samples (by ``sample_uid``) before and after augmentation.

For every split whose sequence augments (it has ``augment(batch, epoch)`` and ``samples_by_uid``, as
``SequenceMap`` and ``SequenceAsyncReservoir`` do), one grid per split: a row per sample, its original first,
then its augmentations at successive epochs, computed exactly as the workers compute them.
"""

from __future__ import annotations

import numpy as np
import torch

from trw_ray import layout
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.batch_features import first_image_feature

plots = lazy_module("trw_ray.reports.plots")


class CallbackExportAugmentations(Callback):
    def __init__(self, max_samples: int = 6, num_augmentations: int = 5, strict: bool = False):
        super().__init__(strict=strict)
        self.max_samples, self.num_augmentations = max_samples, num_augmentations

    def __call__(self, context: TrainerContext) -> None:
        if context.epoch != 1:
            return
        for dataset, splits in context.datasets.items():
            for split, sequence in splits.items():
                if not (callable(getattr(sequence, "augment", None)) and callable(getattr(sequence, "samples_by_uid", None))):
                    continue
                seen = context.split_samples.get(dataset, {}).get(split, {})
                if "sample_uid" not in seen:
                    continue
                uids = np.asarray(seen["sample_uid"]).reshape(-1)[: self.max_samples]
                original = sequence.samples_by_uid(uids)
                image_name = first_image_feature(original)
                if image_name is None:
                    continue
                versions = [sequence.augment(dict(original), epoch)[image_name] for epoch in range(self.num_augmentations)]
                images, titles = [], []
                for row, uid in enumerate(uids):
                    images.append(np.asarray(original[image_name][row]))
                    titles.append(f"uid {uid}\noriginal")
                    for epoch, version in enumerate(versions):
                        value = version[row]
                        images.append(value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value))
                        titles.append(f"uid {uid}\nepoch {epoch}")
                plots.plot_image_grid(images, titles,
                                      context.run_dir / layout.AUGMENTATIONS_FOLDER / dataset / f"{dataset}_{split}_augmentations.png",
                                      title=f"{dataset}/{split}: original and augmented samples",
                                      columns=1 + self.num_augmentations)
