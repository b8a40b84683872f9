"""Hyper-parameters: specs, define-by-run ``HyperParameters``, search spaces, the search driver on Ray Tune,
the registry of search algorithms and importance analysis.

Ray is imported when :func:`search` runs, never by importing this package.
"""

from trw_ray.hparams.algorithms import (
    ALGORITHMS,
    Algorithm,
    AlgorithmRequest,
    algorithm_names,
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
    hyperband_brackets,
)
from trw_ray.hparams.space import SearchSpace, discover_space, load_space


def __getattr__(name: str):
    if name in ("analyse", "analyse_hyperparameters"):  # matplotlib and scikit-learn load on first use
        from trw_ray.hparams import analysis

        return getattr(analysis, name)
    if name == "importance":
        from trw_ray.hparams.importance import importance

        return importance
    raise AttributeError(f"module 'trw_ray.hparams' has no attribute {name!r}")


__all__ = [
    "ALGORITHMS", "Algorithm", "AlgorithmRequest", "algorithm_names", "register_algorithm", "error_report", "HyperParametersOptimizerRandomSearchLocal", "ContinuousPower", "ContinuousUniform", "DiscreteBoolean", "DiscreteInteger", "DiscreteIntegrer",
    "DiscreteMapping", "DiscreteValue", "GridSearch", "HyperParameters", "Param", "RandomSearch",
    "RegularizedEvolution", "SearchLogic", "SearchSpace", "discover_space", "hyperband_brackets", "load_space",
    "param_from_dict", "report", "resume_state", "search", "trial_epochs",
]
