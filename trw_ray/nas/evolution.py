"""Architecture search over a cell space with any search algorithm of :func:`trw_ray.hparams.search` — regularized
evolution by default — each candidate a Tune trial that trains its network or looks it up in a table.

Example (24 NB-201 cells evolved on Fashion-MNIST, each trained for 4 epochs, under 60k parameters)::

    results = trw_ray.nas.evolution_search('trw_ray.nas.inputs:fashion_mnist_inputs', num_samples=24, epochs=4,
                                           seed=0, max_parameters=60_000, settings={'width': 8})
    results.architectures()          # one row per distinct cell: mean / spread / count of the metric
    trw_ray.nas.rank_architectures(results, top_k=3, seeds=3, inputs_fn=...)   # retrained from scratch, with intervals

    # the same search on the NAS-Bench-201 table (no training): evaluator='table', table_dataset='cifar100'

Evolution mutates one choice at a time and never proposes the same cell twice; by default a surrogate fit on every
result picks which mutation of the best cell to try next, then, from the first local optimum on, the best predicted
cell of the space (``surrogate=False``: regularized evolution's random mutations of a tournament winner of the aging
population). Isomorphic NB-201 cells count as one when candidates
are trained; a table lookup keeps each cell's own entry. A parameter budget is a constraint the searcher respects
(random and evolution never propose a cell above it; other algorithms' proposals above it fail their trial before
any training).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from trw_ray import checks
from trw_ray.nas.cell_space import cell_search_space, cell_surrogate_options
from trw_ray.nas.evaluators import (
    TABLE_DATASETS,
    CellKey,
    ParameterBudget,
    evaluate_cell,
    evaluate_table_cell,
)
from trw_ray.nas.genotypes import get_space

EVALUATORS = ("train", "table")
CONSTRAINED_ALGORITHMS = ("evolution", "random")

__all__ = ["evolution_search"]


def default_population_size(num_samples: int) -> int:
    """Evolution's P (random candidates first, then the population) for ``num_samples`` candidates: a quarter, 2 to 20."""
    return min(20, max(2, num_samples // 4))


def evolution_options(space: str, num_samples: int, canonical: bool, options: Mapping[str, Any] | None = None,
                      population_size: int | None = None, sample_size: int | None = None,
                      surrogate: bool = True) -> dict[str, Any]:
    """The options :func:`evolution_search` gives :class:`~trw_ray.hparams.RegularizedEvolution` on a cell space
    (``options`` given win); ``canonical``: isomorphic cells count as one (trained candidates)."""
    options = dict(options or {})
    options.setdefault("population_size", population_size or default_population_size(num_samples))
    options.setdefault("sample_size", min(sample_size or options["population_size"], options["population_size"]))
    options.setdefault("key", CellKey(space, canonical=canonical))
    options.setdefault("surrogate", surrogate)
    if options["surrogate"]:
        options.setdefault("surrogate_options", cell_surrogate_options(space))
        options.setdefault("climb", "stalled")
    return options


def evolution_search(inputs_fn: Callable | str | None = None, space: str = "nb201", num_samples: int = 24,
                     epochs: int = 4, seed: int | None = 0, algorithm: str = "evolution",
                     algorithm_options: Mapping[str, Any] | None = None, evaluator: str = "train",
                     table_dataset: str = "cifar10", max_parameters: float | None = None,
                     settings: Mapping[str, Any] | None = None, inputs_kwargs: Mapping[str, Any] | None = None,
                     population_size: int | None = None, sample_size: int | None = None, surrogate: bool = True,
                     storage_path: str | os.PathLike | None = None,
                     name: str | None = None, **search_options):
    """Searches a cell space; returns the experiment's :class:`trw_ray.results.ExperimentResults` (its trials have
    ``result/genotype``, ``result/canonical``, ``result/accuracy``, ``result/parameters``).

    Args:
        inputs_fn: ``() -> datasets`` or ``'module:function'`` (``evaluator='train'``): train, valid and test splits.
        space: ``'nb201'`` or ``'darts'`` (the table holds NB-201 only).
        num_samples: candidates evaluated.
        epochs: training epochs of a candidate (schedulers such as ASHA stop the weak ones earlier).
        algorithm: any registered algorithm (``evolution``, ``random``, ``tpe``, ``asha``, ``hyperband``...).
        algorithm_options: the algorithm's options (evolution: ``population_size``/``sample_size`` default to the
            arguments of the same names).
        population_size, sample_size: regularized evolution's P and S. Defaults: P = ``num_samples // 4`` (2 to 20)
            and S = P (each child mutates the population's best). Measured on the NB-201 tables without Ray (150
            evaluations, 2 at a time, 50 seeds; ``benchmarks/nas_evolution.py``): P = S = 20 found CIFAR-10's best cell
            in 88% of the seeds (regret 0.052 points), against 60% for P=20/S=10, 58% for 10/5, 32% for 20/5.
        surrogate: evolution mutates the best cell so far and picks each child with a surrogate fit on every
            result (:class:`~trw_ray.hparams.searchers.surrogate.MatchKernelRidge`: every op's and every pair of ops' effect,
            with the cell space's :func:`~trw_ray.nas.cell_surrogate_options`: ops of one family alike, cells
            compared by what they compute; ``algorithm_options={'surrogate_options': ...}`` replaces them); once the
            best's mutations are used up it proposes the best predicted cell of the space, and mutates the best
            again after 20 results without a new best (``climb='stalled'``; ``algorithm_options={'climb':
            'always'}``: mutations of every new best first);
            False: regularized evolution's random one-choice mutations of a tournament winner. Measured on the NB-201
            tables (150 evaluations; ``benchmarks/nas_evolution.py``): see ``benchmarks/README.md``.
        evaluator: ``'train'`` (``build_network`` trained by the Trainer in the trial) or ``'table'`` (NAS-Bench-201
            lookup of ``table_dataset``: ``cifar10``, ``cifar100`` or ``imagenet``; the loss is the validation error
            in points, 100 - accuracy %). Either way ``result/accuracy`` is a fraction and ``result/parameters`` a
            count.
        max_parameters: the most parameters a candidate may have, a count (trained networks: parameters of
            ``build_network(genotype, width, depth)``; table: the table's ``model_size`` x 10^6).
        settings: the candidates' training (:data:`~trw_ray.nas.retraining.DEFAULT_RETRAIN_SETTINGS` overrides).
        search_options: the rest of :func:`trw_ray.hparams.search` (``resources_per_trial``, ``max_concurrent``,
            ``address``, ``verbose``...).
    """
    from trw_ray.hparams.tuning.driver import search
    from trw_ray.nas.retraining import DEFAULT_RETRAIN_SETTINGS, check_settings

    cell_space = get_space(space)
    checks.positive_int(num_samples, "num_samples")
    checks.positive_int(epochs, "epochs")
    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator: expected one of {list(EVALUATORS)}; got {evaluator!r}")
    if evaluator == "table":
        if cell_space.name != "nb201":
            raise ValueError(f"evaluator: the table holds NAS-Bench-201 cells; space must be 'nb201', got {space!r}")
        if table_dataset not in TABLE_DATASETS:
            raise ValueError(f"table_dataset: expected one of {list(TABLE_DATASETS)}; got {table_dataset!r}")
    elif inputs_fn is None:
        raise ValueError("inputs_fn: a search that trains its candidates needs its datasets ('module:function')")
    if max_parameters is not None and not (checks.is_finite_number(max_parameters) and max_parameters > 0):
        raise ValueError(f"max_parameters: expected a number > 0; got {max_parameters!r}")
    merged = check_settings(settings, DEFAULT_RETRAIN_SETTINGS, "settings")
    options = dict(algorithm_options or {})
    if algorithm == "evolution":
        options = evolution_options(cell_space.name, num_samples, evaluator == "train", options, population_size,
                                    sample_size, surrogate)
    if max_parameters is not None and algorithm in CONSTRAINED_ALGORITHMS and evaluator == "train":
        options.setdefault("constraint", ParameterBudget(int(max_parameters), cell_space.name, merged["width"],
                                                         merged["depth"]))
    if max_parameters is not None and algorithm in CONSTRAINED_ALGORITHMS and evaluator == "table":
        options.setdefault("constraint", _TableBudget(table_dataset, float(max_parameters)))
    if evaluator == "table":
        trainable = functools.partial(evaluate_table_cell, dataset=table_dataset, max_parameters=max_parameters)
        search_options.setdefault("reuse_actors", True)
    else:
        trainable = functools.partial(evaluate_cell, inputs_fn=inputs_fn, space=cell_space.name, epochs=epochs,
                                      settings=merged, inputs_kwargs=inputs_kwargs,
                                      max_parameters=int(max_parameters) if max_parameters is not None else None)
    if name is None:
        name = f"cells_{cell_space.name}_{algorithm}_{time.strftime('%Y%m%d-%H%M%S')}"
    return search(trainable, space=cell_search_space(cell_space.name), algorithm=algorithm, num_samples=num_samples,
                  max_epochs=epochs if evaluator == "train" else None, seed=seed, storage_path=storage_path, name=name,
                  algorithm_options=options, **search_options)


class _TableBudget:
    """The parameters of a configuration's cell in the table (``model_size`` x 10^6) are at most ``max_parameters``."""

    def __init__(self, dataset: str, max_parameters: float):
        self.dataset, self.max_parameters = dataset, max_parameters

    def __call__(self, config: Mapping[str, Any]) -> bool:
        from trw_ray.nas.cell_space import genotype_from_config
        from trw_ray.nas.evaluators import nb201_table, table_code, table_parameters

        entry = nb201_table(self.dataset)[table_code(genotype_from_config(config, "nb201"))]
        return table_parameters(entry) <= self.max_parameters
