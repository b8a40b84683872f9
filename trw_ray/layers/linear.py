"""Fully connected layer."""

from __future__ import annotations

import torch

from trw_ray.layers.node import Node


class Linear(Node):
    """``Linear(node, out_features)`` on a (N, features) input (use ``Flatten`` first for images)."""

    def __init__(self, node: Node, out_features: int, bias: bool = True):
        super().__init__([node], {"out_features": out_features, "bias": bias})
        shape = node.shape
        if len(shape) != 2:
            raise ValueError(f"{self.label}: input shape {shape} does not fit; Linear needs a 2-D input "
                             f"[None, features] (add Flatten before it)")
        if not isinstance(out_features, int) or out_features < 1:
            raise ValueError(f"{self.label}: out_features must be an integer >= 1; got {out_features!r}")
        self.in_features = shape[1]
        self.shape = [None, out_features]

    def create_module(self):
        return torch.nn.Linear(self.in_features, self.args["out_features"], bias=self.args["bias"])
