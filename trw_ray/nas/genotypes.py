"""Cell spaces and genotypes: what a cell is made of, written as text, and derived from architecture weights.

Two spaces (numpy only; nothing here needs torch):

- ``nb201``: NAS-Bench-201's cell: 4 nodes, 6 edges (node ``j`` sums an op of every node ``i < j``), ops ``none,
  skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``. Genotype: one op per edge, written as the benchmark's
  string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; derived by the argmax of each edge's weights.
- ``darts``: DARTS' cell: inputs ``c_{k-2}``, ``c_{k-1}``, 4 intermediate nodes, 14 edges, ops ``none,
  max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5``, a normal and a
  reduction cell. Genotype: per node two ``(op, input)`` pairs, written ``normal=|op~0|op~1|+|...|
  reduce=|...|``; derived per node from the two incoming edges with the largest weight of a non-``none`` op, each
  with that op (DARTS' rule, on softmax weights).

Examples:
    >>> genotype = parse_genotype('|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|')
    >>> genotype.space.name, parameter_free_count(genotype)
    ('nb201', 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NONE = "none"

__all__ = ["CELL_SPACES", "CellSpace", "DartsGenotype", "Genotype", "NB201Genotype", "derive_genotype",
           "edge_entropy", "get_space", "parameter_free_count", "parse_genotype", "space_names"]


@dataclass(frozen=True)
class CellSpace:
    """A cell space.

    Attributes:
        name: ``nb201`` or ``darts``.
        ops: the candidate ops, in the order of the architecture weights' last axis.
        edges: ``(node, input)`` of every edge, in the order of the weights' first axis (nodes numbered from the
            cell's inputs: NB-201's input is node 0; DARTS' inputs are 0 and 1, its intermediate nodes 2-5).
        num_inputs: the cell's input nodes (1 or 2).
        cell_types: the cells that have their own weights (``('normal',)`` or ``('normal', 'reduce')``).
        parameter_free: the ops without learned weights that the collapse guard counts (skip, pooling).
        default_max_parameter_free: the collapse guard's default limit for a normal cell.
    """

    name: str
    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    num_inputs: int
    cell_types: tuple[str, ...]
    parameter_free: frozenset[str]
    default_max_parameter_free: int

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def nodes(self) -> list[int]:
        """The nodes that have incoming edges, in order."""
        return sorted({node for node, _ in self.edges})

    def incoming(self, node: int) -> list[int]:
        """The indices of the edges that enter ``node``."""
        return [index for index, (target, _) in enumerate(self.edges) if target == node]

    def check_op(self, op: str, where: str) -> str:
        if op not in self.ops:
            raise ValueError(f"{where}: {op!r} is not an op of the {self.name!r} space; its ops: {list(self.ops)}")
        return op


NB201 = CellSpace(
    name="nb201",
    ops=("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"),
    edges=((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)),
    num_inputs=1, cell_types=("normal",),
    parameter_free=frozenset({"skip_connect", "avg_pool_3x3"}), default_max_parameter_free=3)

DARTS = CellSpace(
    name="darts",
    ops=("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
         "dil_conv_5x5"),
    edges=tuple((node, source) for node in range(2, 6) for source in range(node)),
    num_inputs=2, cell_types=("normal", "reduce"),
    parameter_free=frozenset({"skip_connect", "max_pool_3x3", "avg_pool_3x3"}), default_max_parameter_free=2)

CELL_SPACES: dict[str, CellSpace] = {NB201.name: NB201, DARTS.name: DARTS}


def space_names() -> list[str]:
    """The cell spaces a search accepts (``'nb201'``, ``'darts'``)."""
    return list(CELL_SPACES)


def get_space(space: str | CellSpace) -> CellSpace:
    if isinstance(space, CellSpace):
        return space
    if space not in CELL_SPACES:
        raise ValueError(f"space: expected one of {space_names()}; got {space!r}")
    return CELL_SPACES[space]


# ---------------------------------------------------------------------------------------------------- genotypes

@dataclass(frozen=True)
class NB201Genotype:
    """One op per edge of the NAS-Bench-201 cell, in the order of :data:`NB201.edges`."""

    ops: tuple[str, ...]
    space = NB201

    def __post_init__(self):
        if len(self.ops) != NB201.num_edges:
            raise ValueError(f"genotype: an NB-201 cell has {NB201.num_edges} edges; got {len(self.ops)} ops")
        for index, op in enumerate(self.ops):
            NB201.check_op(op, f"genotype: edge {NB201.edges[index][1]}->{NB201.edges[index][0]}")

    def cell(self, cell_type: str = "normal") -> list[tuple[str, int, int]]:
        """``(op, input, node)`` of every edge."""
        return [(op, source, node) for op, (node, source) in zip(self.ops, NB201.edges, strict=True)]

    def __str__(self) -> str:
        groups = []
        for node in NB201.nodes:
            groups.append("|" + "|".join(f"{self.ops[i]}~{NB201.edges[i][1]}" for i in NB201.incoming(node)) + "|")
        return "+".join(groups)

    def to_dict(self) -> dict[str, Any]:
        return {"space": "nb201", "genotype": str(self), "edges": [
            {"input": source, "node": node, "op": op} for op, source, node in self.cell()]}


@dataclass(frozen=True)
class DartsGenotype:
    """Per intermediate node two ``(op, input)`` pairs, for the normal and the reduction cell."""

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]
    space = DARTS

    def __post_init__(self):
        for cell_type in DARTS.cell_types:
            pairs = getattr(self, cell_type)
            if len(pairs) != 2 * len(DARTS.nodes):
                raise ValueError(f"genotype: a DARTS {cell_type} cell has 2 inputs per node ({2 * len(DARTS.nodes)} "
                                 f"pairs); got {len(pairs)}")
            for index, (op, source) in enumerate(pairs):
                node = DARTS.nodes[index // 2]
                where = f"genotype: {cell_type} cell, node {node}, input {index % 2 + 1}"
                DARTS.check_op(op, where)
                if op == NONE:
                    raise ValueError(f"{where}: 'none' cannot be chosen (it is an absent edge)")
                if not isinstance(source, int) or not 0 <= source < node:
                    raise ValueError(f"{where}: the input must be a node 0..{node - 1}; got {source!r}")

    def cell(self, cell_type: str = "normal") -> list[tuple[str, int, int]]:
        pairs = getattr(self, cell_type)
        return [(op, source, DARTS.nodes[index // 2]) for index, (op, source) in enumerate(pairs)]

    def __str__(self) -> str:
        def text(pairs):
            return "+".join("|" + "|".join(f"{op}~{source}" for op, source in pairs[i:i + 2]) + "|"
                            for i in range(0, len(pairs), 2))

        return f"normal={text(self.normal)} reduce={text(self.reduce)}"

    def to_dict(self) -> dict[str, Any]:
        return {"space": "darts", "genotype": str(self),
                **{cell_type: [{"input": source, "node": node, "op": op} for op, source, node in self.cell(cell_type)]
                   for cell_type in DARTS.cell_types}}


Genotype = NB201Genotype | DartsGenotype


def _parse_nodes(text: str, where: str) -> list[list[tuple[str, int]]]:
    nodes = []
    for position, group in enumerate(text.split("+")):
        group = group.strip()
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise ValueError(f"{where}: node group {position + 1} {group!r} must look like '|op~0|op~1|'")
        pairs = []
        for item in group[1:-1].split("|"):
            op, tilde, source = item.partition("~")
            if not tilde or not source.strip().isdigit() or not op:
                raise ValueError(f"{where}: node group {position + 1}: {item!r} must be 'op~input' (e.g. 'skip_connect~0')")
            pairs.append((op.strip(), int(source)))
        nodes.append(pairs)
    return nodes


def parse_genotype(text: str | Genotype, space: str | CellSpace | None = None) -> Genotype:
    """A genotype from its string (the NB-201 benchmark's form, or ``normal=... reduce=...`` for DARTS).

    Raises:
        ValueError: the string does not parse, names an op outside the space or an impossible input; the message
            says where.
    """
    if isinstance(text, (NB201Genotype, DartsGenotype)):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"genotype: expected a genotype string such as '|nor_conv_3x3~0|+|...|'; got {text!r}")
    text = text.strip()
    expected = get_space(space).name if space is not None else ("darts" if text.startswith("normal=") else "nb201")
    if expected == "nb201":
        nodes = _parse_nodes(text, "genotype")
        if len(nodes) != len(NB201.nodes):
            raise ValueError(f"genotype: an NB-201 cell has {len(NB201.nodes)} node groups separated by '+'; got "
                             f"{len(nodes)} in {text!r}")
        ops = []
        for node, pairs in zip(NB201.nodes, nodes, strict=True):
            sources = [source for _, source in pairs]
            if sources != list(range(node)):
                raise ValueError(f"genotype: node {node} must list inputs {list(range(node))} in order; got {sources} "
                                 f"in {text!r}")
            ops.extend(op for op, _ in pairs)
        return NB201Genotype(tuple(ops))
    cells: dict[str, tuple] = {}
    for part in text.split():
        name, equals, body = part.partition("=")
        if not equals or name not in DARTS.cell_types:
            raise ValueError(f"genotype: a DARTS genotype is 'normal=|op~i|op~j|+... reduce=|...|'; got the part "
                             f"{part!r}")
        nodes = _parse_nodes(body, f"genotype ({name} cell)")
        if len(nodes) != len(DARTS.nodes) or any(len(pairs) != 2 for pairs in nodes):
            raise ValueError(f"genotype ({name} cell): expected {len(DARTS.nodes)} node groups of two inputs; got "
                             f"{[len(pairs) for pairs in nodes]}")
        cells[name] = tuple(pair for pairs in nodes for pair in pairs)
    missing = [name for name in DARTS.cell_types if name not in cells]
    if missing:
        raise ValueError(f"genotype: the DARTS genotype lacks its {missing} cell in {text!r}")
    return DartsGenotype(cells["normal"], cells["reduce"])


def _check_weights(space: CellSpace, weights: Any, cell_type: str) -> np.ndarray:
    array = np.asarray(weights, dtype=np.float64)
    expected = (space.num_edges, len(space.ops))
    if array.shape != expected:
        raise ValueError(f"weights: the {space.name!r} {cell_type} cell expects an array {expected} (edges x ops); "
                         f"got {array.shape}")
    return array


def derive_genotype(space: str | CellSpace, weights: Any) -> Genotype:
    """The discrete cell of architecture weights (softmax per edge; logits give the same result).

    Args:
        space: ``'nb201'`` or ``'darts'``.
        weights: NB-201: an (6, 5) array; DARTS: ``{'normal': (14, 8), 'reduce': (14, 8)}``.
    """
    space = get_space(space)
    if space.name == "nb201":
        array = _check_weights(space, weights, "normal")
        return NB201Genotype(tuple(space.ops[int(index)] for index in array.argmax(axis=1)))
    if not isinstance(weights, Mapping):
        raise ValueError(f"weights: the DARTS space expects {{'normal': array, 'reduce': array}}; got "
                         f"{type(weights).__name__}")
    none = space.ops.index(NONE)
    cells = {}
    for cell_type in space.cell_types:
        if cell_type not in weights:
            raise ValueError(f"weights: missing the {cell_type!r} cell; got {sorted(weights)}")
        array = _check_weights(space, weights[cell_type], cell_type)
        pairs = []
        for node in space.nodes:
            candidates = []
            for edge in space.incoming(node):
                row = array[edge].copy()
                row[none] = -np.inf
                best = int(row.argmax())
                candidates.append((row[best], -space.edges[edge][1], space.ops[best], space.edges[edge][1]))
            # the two strongest incoming edges (ties: the earlier input), listed by input
            chosen = sorted(sorted(candidates, reverse=True)[:2], key=lambda item: item[3])
            pairs.extend((op, source) for _, _, op, source in chosen)
        cells[cell_type] = tuple(pairs)
    return DartsGenotype(cells["normal"], cells["reduce"])


def parameter_free_count(genotype: Genotype | str, cell_type: str = "normal") -> int:
    """The skip and pooling ops of a cell (what the collapse guard counts)."""
    genotype = parse_genotype(genotype)
    return sum(op in genotype.space.parameter_free for op, _, _ in genotype.cell(cell_type))


def edge_entropy(weights: Any) -> float:
    """The mean entropy (nats) of the per-edge softmax weights: ``log(len(ops))`` when uniform, 0 when decided."""
    array = np.clip(np.asarray(weights, dtype=np.float64), 1e-12, 1.0)
    return float(-(array * np.log(array)).sum(axis=-1).mean())


def to_genotype_list(genotypes: Sequence[Genotype | str]) -> list[Genotype]:
    return [parse_genotype(genotype) for genotype in genotypes]
