"""The skeleton both the supernet and a genotype's network share: stem, stacked cells with reductions, classifier.

- NB-201 (as the benchmark): a 3x3 convolution stem of ``width`` channels, then ``depth`` cells, a residual block
  that halves the resolution and doubles the channels, ``depth`` cells, another such block, ``depth`` cells, and
  batch norm, ReLU, global average pooling and a linear classifier.
- DARTS: a 3x3 convolution stem of ``3 * width`` channels, then ``depth`` cells, reduction cells (stride 2, twice the
  channels) at a third and two thirds of the depth, global average pooling and a linear classifier.

No stem reduces the input, so 28x28 images work (28 -> 14 -> 7).
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from trw_ray.checks import positive_int
from trw_ray.nas.genotypes import CellSpace, get_space
from trw_ray.nas.ops import ReLUConvBN
from trw_ray.outputs import OutputClassification

DESCRIPTION_FORMAT = "trw_ray.nas/1"
DESCRIPTION_BUILDER = "trw_ray.nas.network:from_description"


class ResidualReduction(nn.Module):
    """NB-201's residual block between stages: stride 2, ``c_out`` channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def reduction_layers(depth: int) -> tuple[int, int]:
    return depth // 3, 2 * depth // 3


class MacroNetwork(nn.Module, abc.ABC):
    """Stem, cells, classifier; subclasses make the cells and say what extra arguments each cell type takes.

    Args:
        space: ``'nb201'`` or ``'darts'``.
        num_classes: classifier outputs.
        in_channels: image channels (1 for MNIST).
        width: channels of the first cells (C).
        depth: NB-201: cells per stage (3 stages); DARTS: cells in all (>= 3, two of them reductions).
        input_name, target_name, output_name: the batch feature of the images, of the class indices, and the name
            of the :class:`~trw_ray.outputs.OutputClassification` that ``forward(batch)`` returns.
    """

    def __init__(self, space: str | CellSpace, num_classes: int = 10, in_channels: int = 1, width: int = 16,
                 depth: int = 5, input_name: str = "images", target_name: str = "targets",
                 output_name: str = "softmax"):
        super().__init__()
        self.space = get_space(space)
        for name, value, minimum in (("num_classes", num_classes, 2), ("in_channels", in_channels, 1),
                                     ("width", width, 1), ("depth", depth, 3 if self.space.name == "darts" else 1)):
            positive_int(value, name, minimum)
        if self.space.name == "darts" and width % 2:
            raise ValueError(f"width: the DARTS space halves channels in its reduction ops; expected an even width, "
                             f"got {width}")
        self.config = {"space": self.space.name, "num_classes": num_classes, "in_channels": in_channels,
                       "width": width, "depth": depth, "input_name": input_name, "target_name": target_name,
                       "output_name": output_name}
        self.input_name, self.target_name, self.output_name = input_name, target_name, output_name
        self.cells = nn.ModuleList()
        self.cell_types: list[str] = []
        if self.space.name == "nb201":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
            channels = width
            for stage in range(3):
                if stage:
                    self.cells.append(ResidualReduction(channels, channels * 2))
                    self.cell_types.append("block")
                    channels *= 2
                for _ in range(depth):
                    self.cells.append(self.make_nb201_cell(channels))
                    self.cell_types.append("normal")
            self.head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=False))
            features = channels
        else:
            stem_channels = 3 * width
            self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(stem_channels))
            c_prev_prev, c_prev, channels, reduction_prev = stem_channels, stem_channels, width, False
            reductions = reduction_layers(depth)
            for layer in range(depth):
                reduction = layer in reductions
                if reduction:
                    channels *= 2
                cell = self.make_darts_cell(c_prev_prev, c_prev, channels, reduction, reduction_prev)
                self.cells.append(cell)
                self.cell_types.append("reduce" if reduction else "normal")
                reduction_prev = reduction
                c_prev_prev, c_prev = c_prev, cell.out_channels
            self.head = nn.Identity()
            features = c_prev
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(features, num_classes)

    @abc.abstractmethod
    def make_nb201_cell(self, channels: int) -> nn.Module:
        """A cell of ``channels`` in and out."""

    @abc.abstractmethod
    def make_darts_cell(self, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                        reduction_prev: bool) -> nn.Module:
        """A DARTS cell (with ``out_channels``)."""

    def cell_arguments(self) -> dict[str, tuple]:
        """The extra arguments of each cell type's ``forward`` (the supernet's architecture weights)."""
        return {}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        x = images if images.is_floating_point() else images.float()
        arguments = self.cell_arguments()
        if self.space.name == "nb201":
            x = self.stem(x)
            for cell, cell_type in zip(self.cells, self.cell_types, strict=True):
                x = cell(x) if cell_type == "block" else cell(x, *arguments.get(cell_type, ()))
            x = self.head(x)
        else:
            s0 = s1 = self.stem(x)
            for cell, cell_type in zip(self.cells, self.cell_types, strict=True):
                s0, s1 = s1, cell(s0, s1, *arguments.get(cell_type, ()))
            x = s1
        return self.classifier(self.pool(x).flatten(1))

    def forward(self, batch: dict[str, Any]) -> dict[str, OutputClassification]:
        if self.input_name not in batch:
            raise KeyError(f"{type(self).__name__}: the batch has no feature {self.input_name!r} (input_name); "
                           f"it has {sorted(batch)}")
        return {self.output_name: OutputClassification(self.logits(batch[self.input_name]), self.target_name)}

    def describe(self) -> dict[str, Any]:
        """What :func:`trw_ray.train.model_io.load_model` rebuilds the network from (saved in ``last.model``)."""
        return {"format": DESCRIPTION_FORMAT, "builder": DESCRIPTION_BUILDER, "kind": self.kind,
                "config": dict(self.config)}

    kind = "network"
