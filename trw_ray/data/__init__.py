"""Input pipelines: sequences of dict batches.

``SequenceArray`` keeps everything in RAM and needs no Ray. The Ray Data pipelines (map, async reservoir)
live in their own modules and import Ray only when used.
"""

from __future__ import annotations

from trw_ray.data.sequence import Sequence
from trw_ray.data.sequence_array import SequenceArray

__all__ = ["Sequence", "SequenceArray"]
