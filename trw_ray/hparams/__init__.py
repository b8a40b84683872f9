"""Hyper-parameters: specs, define-by-run ``HyperParameters``, search spaces, the search driver on Ray Tune,
the registry of search algorithms and importance analysis.

Ray is imported when :func:`search` runs, never by importing this package.
"""

from trw_ray.hparams.algorithms import (
    ALGORITHMS,
    Algorithm,
    AlgorithmRequest,
    algorithm_names,
    number_option,
    register_algorithm,
)
from trw_ray.hparams.driver import search
from trw_ray.hparams.errors import error_report
from trw_ray.hparams.hyperparameters import HyperParameters
from trw_ray.hparams.legacy import HyperParametersOptimizerRandomSearchLocal
from trw_ray.hparams.loop_reports import report, resume_state, trial_epochs
from trw_ray.hparams.params import (
    ContinuousPower,
    ContinuousUniform,
    DiscreteBoolean,
    DiscreteInteger,
    DiscreteIntegrer,
    DiscreteMapping,
    DiscreteValue,
    Param,
    param_from_dict,
)
from trw_ray.hparams.searchers import (
    GridSearch,
    RandomSearch,
    RegularizedEvolution,
    SearchLogic,
    SeedSweep,
    hyperband_brackets,
)
from trw_ray.hparams.space import SearchSpace, discover_space, load_space
from trw_ray.lazy_import import lazy_exports

# loaded on first use: matplotlib and scikit-learn (the analyses), Ray Tune (the searcher class of the registration
# recipe, see trw_ray.hparams.algorithms)
_EXPORTS = {
    "analyse": "trw_ray.hparams.analysis:analyse",
    "analyse_hyperparameters": "trw_ray.hparams.analysis:analyse_hyperparameters",
    "importance": "trw_ray.hparams.importance:importance",
    "LogicSearcher": "trw_ray.hparams.tune_searcher:LogicSearcher",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


__all__ = [
    "ALGORITHMS", "Algorithm", "AlgorithmRequest", "algorithm_names", "register_algorithm", "error_report", "HyperParametersOptimizerRandomSearchLocal", "ContinuousPower", "ContinuousUniform", "DiscreteBoolean", "DiscreteInteger", "DiscreteIntegrer",
    "DiscreteMapping", "DiscreteValue", "GridSearch", "HyperParameters", "Param", "RandomSearch",
    "RegularizedEvolution", "SearchLogic", "SearchSpace", "discover_space", "hyperband_brackets", "load_space",
    "param_from_dict", "report", "resume_state", "search", "trial_epochs", "number_option", "SeedSweep",
    "LogicSearcher", "analyse", "analyse_hyperparameters", "importance",
]
