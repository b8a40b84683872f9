"""Which configuration to try next: the search algorithms, one module each over :mod:`~.base`, and the registry
that names them for :func:`trw_ray.hparams.search`.

- :mod:`~.base`: :class:`SearchLogic`, the Ray-free, seeded base of trw_ray's own algorithms;
  :mod:`~.random_search`, :mod:`~.grid`, :mod:`~.evolution` (with :mod:`~.surrogate`) are those algorithms;
  :mod:`~.hyperband`: HyperBand's brackets.
- :mod:`~.registry`: the searchers' and schedulers' registries (``register_algorithm``, ``register_scheduler``);
  :mod:`~.builtins` registers the built-in names when this package is imported (``darts`` among them, without
  importing torch, so ``trw-ray search --algorithm darts`` finds it).
- Ray Tune's side, imported only when a search is built: :mod:`~.logic_searcher` (a Tune ``Searcher`` over a
  :class:`SearchLogic`), :mod:`~.optuna_tpe` (Optuna's TPE told of pruned trials), :mod:`~.schedulers`.
"""

from trw_ray.hparams.searchers import builtins
from trw_ray.hparams.searchers.base import SearchLogic, constrained_sample
from trw_ray.hparams.searchers.builtins import hyperband_largest_bracket
from trw_ray.hparams.searchers.evolution import RegularizedEvolution, surrogate_model
from trw_ray.hparams.searchers.grid import GridSearch
from trw_ray.hparams.searchers.hyperband import hyperband_brackets
from trw_ray.hparams.searchers.random_search import RandomSearch, SeedSweep
from trw_ray.hparams.searchers.registry import (
    Algorithm,
    AlgorithmRequest,
    SchedulerEntry,
    SearchPlan,
    algorithm_names,
    any_option,
    bool_option,
    check_algorithm,
    create_algorithm,
    get_algorithm,
    get_scheduler,
    integer_option,
    number_option,
    plan_search,
    register_algorithm,
    register_scheduler,
    scheduler_names,
    validate_plan,
)
from trw_ray.lazy_import import lazy_exports

#: the built-in algorithms (``algorithm_names()`` also lists those registered later)
ALGORITHMS = tuple(algorithm_names())
#: the built-in schedulers (``scheduler_names()`` also lists those registered later)
SCHEDULERS = tuple(scheduler_names())

# Ray Tune is imported on first use of the Tune-facing class
__getattr__, __dir__ = lazy_exports(globals(), {"LogicSearcher": "trw_ray.hparams.searchers.logic_searcher:LogicSearcher"})

__all__ = ["ALGORITHMS", "SCHEDULERS", "Algorithm", "AlgorithmRequest", "GridSearch", "LogicSearcher", "RandomSearch",
           "RegularizedEvolution", "SchedulerEntry", "SearchLogic", "SearchPlan", "SeedSweep", "algorithm_names",
           "any_option", "bool_option", "builtins", "check_algorithm", "constrained_sample", "create_algorithm",
           "get_algorithm", "get_scheduler", "hyperband_brackets", "hyperband_largest_bracket", "integer_option",
           "number_option", "plan_search", "register_algorithm", "register_scheduler", "scheduler_names",
           "surrogate_model", "validate_plan"]
