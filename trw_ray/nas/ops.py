"""The candidate operations of the cells, as a registry: ``name -> factory(C_in, C_out, stride, affine)``.

Both cell spaces draw their ops from here: NAS-Bench-201's ``none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3`` and DARTS' ``none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3,
dil_conv_5x5``. Every op maps ``(N, C_in, H, W)`` to ``(N, C_out, ceil(H / stride), ceil(W / stride))``, odd sizes
included (a 28x28 input reduced twice is 7x7, then 4x4), so no stem has to shrink the input first.

Add an op with :func:`register_op`; an unknown name raises ``ValueError`` listing the registered ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

OpFactory = Callable[[int, int, int, bool], nn.Module]

__all__ = ["FactorizedReduce", "OpEntry", "ReLUConvBN", "Zero", "create_op", "is_parameter_free", "op_names",
           "register_op"]


class ReLUConvBN(nn.Module):
    """ReLU, convolution, batch norm (NAS-Bench-201's ``nor_conv``; DARTS' preprocessing)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out, affine=affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, depth-wise dilated convolution, point-wise convolution, batch norm (DARTS' ``dil_conv``)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two depth-wise separable convolutions in a row (DARTS' ``sep_conv``)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(DilConv(c_in, c_in, kernel_size, stride, padding, 1, affine),
                                DilConv(c_in, c_out, kernel_size, 1, padding, 1, affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output's shape."""

    def __init__(self, c_out: int, stride: int):
        super().__init__()
        self.c_out, self.stride = c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = -(-x.shape[2] // self.stride), -(-x.shape[3] // self.stride)
        return x.new_zeros((x.shape[0], self.c_out, height, width))


class FactorizedReduce(nn.Module):
    """Halves the resolution with two 1x1 stride-2 convolutions, the second shifted by one pixel (odd sizes are
    padded, so 7x7 gives 4x4 like the other stride-2 ops)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce: c_out must be even; got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Pool(nn.Module):
    """3x3 average or max pooling; a 1x1 ReLU-conv-BN first when the channel count changes (NAS-Bench-201)."""

    def __init__(self, kind: str, c_in: int, c_out: int, stride: int, affine: bool = True):
        super().__init__()
        self.preprocess = ReLUConvBN(c_in, c_out, 1, 1, 0, affine=affine) if c_in != c_out else None
        if kind == "avg":
            self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        else:
            self.pool = nn.MaxPool2d(3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x if self.preprocess is None else self.preprocess(x))


def _skip(c_in: int, c_out: int, stride: int, affine: bool) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    if stride == 1:
        return ReLUConvBN(c_in, c_out, 1, 1, 0, affine=affine)
    return FactorizedReduce(c_in, c_out, affine)


@dataclass(frozen=True)
class OpEntry:
    """A registered op: its factory and whether it has no weights of its own (skip and pooling, which the
    collapse guard counts)."""

    name: str
    factory: OpFactory
    parameter_free: bool


_OPS: dict[str, OpEntry] = {}


def register_op(name: str, factory: OpFactory, parameter_free: bool = False, replace: bool = False) -> OpEntry:
    """Adds a candidate op ``factory(C_in, C_out, stride, affine) -> nn.Module``.

    Raises:
        ValueError: the name is taken (``replace=True`` replaces it) or not a plain name.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: expected a plain name such as 'sep_conv_7x7'; got {name!r}")
    if name in _OPS and not replace:
        raise ValueError(f"name: the op {name!r} is already registered; pass replace=True to replace it")
    if not callable(factory):
        raise TypeError(f"factory: expected a function (C_in, C_out, stride, affine) -> nn.Module; got {factory!r}")
    entry = OpEntry(name, factory, bool(parameter_free))
    _OPS[name] = entry
    return entry


def op_names() -> list[str]:
    """The ops a cell may use: the built-ins and those added with :func:`register_op`."""
    return list(_OPS)


def _entry(name: str) -> OpEntry:
    if name not in _OPS:
        raise ValueError(f"op: unknown op {name!r}; registered: {op_names()}")
    return _OPS[name]


def create_op(name: str, c_in: int, c_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """A new module of the op ``name``."""
    if stride not in (1, 2):
        raise ValueError(f"stride: expected 1 or 2; got {stride!r}")
    return _entry(name).factory(c_in, c_out, stride, affine)


def is_parameter_free(name: str) -> bool:
    """Skip and pooling: ops whose output is not learned (``none`` is an absent edge, not counted)."""
    return _entry(name).parameter_free


register_op("none", lambda c_in, c_out, stride, affine: Zero(c_out, stride))
register_op("skip_connect", _skip, parameter_free=True)
register_op("avg_pool_3x3", lambda c_in, c_out, stride, affine: Pool("avg", c_in, c_out, stride, affine),
            parameter_free=True)
register_op("max_pool_3x3", lambda c_in, c_out, stride, affine: Pool("max", c_in, c_out, stride, affine),
            parameter_free=True)
register_op("nor_conv_1x1", lambda c_in, c_out, stride, affine: ReLUConvBN(c_in, c_out, 1, stride, 0, affine=affine))
register_op("nor_conv_3x3", lambda c_in, c_out, stride, affine: ReLUConvBN(c_in, c_out, 3, stride, 1, affine=affine))
register_op("sep_conv_3x3", lambda c_in, c_out, stride, affine: SepConv(c_in, c_out, 3, stride, 1, affine))
register_op("sep_conv_5x5", lambda c_in, c_out, stride, affine: SepConv(c_in, c_out, 5, stride, 2, affine))
register_op("dil_conv_3x3", lambda c_in, c_out, stride, affine: DilConv(c_in, c_out, 3, stride, 2, 2, affine))
register_op("dil_conv_5x5", lambda c_in, c_out, stride, affine: DilConv(c_in, c_out, 5, stride, 4, 2, affine))
