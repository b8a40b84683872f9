"""Augmentations: per-sample, seeded, numpy or torch.

Every transform works on one sample (a dict of features without the batch dimension) with a
``numpy.random.Generator``; :func:`sample_rng` derives that generator from ``(seed, epoch, sample_uid)``, so an
augmented batch is the same whichever worker computes it and however many workers there are.
:class:`TransformBatch` applies a transform to every sample of a batch and is what ``Sequence.map`` runs.

Examples:
    >>> augment = Compose([RandomCropPad(padding=2), RandomFlip(axis=-1), Noise(std=0.05)])
    >>> sequence = trw.train.SequenceArray(split, batch_size=64).map(TransformBatch(augment, seed=0))
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trw_ray.checks import positive_int
from trw_ray.lazy_import import is_tensor


def sample_rng(seed: int, epoch: int, sample_uid: int) -> np.random.Generator:
    """The generator of one sample's augmentation at one epoch."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(sample_uid) & 0xFFFFFFFFFFFF])


def _to_numpy(value: Any) -> tuple[np.ndarray, bool]:
    if is_tensor(value):
        return value.detach().cpu().numpy(), True
    return np.asarray(value), False


def _like(value: np.ndarray, was_torch: bool, dtype) -> Any:
    value = value.astype(dtype, copy=False) if np.dtype(dtype).kind != "f" or value.dtype != dtype else value
    return _from_numpy(np.ascontiguousarray(value)) if was_torch else value


def _from_numpy(value: np.ndarray) -> Any:
    import torch  # loaded already: the value came as a tensor

    return torch.from_numpy(value)


class Transform(abc.ABC):
    """A per-sample transform of the features named in ``feature_names``.

    Subclasses implement :meth:`apply` on a channel-first numpy array (C, ...spatial); the base class handles
    torch tensors, dtype and feature selection.
    """

    def __init__(self, feature_names: Sequence[str] = ("images",)):
        if isinstance(feature_names, str):
            feature_names = [feature_names]
        self.feature_names = list(feature_names)

    @abc.abstractmethod
    def apply(self, array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The transformed array (same rank; float arrays stay float)."""

    def __call__(self, sample: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        transformed = dict(sample)
        for name in self.feature_names:
            if name not in sample:
                raise KeyError(f"{type(self).__name__}: the sample has no feature {name!r}; "
                               f"features present: {sorted(sample)}")
            array, was_torch = _to_numpy(sample[name])
            result = self.apply(array, rng)
            if array.dtype.kind in "iu":
                info = np.iinfo(array.dtype)
                result = np.clip(np.rint(result), info.min, info.max)
            transformed[name] = _like(result, was_torch, array.dtype)
        return transformed


class Compose(Transform):
    """Applies ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Transform]):
        super().__init__([])
        for transform in transforms:
            if not callable(transform):
                raise TypeError(f"transforms: expected transforms; got {transform!r}")
        self.transforms = list(transforms)

    def apply(self, array, rng):  # a Compose works on samples, not arrays
        return array

    def __call__(self, sample, rng):
        for transform in self.transforms:
            sample = transform(sample, rng)
        return sample


class RandomCropPad(Transform):
    """Pads each spatial side by ``padding`` (``mode`` as ``numpy.pad``) then crops back to the original size
    at a random offset: a random translation of up to ``padding`` pixels."""

    def __init__(self, padding: int, feature_names=("images",), mode: str = "constant"):
        super().__init__(feature_names)
        positive_int(padding, "padding", 0)
        self.padding, self.mode = padding, mode

    def apply(self, array, rng):
        spatial = array.ndim - 1
        padded = np.pad(array, [(0, 0)] + [(self.padding, self.padding)] * spatial, mode=self.mode)
        offsets = rng.integers(0, 2 * self.padding + 1, size=spatial)
        slices = tuple(slice(o, o + s) for o, s in zip(offsets, array.shape[1:], strict=False))
        return padded[(slice(None), *slices)]


class RandomFlip(Transform):
    """Flips along ``axis`` (of the sample, channel first; -1 = width) with probability ``probability``."""

    def __init__(self, axis: int = -1, probability: float = 0.5, feature_names=("images",)):
        super().__init__(feature_names)
        if not 0 <= probability <= 1:
            raise ValueError(f"probability: expected a number in [0, 1]; got {probability!r}")
        self.axis, self.probability = axis, probability

    def apply(self, array, rng):
        return np.flip(array, axis=self.axis).copy() if rng.random() < self.probability else array


