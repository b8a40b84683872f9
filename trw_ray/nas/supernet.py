"""The supernet: every cell mixes all ops of its space, weighted by architecture parameters kept apart from the
weights (:meth:`Supernet.arch_parameters` / :meth:`Supernet.weight_parameters`).

It trains with the Trainer like any model (``forward(batch) -> {'softmax': OutputClassification}``); the
:class:`~trw_ray.nas.architect.ArchitectStep` updates the architecture parameters between weight steps. Give the
weight optimizer :meth:`Supernet.weight_parameters` only (:func:`~trw_ray.nas.darts.darts_optimizers_fn` does).

Examples:
    >>> net = Supernet('nb201', width=8, depth=1, partial_channels=2)
    >>> str(net.genotype())   # argmax per edge of the current weights
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trw_ray.checks import positive_int
from trw_ray.nas.cells import MixedDartsCell, MixedNB201Cell
from trw_ray.nas.genotypes import Genotype, derive_genotype, edge_entropy
from trw_ray.nas.macro import MacroNetwork

__all__ = ["Supernet"]


class Supernet(MacroNetwork):
    """A DARTS supernet of the ``nb201`` or ``darts`` cell space.

    Args (besides :class:`~trw_ray.nas.macro.MacroNetwork`'s):
        partial_channels: K of PC-DARTS (1/K of each edge's channels through the mixed op; 1: all). With K > 1 each
            edge also gets an edge-normalisation weight (a softmax over a node's incoming edges).
        edge_normalization: force edge normalisation on or off (default: on exactly when ``partial_channels > 1``).
        arch_init_scale: the architecture logits start at ``scale * N(0, 1)`` (DARTS: 1e-3).
    """

    kind = "supernet"

    def __init__(self, space: str = "nb201", num_classes: int = 10, in_channels: int = 1, width: int = 16,
                 depth: int = 5, partial_channels: int = 1, edge_normalization: bool | None = None,
                 arch_init_scale: float = 1e-3, input_name: str = "images", target_name: str = "targets",
                 output_name: str = "softmax"):
        positive_int(partial_channels, "partial_channels")
        self._partial_channels = partial_channels
        super().__init__(space, num_classes, in_channels, width, depth, input_name, target_name, output_name)
        edge_normalization = partial_channels > 1 if edge_normalization is None else bool(edge_normalization)
        self.config.update(partial_channels=partial_channels, edge_normalization=edge_normalization,
                           arch_init_scale=arch_init_scale)
        shape = (self.space.num_edges, len(self.space.ops))
        self.alphas = nn.ParameterDict({cell_type: nn.Parameter(arch_init_scale * torch.randn(*shape))
                                        for cell_type in self.space.cell_types})
        self.betas = nn.ParameterDict({cell_type: nn.Parameter(arch_init_scale * torch.randn(self.space.num_edges))
                                       for cell_type in self.space.cell_types}) if edge_normalization else None
        self._incoming = [self.space.incoming(node) for node in self.space.nodes]

    def make_nb201_cell(self, channels: int) -> nn.Module:
        return MixedNB201Cell(channels, self._partial_channels, self.space)

    def make_darts_cell(self, c_prev_prev, c_prev, channels, reduction, reduction_prev) -> nn.Module:
        return MixedDartsCell(c_prev_prev, c_prev, channels, reduction, reduction_prev, self._partial_channels,
                              self.space)

    # ------------------------------------------------------------------ parameters

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (op logits per edge, and edge-normalisation logits when on)."""
        parameters = list(self.alphas.values())
        if self.betas is not None:
            parameters += list(self.betas.values())
        return parameters

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the architecture's (what the weight optimizer trains)."""
        arch = {id(parameter) for parameter in self.arch_parameters()}
        return [parameter for parameter in self.parameters() if id(parameter) not in arch]

    def _edge_weights(self, cell_type: str) -> torch.Tensor:
        betas = self.betas[cell_type]
        weights = torch.empty_like(betas)
        for edges in self._incoming:
            weights[edges] = torch.softmax(betas[edges], dim=0)
        return weights

    def cell_arguments(self) -> dict[str, tuple]:
        arguments = {}
        for cell_type in self.space.cell_types:
            weights = torch.softmax(self.alphas[cell_type], dim=-1)
            arguments[cell_type] = (weights, self._edge_weights(cell_type) if self.betas is not None else None)
        return arguments

    def set_aux_skip(self, weight: float) -> None:
        """DARTS-: the weight of the auxiliary skip connection added to every stride-1 mixed edge (0: none)."""
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"weight: expected a number >= 0; got {weight!r}")
        for module in self.modules():
            if hasattr(module, "aux_skip_weight"):
                module.aux_skip_weight = float(weight)

    def set_free_op_dropout(self, rate: float) -> None:
        """P-DARTS: the dropout rate on the outputs of the parameter-free ops (skip, pooling) while training."""
        if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"rate: expected a number in [0, 1); got {rate!r}")
        for module in self.modules():
            if hasattr(module, "free_op_dropout"):
                module.free_op_dropout = float(rate)

    # ------------------------------------------------------------------ the architecture

    def architecture_weights(self) -> dict[str, np.ndarray]:
        """``{cell_type: (edges, ops)}`` softmax weights per edge; with edge normalisation multiplied by the edge's
        normalised weight (what DARTS' genotype rule ranks)."""
        weights = {}
        with torch.no_grad():
            for cell_type in self.space.cell_types:
                array = torch.softmax(self.alphas[cell_type].float(), dim=-1)
                if self.betas is not None:
                    array = array * self._edge_weights(cell_type).float()[:, None]
                weights[cell_type] = array.cpu().numpy()
        return weights

    def op_weights(self) -> dict[str, np.ndarray]:
        """``{cell_type: (edges, ops)}`` softmax of the op logits alone (rows sum to 1)."""
        with torch.no_grad():
            return {cell_type: torch.softmax(alpha.float(), dim=-1).cpu().numpy()
                    for cell_type, alpha in self.alphas.items()}

    def genotype(self) -> Genotype:
        """The discrete cell(s) the current architecture weights derive (see :func:`derive_genotype`)."""
        weights = self.architecture_weights()
        return derive_genotype(self.space, weights["normal"] if self.space.name == "nb201" else weights)

    def entropy(self) -> dict[str, float]:
        """Mean entropy of each cell type's op weights per edge (``log(ops)`` at the start)."""
        return {cell_type: edge_entropy(weights) for cell_type, weights in self.op_weights().items()}
