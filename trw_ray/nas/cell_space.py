"""A cell space as a hyper-parameter space: every cell is a set of categorical choices, so every search algorithm of
:func:`trw_ray.hparams.search` (random, grid, evolution, TPE, with HyperBand/ASHA) searches architectures.

- ``nb201``: one choice per edge, ``edge_<node>_<input>`` among the 5 ops (15,625 cells).
- ``darts``: per cell type, node and incoming edge, its input ``<cell>_node<n>_input<k>`` (a node before ``n``) and
  its op ``<cell>_node<n>_op<k>`` (``none`` excluded): 32 choices.

:func:`canonical_genotype` names a cell by what it computes: NB-201 cells that differ only by edges no path from
the input to the output uses, by ``none``-dead nodes, or by swapping the two middle nodes when they are not
connected, get one key (so a search that trains its candidates never trains the same function twice); a table
lookup keeps each cell's own key, since the table trained them apart.

:func:`cell_surrogate_options` is what evolution's surrogate knows of a cell space: ops of one family (1x1 and 3x3
convolutions, two poolings) are alike, parameter-free ops a little, and a cell is compared by what it computes
(:class:`CanonicalConfig`). Numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trw_ray.hparams.space.params import DiscreteValue, Param
from trw_ray.nas.genotypes import (
    DARTS,
    NB201,
    NONE,
    DartsGenotype,
    Genotype,
    NB201Genotype,
    get_space,
    parse_genotype,
)

__all__ = ["CanonicalConfig", "canonical_genotype", "cell_search_space", "cell_surrogate_options", "config_from_genotype",
           "genotype_from_config", "op_similarity"]

#: how much evolution's surrogate lets two ops agree: one family (the same op at another kernel size, or two
#: poolings), or both parametric / both parameter-free. Measured on the NB-201 tables (``benchmarks/README.md``):
#: 0.5-0.9 for a family all found ImageNet16-120's best cell in 84-92% of 100 seeds at 150 evaluations (one-hot ops: 66%).
SAME_FAMILY_SIMILARITY = 0.8
SAME_KIND_SIMILARITY = 0.3


def _nb201_name(node: int, source: int) -> str:
    return f"edge_{node}_{source}"


def _darts_names(cell_type: str, node: int, position: int) -> tuple[str, str]:
    return f"{cell_type}_node{node}_input{position}", f"{cell_type}_node{node}_op{position}"


def cell_search_space(space: str = "nb201") -> dict[str, Param]:
    """``{name: DiscreteValue}`` of the cell space's choices (defaults: a plain, fully convolutional cell)."""
    cell_space = get_space(space)
    if cell_space.name == "nb201":
        return {_nb201_name(node, source): DiscreteValue("nor_conv_3x3", list(NB201.ops)) for node, source in NB201.edges}
    ops = [op for op in DARTS.ops if op != NONE]
    parameters: dict[str, Param] = {}
    for cell_type in DARTS.cell_types:
        for node in DARTS.nodes:
            for position in (1, 2):
                input_name, op_name = _darts_names(cell_type, node, position)
                parameters[input_name] = DiscreteValue(min(position - 1, node - 1), list(range(node)))
                parameters[op_name] = DiscreteValue("sep_conv_3x3", ops)
    return parameters


def genotype_from_config(config: Mapping[str, Any], space: str = "nb201") -> Genotype:
    """The genotype of a configuration of :func:`cell_search_space` (extra keys are ignored).

    Raises:
        ValueError: a choice is missing or invalid (the genotype's own checks say where).
    """
    cell_space = get_space(space)
    try:
        if cell_space.name == "nb201":
            return NB201Genotype(tuple(config[_nb201_name(node, source)] for node, source in NB201.edges))
        cells = {}
        for cell_type in DARTS.cell_types:
            pairs = []
            for node in DARTS.nodes:
                for position in (1, 2):
                    input_name, op_name = _darts_names(cell_type, node, position)
                    pairs.append((config[op_name], int(config[input_name])))
            cells[cell_type] = tuple(pairs)
    except KeyError as error:
        raise ValueError(f"config: the {cell_space.name!r} cell needs the choice {error.args[0]!r}; see "
                         "trw_ray.nas.cell_search_space") from None
    return DartsGenotype(cells["normal"], cells["reduce"])


