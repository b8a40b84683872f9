"""Max and average pooling, 1D to 3D. ``stride`` defaults to ``kernel_size``."""

from __future__ import annotations

import math

import torch

from trw_ray.layers.node import Node, as_tuple

_MAX = {1: torch.nn.MaxPool1d, 2: torch.nn.MaxPool2d, 3: torch.nn.MaxPool3d}
_AVG = {1: torch.nn.AvgPool1d, 2: torch.nn.AvgPool2d, 3: torch.nn.AvgPool3d}


class _PoolNd(Node):
    dims: int
    modules: dict
    #: torch's avg_pool3d refuses inputs smaller than the kernel even when padding would make them fit
    kernel_must_fit_unpadded = False

    def __init__(self, node: Node, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__([node], {"kernel_size": kernel_size, "stride": stride, "padding": padding,
                                  "ceil_mode": ceil_mode})
        shape = self.require_rank([self.dims + 2], f"a {self.dims + 2}-D input [None, channels, "
                                  + ", ".join(["size"] * self.dims) + "]")
        kernel = as_tuple(kernel_size, self.dims, "kernel_size", self.label)
        strides = kernel if stride is None else as_tuple(stride, self.dims, "stride", self.label)
        pads = as_tuple(padding, self.dims, "padding", self.label)
        if any(p > k // 2 for p, k in zip(pads, kernel, strict=False)):
            raise ValueError(f"{self.label}: padding {list(pads)} must be at most half the kernel {list(kernel)}")
        out_spatial = []
        for size, k, s, p in zip(shape[2:], kernel, strides, pads, strict=False):
            if size + 2 * p < k or (self.kernel_must_fit_unpadded and size < k):
                raise ValueError(f"{self.label}: kernel {list(kernel)} is larger than the input {shape}"
                                 + (f" padded by {list(pads)}" if any(pads) else ""))
            rounding = math.ceil if ceil_mode else math.floor
            out = rounding((size + 2 * p - k) / s) + 1
            if ceil_mode and (out - 1) * s >= size + p:
                out -= 1
            out_spatial.append(out)
        self.shape = [None, shape[1], *out_spatial]

    def create_module(self):
        a = self.args
        return self.modules[self.dims](a["kernel_size"], stride=a["stride"], padding=a["padding"],
                                       ceil_mode=a["ceil_mode"])


class MaxPool1d(_PoolNd):
    """Max pooling over the 1 spatial dimension(s) of a ``[None, channels, length]`` node.

    Args:
        node: the input node.
        kernel_size, stride, padding, ceil_mode: as :class:`torch.nn.MaxPool1d`'s; ``stride``
            defaults to ``kernel_size``.
    """
    dims, modules = 1, _MAX


class MaxPool2d(_PoolNd):
    """Max pooling over the 2 spatial dimension(s) of a ``[None, channels, height, width]`` node.

    Args:
        node: the input node.
        kernel_size, stride, padding, ceil_mode: as :class:`torch.nn.MaxPool2d`'s; ``stride``
            defaults to ``kernel_size``.
    """
    dims, modules = 2, _MAX


class MaxPool3d(_PoolNd):
    """Max pooling over the 3 spatial dimension(s) of a ``[None, channels, depth, height, width]`` node.

    Args:
        node: the input node.
        kernel_size, stride, padding, ceil_mode: as :class:`torch.nn.MaxPool3d`'s; ``stride``
            defaults to ``kernel_size``.
    """
    dims, modules = 3, _MAX


class AvgPool1d(_PoolNd):
    """Average pooling over the 1 spatial dimension(s) of a ``[None, channels, length]`` node.

    Args:
        node: the input node.
        kernel_size, stride, padding, ceil_mode: as :class:`torch.nn.AvgPool1d`'s; ``stride``
            defaults to ``kernel_size``.
    """
    dims, modules = 1, _AVG


class AvgPool2d(_PoolNd):
    """Average pooling over the 2 spatial dimension(s) of a ``[None, channels, height, width]`` node.

    Args:
        node: the input node.
        kernel_size, stride, padding, ceil_mode: as :class:`torch.nn.AvgPool2d`'s; ``stride``
            defaults to ``kernel_size``.
    """
    dims, modules = 2, _AVG


class AvgPool3d(_PoolNd):
    """Average pooling over the 3 spatial dimension(s) of a ``[None, channels, depth, height, width]`` node.

    Args:
        node: the input node.
        kernel_size, stride, padding, ceil_mode: as :class:`torch.nn.AvgPool3d`'s; ``stride``
            defaults to ``kernel_size``.
    """
    dims, modules = 3, _AVG
    kernel_must_fit_unpadded = True
