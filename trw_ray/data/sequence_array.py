"""In-RAM sequence: a dict of equal-length arrays served as shuffled dict batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from trw_ray.data.sequence import Batch, Sequence, epoch_permutation, positive_int

SAMPLE_UID = "sample_uid"


def _length(name: str, values: Any) -> int:
    if isinstance(values, (np.ndarray, torch.Tensor)):
        if values.ndim == 0:
            raise ValueError(f"split: feature {name!r} must have a sample dimension; got a scalar")
        return int(values.shape[0])
    if isinstance(values, (list, tuple)):
        return len(values)
    raise TypeError(
        f"split: feature {name!r} must be a numpy array, torch tensor, list or tuple; got {type(values).__name__}"
    )


def _with_row_major_strides(values: Any) -> Any:
    """A copy with row-major strides when a size-1 axis has an odd stride (e.g. made by ``[:, None]``):
    torch would read such a tensor as channels-last and convolutions would return channels-last outputs."""
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
        return values
    expected, step = [], values.itemsize
    for size in reversed(values.shape):
        expected.append(step)
        step *= size
    if tuple(reversed(expected)) != values.strides:
        return np.array(values, order="C", copy=True)
    return values


def _take(values: Any, indices: np.ndarray, start: int, stop: int, contiguous: bool) -> Any:
    if isinstance(values, np.ndarray):
        chunk = values[start:stop] if contiguous else values[indices]
        if chunk.dtype.kind in "biuf":
            return torch.from_numpy(np.ascontiguousarray(chunk))
        return chunk
    if isinstance(values, torch.Tensor):
        return values[start:stop] if contiguous else values[torch.from_numpy(indices)]
    return [values[i] for i in indices]


class SequenceArray(Sequence):
    """Serves a dict of in-RAM arrays as dict batches of tensors.

    Every sample gets a stable ``sample_uid`` (its row index unless the split already has one) that follows
    it through shuffling, augmentation and reports. Shuffling is seeded and differs per epoch:
    epoch ``e`` uses the permutation of ``numpy.random.default_rng([seed, e])``.

    Args:
        split: ``{feature_name: array}``; numpy arrays and tensors (numeric numpy arrays become tensors),
            lists for anything else (e.g. file names). All features have the same length.
        batch_size: samples per batch.
        shuffle: shuffle the samples at each epoch.
        seed: seed of the shuffling.
        drop_last: drop the last, incomplete batch.
        class_names: ``{feature_name: [name of class 0, name of class 1, ...]}`` for the reports.

    Examples:
        >>> seq = SequenceArray({'x': np.zeros((10, 3)), 'y': np.arange(10)}, batch_size=4)
        >>> [len(b['y']) for b in seq]
        [4, 4, 2]
    """

    def __init__(
        self,
        split: Mapping[str, Any],
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        class_names: Mapping[str, list[str]] | None = None,
    ):
        if not isinstance(split, Mapping) or not split:
            raise ValueError(f"split: expected a non-empty dict of features; got {split!r:.100}")
        positive_int(batch_size, "batch_size")
        lengths = {name: _length(name, values) for name, values in split.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"split: every feature must have the same number of samples; got {lengths}")
        self.num_samples = next(iter(lengths.values()))
        if self.num_samples == 0:
            raise ValueError(f"split: the split is empty (features {sorted(lengths)} have 0 samples)")
        self.split = {name: _with_row_major_strides(values) for name, values in split.items()}
        if SAMPLE_UID not in self.split:
            self.split[SAMPLE_UID] = np.arange(self.num_samples, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.class_names = {name: list(names) for name, names in (class_names or {}).items()}
        self.epoch = 0

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def samples_by_uid(self, sample_uids) -> Batch:
        """The (un-augmented) samples with these ``sample_uid`` values, as one batch in the given order.

        Raises:
            KeyError: a uid is not in this sequence.
        """
        if not hasattr(self, "_row_of_uid"):
            uids = np.asarray(self.split[SAMPLE_UID])
            self._row_of_uid = {int(uid): row for row, uid in enumerate(uids.tolist())}
        try:
            rows = np.asarray([self._row_of_uid[int(uid)] for uid in np.asarray(sample_uids).reshape(-1)], dtype=np.int64)
        except KeyError as error:
            raise KeyError(f"sample_uids: {error.args[0]} is not a sample of this sequence") from None
        return {name: _take(values, rows, 0, 0, False) for name, values in self.split.items()}

    def subset(self, rows: Any, shuffle: bool | None = None, seed: int | None = None) -> SequenceArray:
        """A new sequence of the samples at ``rows`` (their ``sample_uid`` kept), same batch size and class names."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size == 0:
            raise ValueError("rows: expected at least one sample")
        if rows.min() < 0 or rows.max() >= self.num_samples:
            raise ValueError(f"rows: expected indices in [0, {self.num_samples}); got {rows.min()}..{rows.max()}")
        split = {name: values[rows] if isinstance(values, np.ndarray) else
                 (values[torch.from_numpy(rows)] if isinstance(values, torch.Tensor) else [values[i] for i in rows])
                 for name, values in self.split.items()}
        return SequenceArray(split, batch_size=self.batch_size, shuffle=self.shuffle if shuffle is None else shuffle,
                             seed=self.seed if seed is None else seed, drop_last=self.drop_last,
                             class_names=self.class_names)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch`` (identity when not shuffling)."""
        return epoch_permutation(self.num_samples, self.seed, epoch, self.shuffle)

    def __iter__(self) -> Iterator[Batch]:
        return self.iterate_batches()

    def iterate_batches(self, first: int = 0, stride: int = 1) -> Iterator[Batch]:
        """One epoch's batches ``first, first + stride, ...`` (a data-parallel rank's share; all by default)."""
        order = self.epoch_order(self.epoch)
        self.epoch += 1
        contiguous = not self.shuffle
        for start in range(first * self.batch_size, self.num_samples, self.batch_size * stride):
            stop = min(start + self.batch_size, self.num_samples)
            if self.drop_last and stop - start < self.batch_size:
                break
            indices = order[start:stop]
            yield {name: _take(values, indices, start, stop, contiguous) for name, values in self.split.items()}
