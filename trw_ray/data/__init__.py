"""Input pipelines: sequences of dict batches.

``SequenceArray`` keeps everything in RAM and needs no Ray. The Ray Data pipelines (map, async reservoir)
live in their own modules and import Ray only when used. The names below load on first use, so a pipeline
worker that imports ``trw_ray.data.map_worker`` does not load torch.
"""

from trw_ray.lazy_import import lazy_exports

_EXPORTS = {name: f"{module}:{name}" for module, names in {
    "trw_ray.data.sequence": ["Sequence"],
    "trw_ray.data.sequence_array": ["SequenceArray"],
    "trw_ray.data.sequence_async_reservoir": ["SequenceAsyncReservoir"],
    "trw_ray.data.sequence_map": ["SequenceMap"],
    "trw_ray.data.map_worker": ["SequenceMapError"],
    "trw_ray.data.worker_pool": ["PipelinePlacementError", "PipelineResourceWarning"],
    "trw_ray.data.sequence_ops": ["SequenceBatch", "SequenceCollate", "SequenceFromDataLoader", "SequenceMaxSamples",
                                  "SequenceRebatch", "SequenceShard", "SequenceSubBatch"],
}.items() for name in names}

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

__all__ = list(_EXPORTS)
