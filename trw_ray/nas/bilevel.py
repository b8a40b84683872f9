"""The bilevel split DARTS' architect trains on: the training samples halved, one half for the supernet's weights,
the other (split ``arch``) for its architecture parameters (:class:`~trw_ray.nas.architect.ArchitectStep`).
Torch-free, so that the settings' checks and the driver import it without torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trw_ray import checks
from trw_ray.layout import TRAIN_SPLIT

ARCH_SPLIT = "arch"  # the half of the training samples the architecture trains on (bilevel_split)
ORDERS = ("first", "second")

__all__ = ["ARCH_SPLIT", "ORDERS", "bilevel_split"]


def bilevel_split(datasets: Mapping[str, Mapping[str, Any]], split: str = TRAIN_SPLIT, arch_split: str = ARCH_SPLIT,
                  fraction: float = 0.5, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``datasets`` with each dataset's ``split`` halved: ``fraction`` of its samples (drawn with ``seed``) move to a
    new split ``arch_split`` that the architect trains on, the rest stay for the weights. Other splits are kept.

    Raises:
        ValueError: a split too small to halve, a split that is not an in-RAM ``SequenceArray`` (give the
            architecture its own split and ``ArchitectStep(arch_split=...)`` instead), a taken ``arch_split`` name.
    """
    import numpy as np

    from trw_ray.data.sequence_array import SequenceArray

    if not (checks.is_finite_number(fraction) and 0 < fraction < 1):
        raise ValueError(f"fraction: expected a number in (0, 1); got {fraction!r}")
    halved: dict[str, dict[str, Any]] = {}
    for dataset, splits in datasets.items():
        if split not in splits:
            raise ValueError(f"split: dataset {dataset!r} has no split {split!r}; its splits: {sorted(splits)}")
        if arch_split in splits:
            raise ValueError(f"arch_split: dataset {dataset!r} already has a split {arch_split!r}; pass it to "
                             "ArchitectStep(arch_split=...) instead of halving the training split")
        sequence = splits[split]
        if not isinstance(sequence, SequenceArray):
            raise ValueError(f"split: {dataset!r}/{split!r} is a {type(sequence).__name__}; only an in-RAM "
                             "SequenceArray can be halved. Give the architecture its own split instead")
        count = sequence.num_samples
        moved = int(round(count * fraction))
        if count < 2 or moved < 1 or moved >= count:
            raise ValueError(f"split: {dataset!r}/{split!r} has {count} samples, too few to halve with fraction "
                             f"{fraction} (each half needs at least one)")
        order = np.random.default_rng([seed, 104729]).permutation(count)
        kept = dict(splits)
        kept[split] = sequence.subset(np.sort(order[moved:]))
        kept[arch_split] = sequence.subset(np.sort(order[:moved]))
        halved[dataset] = kept
    return halved
