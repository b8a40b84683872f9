"""The interface every input pipeline implements: an iterable of dict batches, one pass per epoch."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

import numpy as np

from trw_ray.checks import positive_int

__all__ = ["Batch", "Sequence", "epoch_permutation", "positive_int"]

Batch = dict[str, Any]


def epoch_permutation(num_samples: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The sample order of ``epoch``: the permutation of ``numpy.random.default_rng([seed, epoch])``, or the
    identity without shuffling. Ray workers rebuild batches with it, so it is the single definition."""
    if not shuffle:
        return np.arange(num_samples)
    return np.random.default_rng([seed, epoch]).permutation(num_samples)


class Sequence(abc.ABC):
    """An epoch-iterable source of dict batches (``{feature_name: tensor or list}``).

    Each ``iter(sequence)`` is one epoch. Sequences that hold resources (worker actors) release them in
    :meth:`close`; the Trainer closes the sequences it was given when training ends.
    """

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Batch]:
        """Yields the batches of one epoch."""

    def close(self) -> None:  # noqa: B027 - optional hook: most sequences hold nothing
        """Releases the resources of the sequence (nothing to release by default)."""

    # ---------------------------------------------------------------- chaining (TRW's sequence API)

    def map(self, function_to_run, nb_workers: int = 2, max_jobs_at_once: int | None = None, **kwargs):
        """Applies ``function_to_run`` to each batch in Ray actors (``nb_workers=0``: inline); see SequenceMap."""
        from trw_ray.data.sequence_map import SequenceMap

        return SequenceMap(self, function_to_run, nb_workers=nb_workers, max_jobs_at_once=max_jobs_at_once, **kwargs)

    def async_reservoir(self, max_reservoir_samples: int, function_to_run=None, **kwargs):
        """Serves batches from a reservoir refilled in the background; see SequenceAsyncReservoir."""
        from trw_ray.data.sequence_async_reservoir import SequenceAsyncReservoir

        return SequenceAsyncReservoir(self, max_reservoir_samples, function_to_run, **kwargs)

    def batch(self, num_batches: int):
        """Concatenates every ``num_batches`` consecutive batches."""
        from trw_ray.data.sequence_ops import SequenceBatch

        return SequenceBatch(self, num_batches)

    def rebatch(self, batch_size: int):
        """Re-cuts the stream into batches of ``batch_size`` samples."""
        from trw_ray.data.sequence_ops import SequenceRebatch

        return SequenceRebatch(self, batch_size)

    def sub_batch(self, max_batch_size: int):
        """Splits each batch into batches of at most ``max_batch_size`` samples."""
        from trw_ray.data.sequence_ops import SequenceSubBatch

        return SequenceSubBatch(self, max_batch_size)

    def max_samples(self, max_samples: int):
        """A virtual epoch of ``max_samples`` samples."""
        from trw_ray.data.sequence_ops import SequenceMaxSamples

        return SequenceMaxSamples(self, max_samples)

    def collate(self, device=None, pin_memory: bool | None = None):
        """Tensors on ``device`` (pinned, non-blocking, one batch ahead on CUDA)."""
        from trw_ray.data.sequence_ops import SequenceCollate

        return SequenceCollate(self, device, pin_memory)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
