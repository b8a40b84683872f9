"""Convolutions and transposed convolutions, 1D to 3D.

Only ``out_channels`` and ``kernel_size`` are required. Convolutions pad by ``dilation * (kernel_size - 1) // 2``
by default, so an odd kernel with stride 1 keeps the spatial size ("same"-like, as in TRW).
"""

from __future__ import annotations

import torch

from trw_ray.layers.node import Node, as_tuple

_CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
_CONV_TRANSPOSE = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}


class _ConvNd(Node):
    dims: int

    def __init__(self, node: Node, out_channels: int, kernel_size, stride=1, padding=None, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros"):
        super().__init__([node], {"out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
                                  "padding": padding, "dilation": dilation, "groups": groups, "bias": bias,
                                  "padding_mode": padding_mode})
        shape = self.require_rank([self.dims + 2], f"a {self.dims + 2}-D input [None, channels, "
                                  + ", ".join(["size"] * self.dims) + "]")
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"{self.label}: out_channels must be an integer >= 1; got {out_channels!r}")
        kernel = as_tuple(kernel_size, self.dims, "kernel_size", self.label)
        strides = as_tuple(stride, self.dims, "stride", self.label)
        dilations = as_tuple(dilation, self.dims, "dilation", self.label)
        if padding is None:
            pads = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilations, strict=False))
        elif padding == "valid":
            pads = (0,) * self.dims
        elif padding == "same":
            if any(s != 1 for s in strides):
                raise ValueError(f"{self.label}: padding='same' needs stride 1; got stride {stride!r}")
            pads = None
        else:
            pads = as_tuple(padding, self.dims, "padding", self.label)
        in_channels = shape[1]
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{self.label}: groups={groups} must divide the input channels ({in_channels}) and "
                             f"out_channels ({out_channels})")
        spatial = shape[2:]
        if pads is None:
            out_spatial = list(spatial)
        else:
            out_spatial = []
            for size, k, s, p, d in zip(spatial, kernel, strides, pads, dilations, strict=False):
                if size + 2 * p < d * (k - 1) + 1:
                    raise ValueError(f"{self.label}: kernel {list(kernel)} (dilation {list(dilations)}) is larger "
                                     f"than the padded input {shape} (padding {list(pads)})")
                out_spatial.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        self.in_channels = in_channels
        self.torch_padding = "same" if pads is None else pads
        self.shape = [None, out_channels, *out_spatial]

    def create_module(self):
        a = self.args
        return _CONV[self.dims](self.in_channels, a["out_channels"], a["kernel_size"], stride=a["stride"],
                                padding=self.torch_padding, dilation=a["dilation"], groups=a["groups"],
                                bias=a["bias"], padding_mode=a["padding_mode"])


class Conv1d(_ConvNd):
    """1-D convolution of a ``[None, channels, length]`` node.

    Args:
        node: the input node.
        out_channels, kernel_size, stride, dilation, groups, bias, padding_mode: as :class:`torch.nn.Conv1d`'s
            (the input channels come from ``node``'s shape).
        padding: None (default): ``dilation * (kernel_size - 1) // 2``, which keeps an odd kernel's size at stride 1;
            ``'valid'``, ``'same'`` or sizes as torch's.
    """
    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution of a ``[None, channels, height, width]`` node.

    Args:
        node: the input node.
        out_channels, kernel_size, stride, dilation, groups, bias, padding_mode: as :class:`torch.nn.Conv2d`'s
            (the input channels come from ``node``'s shape).
        padding: None (default): ``dilation * (kernel_size - 1) // 2``, which keeps an odd kernel's size at stride 1;
            ``'valid'``, ``'same'`` or sizes as torch's.
    """
    dims = 2


class Conv3d(_ConvNd):
    """3-D convolution of a ``[None, channels, depth, height, width]`` node.

    Args:
        node: the input node.
        out_channels, kernel_size, stride, dilation, groups, bias, padding_mode: as :class:`torch.nn.Conv3d`'s
            (the input channels come from ``node``'s shape).
        padding: None (default): ``dilation * (kernel_size - 1) // 2``, which keeps an odd kernel's size at stride 1;
            ``'valid'``, ``'same'`` or sizes as torch's.
    """
    dims = 3


class _ConvTransposeNd(Node):
    dims: int

    def __init__(self, node: Node, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        super().__init__([node], {"out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
                                  "padding": padding, "output_padding": output_padding, "dilation": dilation,
                                  "groups": groups, "bias": bias})
        shape = self.require_rank([self.dims + 2], f"a {self.dims + 2}-D input [None, channels, "
                                  + ", ".join(["size"] * self.dims) + "]")
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"{self.label}: out_channels must be an integer >= 1; got {out_channels!r}")
        kernel = as_tuple(kernel_size, self.dims, "kernel_size", self.label)
        strides = as_tuple(stride, self.dims, "stride", self.label)
        pads = as_tuple(padding, self.dims, "padding", self.label)
        output_pads = as_tuple(output_padding, self.dims, "output_padding", self.label)
        dilations = as_tuple(dilation, self.dims, "dilation", self.label)
        for op, s, d in zip(output_pads, strides, dilations, strict=False):
            if op >= max(s, d):
                raise ValueError(f"{self.label}: output_padding must be smaller than stride or dilation; got "
                                 f"output_padding {list(output_pads)}, stride {list(strides)}")
        if shape[1] % groups or out_channels % groups:
            raise ValueError(f"{self.label}: groups={groups} must divide the input channels ({shape[1]}) and "
                             f"out_channels ({out_channels})")
        out_spatial = [(size - 1) * s - 2 * p + d * (k - 1) + op + 1
                       for size, k, s, p, op, d in zip(shape[2:], kernel, strides, pads, output_pads, dilations, strict=False)]
        if any(size < 1 for size in out_spatial):
            raise ValueError(f"{self.label}: padding {list(pads)} leaves no output for input {shape}")
        self.in_channels = shape[1]
        self.shape = [None, out_channels, *out_spatial]

    def create_module(self):
        a = self.args
        return _CONV_TRANSPOSE[self.dims](self.in_channels, a["out_channels"], a["kernel_size"], stride=a["stride"],
                                          padding=a["padding"], output_padding=a["output_padding"],
                                          groups=a["groups"], bias=a["bias"], dilation=a["dilation"])


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution of a ``[None, channels, length]`` node.

    Args:
        node: the input node.
        out_channels, kernel_size, stride, padding, output_padding, dilation, groups, bias: as
            :class:`torch.nn.ConvTranspose1d`'s (the input channels come from ``node``'s shape).
    """
    dims = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution of a ``[None, channels, height, width]`` node.

    Args:
        node: the input node.
        out_channels, kernel_size, stride, padding, output_padding, dilation, groups, bias: as
            :class:`torch.nn.ConvTranspose2d`'s (the input channels come from ``node``'s shape).
    """
    dims = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution of a ``[None, channels, depth, height, width]`` node.

    Args:
        node: the input node.
        out_channels, kernel_size, stride, padding, output_padding, dilation, groups, bias: as
            :class:`torch.nn.ConvTranspose3d`'s (the input channels come from ``node``'s shape).
    """
    dims = 3
