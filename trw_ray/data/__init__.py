"""Input pipelines: sequences of dict batches.

``SequenceArray`` keeps everything in RAM and needs no Ray. The Ray Data pipelines (map, async reservoir)
live in their own modules and import Ray only when used.
"""

from __future__ import annotations

from trw_ray.data.sequence import Sequence
from trw_ray.data.sequence_array import SequenceArray
from trw_ray.data.sequence_async_reservoir import SequenceAsyncReservoir
from trw_ray.data.sequence_map import SequenceMap, SequenceMapError
from trw_ray.data.sequence_ops import (
    SequenceBatch,
    SequenceCollate,
    SequenceFromDataLoader,
    SequenceMaxSamples,
    SequenceRebatch,
    SequenceSubBatch,
)

__all__ = [
    "Sequence", "SequenceArray", "SequenceAsyncReservoir", "SequenceBatch", "SequenceCollate",
    "SequenceFromDataLoader", "SequenceMap", "SequenceMapError", "SequenceMaxSamples", "SequenceRebatch",
    "SequenceSubBatch",
]
