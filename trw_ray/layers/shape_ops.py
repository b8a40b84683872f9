"""Operations on shapes and on several inputs: Flatten, Reshape, ConcatChannels, Add, and Dropout."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from trw_ray.layers.node import Node


class Dropout(Node):
    """Zeroes inputs with probability ``p`` in training."""

    def __init__(self, node: Node, p: float = 0.5):
        super().__init__([node], {"p": p})
        if not 0 <= p < 1:
            raise ValueError(f"{self.label}: p must be in [0, 1); got {p!r}")
        self.shape = list(node.shape)

    def create_module(self):
        return torch.nn.Dropout(self.args["p"])


class Flatten(Node):
    """[None, d1, d2, ...] -> [None, d1 * d2 * ...]."""

    def __init__(self, node: Node):
        super().__init__([node], {})
        self.shape = [None, math.prod(node.shape[1:])]

    def forward(self, module, inputs, batch):
        return inputs[0].flatten(1)


class Reshape(Node):
    """``Reshape(node, [d1, d2, ...])`` (batch dimension excluded; one ``-1`` may stand for the rest)."""

    def __init__(self, node: Node, shape: Sequence[int]):
        super().__init__([node], {"shape": list(shape)})
        size = math.prod(node.shape[1:])
        target = list(shape)
        if not target or not all(isinstance(d, int) and (d > 0 or d == -1) for d in target) or target.count(-1) > 1:
            raise ValueError(f"{self.label}: shape must be positive ints with at most one -1; got {shape!r}")
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if size % known:
                raise ValueError(f"{self.label}: cannot reshape {node.shape} ({size} values per sample) to {target}")
            target[target.index(-1)] = size // known
        elif known != size:
            raise ValueError(f"{self.label}: cannot reshape {node.shape} ({size} values per sample) to {target} "
                             f"({known} values)")
        self.target = target
        self.shape = [None, *target]

    def forward(self, module, inputs, batch):
        return inputs[0].reshape(inputs[0].shape[0], *self.target)


def _check_same_rank(label: str, nodes: Sequence[Node]) -> None:
    if not isinstance(nodes, Sequence) or len(nodes) < 2:
        raise ValueError(f"{label}: needs a list of at least 2 nodes; got {nodes!r}")
    ranks = {len(node.shape) for node in nodes}
    if len(ranks) != 1:
        raise ValueError(f"{label}: inputs must have the same number of dimensions; got {[n.shape for n in nodes]}")


class ConcatChannels(Node):
    """Concatenates ``[node, node, ...]`` along the channel dimension; the other dimensions must agree."""

    def __init__(self, nodes: Sequence[Node]):
        super().__init__(list(nodes) if isinstance(nodes, Sequence) else [nodes], {})
        _check_same_rank(self.label, nodes)
        shapes = [node.shape for node in nodes]
        if len({tuple(shape[2:]) for shape in shapes}) != 1:
            raise ValueError(f"{self.label}: inputs must have the same sizes except channels; got {shapes}")
        self.shape = [None, sum(shape[1] for shape in shapes), *shapes[0][2:]]

    def forward(self, module, inputs, batch):
        return torch.cat(inputs, dim=1)

    @classmethod
    def from_description(cls, parents, args):
        return cls(parents, **args)


class Add(Node):
    """Sums ``[node, node, ...]`` of identical shapes (e.g. a residual connection)."""

    def __init__(self, nodes: Sequence[Node]):
        super().__init__(list(nodes) if isinstance(nodes, Sequence) else [nodes], {})
        _check_same_rank(self.label, nodes)
        shapes = [node.shape for node in nodes]
        if any(shape != shapes[0] for shape in shapes):
            raise ValueError(f"{self.label}: inputs must have the same shape; got {shapes}")
        self.shape = list(shapes[0])

    def forward(self, module, inputs, batch):
        total = inputs[0]
        for value in inputs[1:]:
            total = total + value
        return total

    @classmethod
    def from_description(cls, parents, args):
        return cls(parents, **args)
