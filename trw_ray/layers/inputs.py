"""``Input``: a feature of the batch entering the network."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trw_ray.layers.node import Node


class Input(Node):
    """A batch feature, e.g. ``Input([None, 1, 28, 28], 'images')``. Integer tensors are cast to float32.

    Args:
        shape: the feature's shape with ``None`` for the batch dimension.
        feature_name: the key of the feature in the batch.
    """

    def __init__(self, shape: Sequence[int | None], feature_name: str):
        super().__init__([], {"shape": list(shape) if isinstance(shape, Sequence) else shape,
                              "feature_name": feature_name})
        if (not isinstance(shape, Sequence) or len(shape) < 2 or shape[0] is not None
                or not all(isinstance(d, int) and d > 0 for d in shape[1:])):
            raise ValueError(f"{self.label}: shape must be [None, d1, ...] with positive ints after the batch "
                             f"dimension; got {shape!r}")
        if not isinstance(feature_name, str) or not feature_name:
            raise ValueError(f"{self.label}: feature_name must be a non-empty str; got {feature_name!r}")
        self.feature_name = feature_name
        self.shape = list(shape)

    def forward(self, module, inputs, batch):
        try:
            value = batch[self.feature_name]
        except KeyError:
            raise KeyError(f"{self.label}: the batch has no feature {self.feature_name!r}; "
                           f"features present: {sorted(map(str, batch.keys()))}") from None
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value)
        if value.dim() != len(self.shape) or list(value.shape[1:]) != self.shape[1:]:
            raise ValueError(f"{self.label}: feature {self.feature_name!r} has shape {list(value.shape)}; "
                             f"declared {self.shape}")
        if not value.is_floating_point():
            value = value.float()
        return value
