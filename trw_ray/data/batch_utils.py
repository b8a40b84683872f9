"""Helpers on dict batches: length, validation, slicing and concatenation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trw_ray.lazy_import import is_tensor

_SEQUENCE_TYPES = (np.ndarray, list, tuple)


def batch_length(batch: Mapping[str, Any], who: str = "batch") -> int:
    """The number of samples of a batch; ValueError naming the features when their lengths differ."""
    if not isinstance(batch, Mapping):
        raise TypeError(f"{who}: expected a dict {{feature_name: values}}; got {type(batch).__name__}")
    lengths = {name: len(value) for name, value in batch.items()
               if (isinstance(value, _SEQUENCE_TYPES) or is_tensor(value)) and getattr(value, "ndim", 1) > 0}
    if not lengths:
        raise ValueError(f"{who}: no feature with a sample dimension; features: {sorted(batch)}")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{who}: every feature must have the same number of samples; got {lengths}")
    return next(iter(lengths.values()))


def slice_batch(batch: Mapping[str, Any], start: int, stop: int) -> dict[str, Any]:
    return {name: value[start:stop] if isinstance(value, _SEQUENCE_TYPES) or is_tensor(value) else value
            for name, value in batch.items()}


def concatenate_batches(batches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = batches[0]
    joined = {}
    for name, value in first.items():
        values = [batch[name] for batch in batches]
        if is_tensor(value):
            import torch

            joined[name] = torch.cat([torch.as_tensor(v) for v in values])
        elif isinstance(value, np.ndarray):
            joined[name] = np.concatenate(values)
        elif isinstance(value, (list, tuple)):
            joined[name] = [item for v in values for item in v]
        else:
            joined[name] = value
    return joined


def to_tensors(batch: Mapping[str, Any]) -> dict[str, Any]:
    """Numeric numpy arrays become tensors (zero-copy when writable, e.g. not straight from Ray's object
    store); everything else passes."""
    import torch

    converted = {}
    for name, value in batch.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value = np.ascontiguousarray(value)
            value = torch.from_numpy(value if value.flags.writeable else value.copy())
        converted[name] = value
    return converted
