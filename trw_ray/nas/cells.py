"""The cells of both spaces, mixed (every op of every edge, weighted: the supernet's) and discrete (a genotype's).

Mixed edges can send only ``1/K`` of their channels through the ops (PC-DARTS' partial channel connections: the
rest passes by and the channels are shuffled), add DARTS-' auxiliary skip connection, whose weight the supernet
sets (the architect decays it to 0 over the search), and drop out the outputs of their parameter-free ops while
training (P-DARTS' regularisation of the ops that win before the convolutions have learned anything).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from trw_ray.nas.genotypes import DARTS, NB201, NONE, CellSpace
from trw_ray.nas.ops import FactorizedReduce, ReLUConvBN, Zero, create_op, is_parameter_free

__all__ = ["DartsCell", "MixedDartsCell", "MixedEdge", "MixedNB201Cell", "NB201Cell", "channel_shuffle"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    batch, channels, height, width = x.shape
    return x.view(batch, groups, channels // groups, height, width).transpose(1, 2).reshape(batch, channels, height, width)


class MixedEdge(nn.Module):
    """Every op of ``ops`` on one edge; ``forward(x, weights)`` is their weighted sum (``none`` contributes 0 and is
    not computed).

    Args:
        partial_channels: K of PC-DARTS: 1/K of the channels go through the ops (1: all of them).
    """

    def __init__(self, channels: int, stride: int, ops: Sequence[str], partial_channels: int = 1):
        super().__init__()
        if channels % partial_channels:
            raise ValueError(f"partial_channels: {partial_channels} must divide the cell's {channels} channels")
        self.stride, self.partial_channels = stride, partial_channels
        self.part = channels // partial_channels
        self.op_names = list(ops)
        self.ops = nn.ModuleList(create_op(op, self.part, self.part, stride, affine=False) for op in ops)
        self.computed = [index for index, op in enumerate(ops) if op != NONE]
        self.bypass_pool = nn.MaxPool2d(2, 2, ceil_mode=True) if partial_channels > 1 and stride == 2 else None
        self.aux_skip_weight = 0.0  # DARTS-: set by the supernet; only stride-1 edges have the identity to add
        self.free_op_dropout = 0.0  # P-DARTS: dropout on the parameter-free ops' outputs while training
        self.free_ops = {index for index, op in enumerate(ops) if is_parameter_free(op)}

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        part = x[:, :self.part] if self.partial_channels > 1 else x
        out = None
        for index in self.computed:
            value = self.ops[index](part)
            if self.free_op_dropout and self.training and index in self.free_ops:
                value = functional.dropout(value, self.free_op_dropout, training=True)
            term = weights[index] * value
            out = term if out is None else out + term
        if out is None:
            out = Zero(self.part, self.stride)(part)
        if self.partial_channels > 1:
            rest = x[:, self.part:]
            if self.bypass_pool is not None:
                rest = self.bypass_pool(rest)
            out = channel_shuffle(torch.cat([out, rest], dim=1), self.partial_channels)
        if self.aux_skip_weight and self.stride == 1:
            out = out + self.aux_skip_weight * x
        return out


def _node_sum(terms: list[torch.Tensor]) -> torch.Tensor:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


class MixedNB201Cell(nn.Module):
    """The NB-201 cell with a mixed op on each of its 6 edges (input and output have ``channels``)."""

    def __init__(self, channels: int, partial_channels: int = 1, space: CellSpace = NB201):
        super().__init__()
        self.space = space
        self.edges = nn.ModuleList(MixedEdge(channels, 1, space.ops, partial_channels) for _ in space.edges)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, edge_weights: torch.Tensor | None = None):
        nodes = [x]
        for node in self.space.nodes:
            terms = []
            for edge in self.space.incoming(node):
                term = self.edges[edge](nodes[self.space.edges[edge][1]], weights[edge])
                terms.append(term if edge_weights is None else edge_weights[edge] * term)
            nodes.append(_node_sum(terms))
        return nodes[-1]


class NB201Cell(nn.Module):
    """The NB-201 cell of a genotype: ``ops`` one per edge (``none`` edges are left out)."""

    def __init__(self, channels: int, ops: Sequence[str], space: CellSpace = NB201):
        super().__init__()
        self.space = space
        self.kept = [index for index, op in enumerate(ops) if op != NONE]
        self.edges = nn.ModuleDict({str(index): create_op(ops[index], channels, channels, 1, affine=True)
                                    for index in self.kept})
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in self.space.nodes:
            terms = [self.edges[str(edge)](nodes[self.space.edges[edge][1]])
                     for edge in self.space.incoming(node) if edge in self.kept]
            nodes.append(_node_sum(terms) if terms else torch.zeros_like(x))
        return nodes[-1]


def _preprocess(c_prev_prev: int, c_prev: int, channels: int, reduction_prev: bool, affine: bool):
    first = FactorizedReduce(c_prev_prev, channels, affine) if reduction_prev else \
        ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=affine)
    return first, ReLUConvBN(c_prev, channels, 1, 1, 0, affine=affine)


class MixedDartsCell(nn.Module):
    """The DARTS cell with a mixed op on each of its 14 edges; output: the 4 intermediate nodes concatenated."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool,
                 partial_channels: int = 1, space: CellSpace = DARTS):
        super().__init__()
        self.space, self.reduction = space, reduction
        self.preprocess0, self.preprocess1 = _preprocess(c_prev_prev, c_prev, channels, reduction_prev, affine=False)
        self.edges = nn.ModuleList(
            MixedEdge(channels, 2 if reduction and source < space.num_inputs else 1, space.ops, partial_channels)
            for _, source in space.edges)
        self.out_channels = channels * len(space.nodes)

    def forward(self, s0, s1, weights: torch.Tensor, edge_weights: torch.Tensor | None = None):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in self.space.nodes:
            terms = []
            for edge in self.space.incoming(node):
                term = self.edges[edge](states[self.space.edges[edge][1]], weights[edge])
                terms.append(term if edge_weights is None else edge_weights[edge] * term)
            states.append(_node_sum(terms))
        return torch.cat(states[self.space.num_inputs:], dim=1)


class DartsCell(nn.Module):
    """The DARTS cell of a genotype: per node two ``(op, input)`` pairs, summed."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool,
                 pairs: Sequence[tuple[str, int]], space: CellSpace = DARTS):
        super().__init__()
        self.space, self.reduction = space, reduction
        self.preprocess0, self.preprocess1 = _preprocess(c_prev_prev, c_prev, channels, reduction_prev, affine=True)
        self.pairs = [(op, int(source)) for op, source in pairs]
        self.ops = nn.ModuleList(
            create_op(op, channels, channels, 2 if reduction and source < space.num_inputs else 1, affine=True)
            for op, source in self.pairs)
        self.out_channels = channels * len(space.nodes)

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for index in range(0, len(self.pairs), 2):
            states.append(_node_sum([self.ops[i](states[self.pairs[i][1]]) for i in (index, index + 1)]))
        return torch.cat(states[self.space.num_inputs:], dim=1)