class RandomAffine(Transform):
    """A small random affine transform of 2-D images (C, H, W): rotation up to ``max_rotation`` degrees, scale
    in ``[1 - max_scale, 1 + max_scale]``, translation up to ``max_translation`` pixels; linear interpolation."""

    def __init__(self, max_rotation: float = 10.0, max_scale: float = 0.1, max_translation: float = 2.0,
                 feature_names=("images",)):
        super().__init__(feature_names)
        if max_rotation < 0 or not 0 <= max_scale < 1 or max_translation < 0:
            raise ValueError(f"RandomAffine: expected max_rotation >= 0, 0 <= max_scale < 1, max_translation >= 0; "
                             f"got ({max_rotation=}, {max_scale=}, {max_translation=})")
        self.max_rotation, self.max_scale, self.max_translation = max_rotation, max_scale, max_translation

    def apply(self, array, rng):
        if array.ndim != 3:
            raise ValueError(f"RandomAffine: expects (C, H, W) samples; got shape {array.shape}")
        angle = math.radians(rng.uniform(-self.max_rotation, self.max_rotation))
        scale = rng.uniform(1 - self.max_scale, 1 + self.max_scale)
        shift = rng.uniform(-self.max_translation, self.max_translation, size=2)
        matrix = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) / scale
        center = (np.array(array.shape[1:]) - 1) / 2
        offset = center - matrix @ (center + shift)
        source = array.astype(np.float32, copy=False)
        from scipy import ndimage

        return np.stack([ndimage.affine_transform(channel, matrix, offset=offset, order=1, mode="constant")
                         for channel in source])


class Noise(Transform):
    """Adds gaussian noise of standard deviation ``std`` (in the feature's units)."""

    def __init__(self, std: float, feature_names=("images",)):
        super().__init__(feature_names)
        if not std >= 0:
            raise ValueError(f"std: expected a number >= 0; got {std!r}")
        self.std = std

    def apply(self, array, rng):
        return array.astype(np.float32, copy=False) + rng.normal(0, self.std, size=array.shape).astype(np.float32)


class Cutout(Transform):
    """Sets a random ``size`` x ``size`` square (all channels) to ``value`` (DeVries & Taylor 2017)."""

    def __init__(self, size: int, value: float = 0.0, feature_names=("images",)):
        super().__init__(feature_names)
        positive_int(size, "size")
        self.size, self.value = size, value

    def apply(self, array, rng):
        result = array.copy()
        centers = [int(rng.integers(0, s)) for s in array.shape[1:]]
        slices = tuple(slice(max(0, c - self.size // 2), c - self.size // 2 + self.size) for c in centers)
        result[(slice(None), *slices)] = self.value
        return result


class Normalize(Transform):
    """``(x - mean) / std`` per channel (scalars or one value per channel); the result is float32."""

    def __init__(self, mean, std, feature_names=("images",)):
        super().__init__(feature_names)
        std_array = np.asarray(std, dtype=np.float32)
        if np.any(std_array <= 0):
            raise ValueError(f"std: expected values > 0; got {std!r}")
        self.mean, self.std = np.asarray(mean, dtype=np.float32), std_array

    def apply(self, array, rng):
        shape = (-1,) + (1,) * (array.ndim - 1)
        return (array.astype(np.float32) - self.mean.reshape(shape)) / self.std.reshape(shape)

    def __call__(self, sample, rng):
        transformed = dict(sample)
        for name in self.feature_names:
            array, was_torch = _to_numpy(sample[name])
            result = self.apply(array, rng)
            transformed[name] = _from_numpy(result) if was_torch else result
        return transformed


class TransformBatch:
    """Applies a per-sample transform to every sample of a batch, each with :func:`sample_rng`.

    ``batch['sample_uid']`` identifies the samples; the epoch comes from the sequence that runs it (``epoch``
    argument). Features not touched by the transform pass unchanged.
    """

    def __init__(self, transform: Transform, seed: int = 0):
        if not callable(transform):
            raise TypeError(f"transform: expected a callable (sample, rng) -> sample; got {transform!r}")
        self.transform, self.seed = transform, seed

    def __call__(self, batch: Mapping[str, Any], epoch: int = 0) -> dict[str, Any]:
        if "sample_uid" not in batch:
            raise KeyError(f"TransformBatch: the batch needs 'sample_uid' to seed each sample; features: {sorted(batch)}")
        uids = np.asarray(batch["sample_uid"]).reshape(-1)
        samples = [self.transform({name: value[index] for name, value in batch.items()},
                                  sample_rng(self.seed, epoch, uid)) for index, uid in enumerate(uids)]
        collated = {}
        for name, value in batch.items():
            values = [sample[name] for sample in samples]
            if is_tensor(value):
                import torch

                collated[name] = torch.stack([torch.as_tensor(v) for v in values])
            elif isinstance(value, np.ndarray):
                collated[name] = np.stack(values)
            else:
                collated[name] = values
        return collated
