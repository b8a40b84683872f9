"""Sequence wrappers that reshape the stream of batches (TRW's chaining): ``batch``, ``rebatch``,
``sub_batch``, ``max_samples``, ``collate``, and an adaptor for a torch ``DataLoader``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch

from trw_ray.data.batch_utils import batch_length, concatenate_batches, slice_batch, to_tensors
from trw_ray.data.sequence import Batch, Sequence, positive_int


class _Wrapper(Sequence):
    def __init__(self, source: Iterable):
        if not isinstance(source, Iterable):
            raise TypeError(f"source: expected a sequence of dict batches; got {type(source).__name__}")
        self.source = source
        self.class_names = getattr(source, "class_names", {})

    def samples_by_uid(self, sample_uids) -> Batch:
        return self.source.samples_by_uid(sample_uids)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if callable(close):
            close()


class SequenceBatch(_Wrapper):
    """Concatenates every ``num_batches`` consecutive batches into one."""

    def __init__(self, source: Iterable, num_batches: int):
        super().__init__(source)
        self.num_batches = positive_int(num_batches, "num_batches")

    def __iter__(self) -> Iterator[Batch]:
        pending = []
        for batch in self.source:
            pending.append(batch)
            if len(pending) == self.num_batches:
                yield concatenate_batches(pending)
                pending = []
        if pending:
            yield concatenate_batches(pending)


class SequenceRebatch(_Wrapper):
    """Re-cuts the stream into batches of exactly ``batch_size`` samples (the last one may be smaller)."""

    def __init__(self, source: Iterable, batch_size: int):
        super().__init__(source)
        self.batch_size = positive_int(batch_size, "batch_size")

    def __iter__(self) -> Iterator[Batch]:
        pending, count = [], 0
        for batch in self.source:
            pending.append(batch)
            count += batch_length(batch)
            while count >= self.batch_size:
                joined = concatenate_batches(pending)
                yield slice_batch(joined, 0, self.batch_size)
                rest = slice_batch(joined, self.batch_size, count)
                count -= self.batch_size
                pending = [rest] if count else []
        if count:
            yield concatenate_batches(pending)


class SequenceSubBatch(_Wrapper):
    """Splits each batch into batches of at most ``max_batch_size`` samples (e.g. to fit GPU memory)."""

    def __init__(self, source: Iterable, max_batch_size: int):
        super().__init__(source)
        self.max_batch_size = positive_int(max_batch_size, "max_batch_size")

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.source:
            size = batch_length(batch)
            for start in range(0, size, self.max_batch_size):
                yield slice_batch(batch, start, min(start + self.max_batch_size, size))


class SequenceMaxSamples(_Wrapper):
    """A virtual epoch of ``max_samples`` samples: the source's iteration continues across epochs (restarting
    it when exhausted), so an endless source (a reservoir) has epochs, and a long one shorter epochs. A batch
    cut at the end of an epoch starts the next one with its remaining samples."""

    def __init__(self, source: Iterable, max_samples: int):
        super().__init__(source)
        self.max_samples = positive_int(max_samples, "max_samples")
        self._iterator: Iterator | None = None
        self._leftover: Batch | None = None

    def __iter__(self) -> Iterator[Batch]:
        served, restarts = 0, 0
        while served < self.max_samples:
            if self._leftover is not None:
                batch, self._leftover = self._leftover, None
            else:
                if self._iterator is None:
                    self._iterator = iter(self.source)
                try:
                    batch = next(self._iterator)
                except StopIteration:
                    self._iterator = None
                    restarts += 1
                    if restarts > 1 and served == 0:
                        raise ValueError("max_samples: the source yields no batch") from None
                    continue
            size = batch_length(batch)
            if served + size > self.max_samples:
                keep = self.max_samples - served
                self._leftover = slice_batch(batch, keep, size)
                batch, size = slice_batch(batch, 0, keep), keep
            served += size
            yield batch


class SequenceCollate(_Wrapper):
    """Turns numeric arrays into tensors and, with a ``device``, moves them there.

    On CUDA the host tensors are pinned and copied with ``non_blocking=True`` on a side stream while the
    previous batch trains (one batch of look-ahead); the training stream waits on that copy before use.
    """

    def __init__(self, source: Iterable, device: str | torch.device | None = None, pin_memory: bool | None = None):
        super().__init__(source)
        self.device = torch.device(device) if device is not None else None
        self.pin_memory = (self.device is not None and self.device.type == "cuda") if pin_memory is None else pin_memory

    def _transfer(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        batch = to_tensors(batch)
        if self.device is None:
            return batch
        moved = {}
        for name, value in batch.items():
            if isinstance(value, torch.Tensor):
                if self.pin_memory and value.device.type == "cpu":
                    value = value.pin_memory()
                value = value.to(self.device, non_blocking=self.pin_memory)
            moved[name] = value
        return moved

    def __iter__(self) -> Iterator[Batch]:
        if self.device is None or self.device.type != "cuda":
            for batch in self.source:
                yield self._transfer(batch)
            return
        stream = torch.cuda.Stream(device=self.device)
        pending = None
        for batch in self.source:
            with torch.cuda.stream(stream):
                transferred = self._transfer(batch)
            if pending is not None:
                yield pending
            torch.cuda.current_stream(self.device).wait_stream(stream)
            for value in transferred.values():
                if isinstance(value, torch.Tensor) and value.device.type == "cuda":
                    value.record_stream(torch.cuda.current_stream(self.device))
            pending = transferred
        if pending is not None:
            yield pending


class SequenceFromDataLoader(Sequence):
    """Wraps a torch ``DataLoader`` (or any iterable) yielding dict batches, or tuples named by ``feature_names``."""

    def __init__(self, loader: Iterable, feature_names: list[str] | None = None):
        if not isinstance(loader, Iterable):
            raise TypeError(f"loader: expected an iterable such as a torch DataLoader; got {type(loader).__name__}")
        self.loader, self.feature_names = loader, feature_names

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.loader:
            if isinstance(batch, Mapping):
                yield dict(batch)
            elif isinstance(batch, (tuple, list)) and self.feature_names is not None:
                if len(batch) != len(self.feature_names):
                    raise ValueError(f"feature_names: {len(self.feature_names)} names for batches of {len(batch)} items")
                yield dict(zip(self.feature_names, batch, strict=False))
            else:
                raise TypeError(f"loader: batches must be dicts (or tuples with feature_names); got {type(batch).__name__}")


class SequenceShard(_Wrapper):
    """The batches of one rank of a data-parallel run: batches ``rank, rank + world_size, ...`` of each epoch of
    ``source``, so the ranks together see every sample of the epoch once and the global batch is ``world_size``
    batches of the source. ``source`` must yield its batches in a deterministic order (every rank iterates the
    same order): a :class:`~trw_ray.data.sequence_array.SequenceArray` (whose skipped batches are never gathered)
    or a chain of in-order wrappers over one."""

    def __init__(self, source: Iterable, rank: int, world_size: int):
        super().__init__(source)
        self.world_size = positive_int(world_size, "world_size")
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank: expected an integer in [0, {world_size}); got {rank!r}")
        self.rank = rank

    def __len__(self) -> int:
        total = len(self.source)
        return total // self.world_size + (1 if self.rank < total % self.world_size else 0)

    @property
    def num_samples(self) -> int | None:
        return getattr(self.source, "num_samples", None)

    def __iter__(self) -> Iterator[Batch]:
        from trw_ray.data.sequence_array import SequenceArray

        if type(self.source) is SequenceArray:
            yield from self.source.iterate_batches(self.rank, self.world_size)
            return
        for index, batch in enumerate(self.source):
            if index % self.world_size == self.rank:
                yield batch
