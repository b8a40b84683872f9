"""Hyper-parameter search, by concept (as Optuna separates samplers, pruners and importance):

- :mod:`trw_ray.hparams.space`: what is searched: parameter specs, define-by-run ``HyperParameters``, search spaces
  from a function or a YAML file;
- :mod:`trw_ray.hparams.searchers`: which configuration to try next: the algorithms, one module each, and the
  registry that names them (``register_algorithm``);
- :mod:`trw_ray.hparams.tuning`: the search driver on Ray Tune: :func:`search`, its settings, the trial side and
  what a user's own loop reports;
- :mod:`trw_ray.hparams.parameter_importance`: how much each parameter matters.

The reports of a search (``analyse``, ``error_report``) live in :mod:`trw_ray.reports`; their names stay here.
Ray is imported when :func:`search` runs, never by importing this package.
"""

from trw_ray.hparams.searchers import (
    ALGORITHMS,
    Algorithm,
    AlgorithmRequest,
    GridSearch,
    RandomSearch,
    RegularizedEvolution,
    SearchLogic,
    SeedSweep,
    algorithm_names,
    hyperband_brackets,
    number_option,
    register_algorithm,
)
from trw_ray.hparams.space import (
    ContinuousPower,
    ContinuousUniform,
    DiscreteBoolean,
    DiscreteInteger,
    DiscreteIntegrer,
    DiscreteMapping,
    DiscreteValue,
    HyperParameters,
    Param,
    SearchSpace,
    discover_space,
    load_space,
    param_from_dict,
)
from trw_ray.hparams.tuning import (
    HyperParametersOptimizerRandomSearchLocal,
    report,
    resume_state,
    search,
    trial_epochs,
)
from trw_ray.lazy_import import lazy_exports

# loaded on first use: matplotlib and scikit-learn (the analyses), Ray Tune (the searcher class of the registration
# recipe, see trw_ray.hparams.searchers.registry)
_EXPORTS = {
    "analyse": "trw_ray.reports.search:search_report",
    "analyse_hyperparameters": "trw_ray.reports.search:analyse_hyperparameters",
    "error_report": "trw_ray.reports.errors:error_report",
    "importance": "trw_ray.hparams.parameter_importance:importance",
    "LogicSearcher": "trw_ray.hparams.searchers.logic_searcher:LogicSearcher",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


__all__ = [
    "ALGORITHMS", "Algorithm", "AlgorithmRequest", "ContinuousPower", "ContinuousUniform", "DiscreteBoolean",
    "DiscreteInteger", "DiscreteIntegrer", "DiscreteMapping", "DiscreteValue", "GridSearch", "HyperParameters",
    "HyperParametersOptimizerRandomSearchLocal", "LogicSearcher", "Param", "RandomSearch", "RegularizedEvolution",
    "SearchLogic", "SearchSpace", "SeedSweep", "algorithm_names", "analyse", "analyse_hyperparameters",
    "discover_space", "error_report", "hyperband_brackets", "importance", "load_space", "number_option",
    "param_from_dict", "register_algorithm", "report", "resume_state", "search", "trial_epochs",
]
