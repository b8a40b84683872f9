"""Input pipelines: sequences of dict batches.

``SequenceArray`` keeps everything in RAM and needs no Ray. The Ray Data pipelines (map, async reservoir)
live in their own modules and import Ray only when used. The names below load on first use, so a pipeline
worker that imports ``trw_ray.data.map_worker`` does not load torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Sequence": "trw_ray.data.sequence",
    "SequenceArray": "trw_ray.data.sequence_array",
    "SequenceAsyncReservoir": "trw_ray.data.sequence_async_reservoir",
    "SequenceMap": "trw_ray.data.sequence_map",
    "SequenceMapError": "trw_ray.data.map_worker",
    "SequenceBatch": "trw_ray.data.sequence_ops",
    "SequenceCollate": "trw_ray.data.sequence_ops",
    "SequenceFromDataLoader": "trw_ray.data.sequence_ops",
    "SequenceMaxSamples": "trw_ray.data.sequence_ops",
    "SequenceRebatch": "trw_ray.data.sequence_ops",
    "SequenceSubBatch": "trw_ray.data.sequence_ops",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trw_ray.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = list(_EXPORTS)
