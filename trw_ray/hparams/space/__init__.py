"""What is searched: parameter specs (:mod:`~trw_ray.hparams.space.params`), define-by-run
:class:`~trw_ray.hparams.space.hyperparameters.HyperParameters` and search spaces, from a function or a YAML file
(:mod:`~trw_ray.hparams.space.search_space`)."""

from trw_ray.hparams.space.hyperparameters import HyperParameters
from trw_ray.hparams.space.params import (
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
from trw_ray.hparams.space.search_space import (
    SPACE_KEYS,
    SearchSpace,
    discover_space,
    function_label,
    function_name,
    import_function,
    load_space,
    read_yaml,
    resolve_space,
    space_from_dict,
    space_from_settings,
    to_tune_param_space,
)

__all__ = ["SPACE_KEYS", "ContinuousPower", "ContinuousUniform", "DiscreteBoolean", "DiscreteInteger",
           "DiscreteIntegrer", "DiscreteMapping", "DiscreteValue", "HyperParameters", "Param", "SearchSpace",
           "discover_space", "function_label", "function_name", "import_function", "load_space", "param_from_dict",
           "read_yaml", "resolve_space", "space_from_dict", "space_from_settings", "to_tune_param_space"]