def config_from_genotype(genotype: Genotype | str) -> dict[str, Any]:
    """The inverse of :func:`genotype_from_config`."""
    genotype = parse_genotype(genotype)
    if isinstance(genotype, NB201Genotype):
        return {_nb201_name(node, source): op for op, source, node in genotype.cell()}
    config: dict[str, Any] = {}
    for cell_type in DARTS.cell_types:
        for index, (op, source) in enumerate(getattr(genotype, cell_type)):
            input_name, op_name = _darts_names(cell_type, DARTS.nodes[index // 2], index % 2 + 1)
            config[input_name], config[op_name] = source, op
    return config


def _nb201_reachable(edges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The edges on some path from the input (node 0) to the output (node 3)."""
    forward, backward = {0}, {3}
    for source, node, _ in sorted(edges, key=lambda edge: edge[1]):
        if source in forward:
            forward.add(node)
    for source, node, _ in sorted(edges, key=lambda edge: -edge[0]):
        if node in backward:
            backward.add(source)
    return [edge for edge in edges if edge[0] in forward and edge[1] in backward]


def _nb201_text(edges: list[tuple[int, int, str]]) -> str:
    ops = {(source, node): op for source, node, op in edges}
    return str(NB201Genotype(tuple(ops.get((source, node), NONE) for node, source in NB201.edges)))


def canonical_genotype(genotype: Genotype | str) -> str:
    """The key of the function a cell computes (see the module doc); DARTS cells: each node's two inputs sorted."""
    genotype = parse_genotype(genotype)
    if isinstance(genotype, DartsGenotype):
        cells = {cell_type: tuple(pair for i in range(0, 8, 2)
                                  for pair in sorted(getattr(genotype, cell_type)[i:i + 2], key=lambda p: (p[1], p[0])))
                 for cell_type in DARTS.cell_types}
        return str(DartsGenotype(cells["normal"], cells["reduce"]))
    edges = _nb201_reachable([(source, node, op) for op, source, node in genotype.cell() if op != NONE])
    candidates = [_nb201_text(edges)]
    if not any({source, node} == {1, 2} for source, node, _ in edges):  # the middle nodes are interchangeable
        swap = {1: 2, 2: 1}
        candidates.append(_nb201_text([(swap.get(s, s), swap.get(n, n), op) for s, n, op in edges]))
    return min(candidates)


def _op_family(op: str) -> str:
    return "pool" if "pool" in op else re.sub(r"_\d+x\d+$", "", op)


def _op_kind(op: str) -> str | None:
    if op == NONE:
        return None
    return "parameter_free" if op == "skip_connect" or "pool" in op else "parametric"


def op_similarity(ops: Sequence[str]) -> np.ndarray:
    """``(len(ops), len(ops))``: 1 for an op with itself, :data:`SAME_FAMILY_SIMILARITY` for one family
    (``nor_conv_1x1`` / ``nor_conv_3x3``, ``sep_conv_3x3`` / ``sep_conv_5x5``, ``max_pool_3x3`` / ``avg_pool_3x3``),
    :data:`SAME_KIND_SIMILARITY` for two parametric or two parameter-free ops, 0 otherwise (``none`` is like nothing)."""
    size = len(ops)
    matrix = np.eye(size)
    for i in range(size):
        for j in range(size):
            if i != j and _op_kind(ops[i]) is not None and _op_kind(ops[i]) == _op_kind(ops[j]):
                same_family = _op_family(ops[i]) == _op_family(ops[j])
                matrix[i, j] = SAME_FAMILY_SIMILARITY if same_family else SAME_KIND_SIMILARITY
    return matrix


class CanonicalConfig:
    """``config -> config`` of the cell's canonical genotype (:func:`canonical_genotype`): the configuration of what
    the cell computes (an NB-201 edge no path uses is ``none``)."""

    def __init__(self, space: str = "nb201"):
        self.space = get_space(space).name

    def __call__(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return config_from_genotype(canonical_genotype(genotype_from_config(config, self.space)))

    def __repr__(self) -> str:
        return f"CanonicalConfig({self.space!r})"


def cell_surrogate_options(space: str = "nb201") -> dict[str, Any]:
    """Evolution's ``surrogate_options`` for a cell space: every op choice's :func:`op_similarity`, and cells
    compared by what they compute (:class:`CanonicalConfig`)."""
    parameters = cell_search_space(space)
    similarity = {name: op_similarity(spec.choices) for name, spec in parameters.items()
                  if all(isinstance(choice, str) for choice in spec.choices)}
    return {"choice_similarity": similarity, "represent": CanonicalConfig(space)}
