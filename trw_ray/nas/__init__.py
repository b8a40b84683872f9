"""Architecture search: the NAS-Bench-201 and DARTS cell spaces, DARTS supernets trained as Ray Tune trials (with a
collapse guard), derived genotypes, their networks and their retraining.

- :func:`darts_search` — supernets as Tune trials, each its own seed; ``retrain_top_k`` retrains and ranks the best
  derived cells (:mod:`trw_ray.nas.darts`); ``trw-ray nas FILE.yaml`` runs one declared in ``search_spaces/``.
- :class:`Supernet`, :class:`ArchitectStep` (the Trainer's step for bilevel optimisation, first or second order),
  :class:`CollapseGuard` and :class:`CallbackArchitecture` — the parts, to use with the Trainer directly.
- :func:`build_network` — a genotype's network (reloads from ``last.model``, exports to ONNX).
- :func:`evolution_search` — any search algorithm (regularized evolution by default) over a cell space
  (:func:`cell_search_space`), each candidate a trial that trains its network or looks it up in the NAS-Bench-201
  table; a parameter budget; :func:`canonical_genotype` (isomorphic cells count as one).
- :func:`rank` — the top architectures retrained with several seeds, with bootstrap intervals, the probability of
  being best and Kendall's tau; ``results.architectures()`` and :func:`architecture_report` (``trw-ray report``).
- :func:`parse_genotype`, :func:`derive_genotype`, :data:`CELL_SPACES`, :func:`register_op` — spaces and ops.

Importing this package registers the ``darts`` search algorithm; torch loads when a supernet or network is built.
"""

from trw_ray.lazy_import import lazy_exports
from trw_ray.nas.cell_space import (
    CanonicalConfig,
    canonical_genotype,
    cell_search_space,
    cell_surrogate_options,
    config_from_genotype,
    genotype_from_config,
    op_similarity,
)
from trw_ray.nas.darts import (
    DEFAULT_RETRAIN_SETTINGS,
    DEFAULT_SETTINGS,
    DartsSearchResults,
    bilevel_split,
    darts_optimizers_fn,
    darts_search,
    evaluate_darts,
    evaluate_genotype,
    rank_retrained,
    retrain,
    run_darts,
)
from trw_ray.nas.evaluators import (
    CellKey,
    ParameterBudget,
    count_parameters,
    evaluate_cell,
    evaluate_table_cell,
    nb201_table,
    train_genotype,
)
from trw_ray.nas.evolution import evolution_search
from trw_ray.nas.genotypes import (
    CELL_SPACES,
    CellSpace,
    DartsGenotype,
    NB201Genotype,
    derive_genotype,
    parameter_free_count,
    parse_genotype,
    space_names,
)
from trw_ray.nas.guard import CollapseGuard
from trw_ray.nas.ranking import ArchitectureRanking, bootstrap_ranking, rank, rank_architectures

_EXPORTS = {
    "inputs": "trw_ray.nas.inputs",
    "Supernet": "trw_ray.nas.supernet:Supernet",
    "Network": "trw_ray.nas.network:Network",
    "build_network": "trw_ray.nas.network:build_network",
    "ArchitectStep": "trw_ray.nas.architect:ArchitectStep",
    "unrolled_architecture_gradient": "trw_ray.nas.architect:unrolled_architecture_gradient",
    "CallbackArchitecture": "trw_ray.nas.records:CallbackArchitecture",
    "register_op": "trw_ray.nas.ops:register_op",
    "op_names": "trw_ray.nas.ops:op_names",
    "create_op": "trw_ray.nas.ops:create_op",
    "architecture_report": "trw_ray.reports.architecture:architecture_report",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

__all__ = ["ArchitectureRanking", "CanonicalConfig", "CellKey", "ParameterBudget", "bootstrap_ranking",
           "canonical_genotype", "cell_search_space", "cell_surrogate_options", "config_from_genotype", "op_similarity",
           "count_parameters", "evaluate_cell", "evaluate_table_cell",
           "evolution_search", "genotype_from_config", "nb201_table", "rank", "rank_architectures", "train_genotype",
           "CELL_SPACES", "CellSpace", "CollapseGuard", "DEFAULT_RETRAIN_SETTINGS", "DEFAULT_SETTINGS", "DartsGenotype",
           "DartsSearchResults", "NB201Genotype", "bilevel_split", "darts_optimizers_fn", "darts_search",
           "derive_genotype", "evaluate_darts", "evaluate_genotype", "parameter_free_count", "parse_genotype",
           "rank_retrained", "retrain", "run_darts", "space_names", *_EXPORTS]
