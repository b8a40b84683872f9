"""What ``Trainer.fit`` is given, checked and normalized: the datasets and the optimizers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch


def normalize_optimizers(returned: Any, datasets: Mapping) -> tuple[dict, dict]:
    if returned is None:
        return {}, {}
    optimizers, schedulers = (returned if isinstance(returned, tuple) and len(returned) == 2 else (returned, None))
    if isinstance(optimizers, torch.optim.Optimizer):
        optimizers = {name: optimizers for name in datasets}
    if not isinstance(optimizers, Mapping) or not all(isinstance(o, torch.optim.Optimizer) for o in optimizers.values()):
        raise TypeError(
            "optimizers_fn: expected an optimizer, a dict {dataset: optimizer} or a tuple (optimizers, schedulers); "
            f"got {type(returned).__name__}"
        )
    if schedulers is None:
        schedulers = {}
    elif not isinstance(schedulers, Mapping):
        schedulers = {name: schedulers for name in optimizers}
    return dict(optimizers), dict(schedulers)


def validate_datasets(datasets: Any) -> dict[str, dict[str, Iterable]]:
    expected = "inputs_fn must return {dataset_name: {split_name: sequence of dict batches}}"
    if not isinstance(datasets, Mapping) or not datasets:
        raise TypeError(f"{expected}; got {type(datasets).__name__} {datasets!r:.80}")
    for dataset_name, splits in datasets.items():
        if not isinstance(splits, Mapping) or not splits:
            raise TypeError(f"{expected}; dataset {dataset_name!r} has {type(splits).__name__} {splits!r:.80}")
        for split_name, split in splits.items():
            if not isinstance(split, Iterable) or isinstance(split, (str, bytes, Mapping)):
                raise TypeError(f"{expected}; {dataset_name!r}/{split_name!r} is a {type(split).__name__}")
    return {name: dict(splits) for name, splits in datasets.items()}
