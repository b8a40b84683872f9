"""Batch and group normalization: the output shape is the input shape."""

from __future__ import annotations

import torch

from trw_ray.layers.node import Node

_BATCH_NORM = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d, 3: torch.nn.BatchNorm3d}


class _BatchNormNd(Node):
    dims: int

    def __init__(self, node: Node, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__([node], {"eps": eps, "momentum": momentum, "affine": affine})
        ranks = [2, 3] if self.dims == 1 else [self.dims + 2]
        what = "a 2-D or 3-D input [None, channels(, length)]" if self.dims == 1 else \
            f"a {self.dims + 2}-D input [None, channels, " + ", ".join(["size"] * self.dims) + "]"
        self.shape = list(self.require_rank(ranks, what))

    def create_module(self):
        return _BATCH_NORM[self.dims](self.shape[1], **self.args)


class BatchNorm1d(_BatchNormNd):
    """Batch normalization of a ``[None, channels, length]`` node (the shape is kept).

    Args:
        node: the input node.
        eps, momentum, affine: as :class:`torch.nn.BatchNorm1d`'s.
    """
    dims = 1


class BatchNorm2d(_BatchNormNd):
    """Batch normalization of a ``[None, channels, height, width]`` node (the shape is kept).

    Args:
        node: the input node.
        eps, momentum, affine: as :class:`torch.nn.BatchNorm2d`'s.
    """
    dims = 2


class BatchNorm3d(_BatchNormNd):
    """Batch normalization of a ``[None, channels, depth, height, width]`` node (the shape is kept).

    Args:
        node: the input node.
        eps, momentum, affine: as :class:`torch.nn.BatchNorm3d`'s.
    """
    dims = 3


class GroupNorm(Node):
    """``GroupNorm(node, num_groups)``: the channels are split into ``num_groups`` groups."""

    def __init__(self, node: Node, num_groups: int, eps: float = 1e-5, affine: bool = True):
        super().__init__([node], {"num_groups": num_groups, "eps": eps, "affine": affine})
        shape = self.require_rank([3, 4, 5], "an input [None, channels, ...] with 1 to 3 spatial dimensions")
        if not isinstance(num_groups, int) or num_groups < 1 or shape[1] % num_groups:
            raise ValueError(f"{self.label}: num_groups must divide the {shape[1]} channels of {shape}; "
                             f"got {num_groups!r}")
        self.shape = list(shape)

    def create_module(self):
        return torch.nn.GroupNorm(self.args["num_groups"], self.shape[1], eps=self.args["eps"],
                                  affine=self.args["affine"])
