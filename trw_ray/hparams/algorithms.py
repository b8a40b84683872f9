"""The search algorithms: a registry of named entries, each building Ray Tune's ``(searcher, scheduler)``.

Built in: ``random``, ``grid``, ``evolution`` (regularized evolution), ``tpe`` (Optuna's TPE), ``hyperband``,
``asha`` and ``pbt``. Adding an algorithm is one registration, also from outside the package::

    def build_my_search(request):
        logic = MySearchLogic(request.space.parameters, request.mode, request.seed, **request.options)
        return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None

    trw_ray.hparams.register_algorithm('mine', build_my_search, options={'temperature': number_option(0.0)})
    trw_ray.hparams.search(evaluate, algorithm='mine', algorithm_options={'temperature': 0.5})

``build`` receives an :class:`AlgorithmRequest` (space, metric, mode, max_epochs, seed, max_concurrent and the
checked options) and returns a Tune searcher and a scheduler (None: Tune's FIFO order, keeping starting actors).
The registration must run in the driver's process (Tune builds the searcher there); an unknown name lists the
registered ones, an unknown option the options its algorithm takes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trw_ray import checks
from trw_ray.hparams.params import Param
from trw_ray.hparams.searchers import GridSearch, RandomSearch, RegularizedEvolution
from trw_ray.hparams.space import SearchSpace

OptionCheck = Callable[[Any, str], Any]  # (value, where) -> value, raising ValueError naming ``where``

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmRequest", "algorithm_names", "any_option", "bool_option",
           "check_algorithm", "create_algorithm", "get_algorithm", "integer_option", "number_option",
           "register_algorithm"]


def integer_option(minimum: int = 1) -> OptionCheck:
    def check(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{where} expects an integer >= {minimum}; got {value!r}")
        return value

    return check


def number_option(minimum: float | None = None, maximum: float | None = None) -> OptionCheck:
    def check(value: Any, where: str) -> float:
        if not checks.is_finite_number(value) or (minimum is not None and value < minimum) or \
                (maximum is not None and value > maximum):
            bounds = " and ".join(part for part in (f">= {minimum:g}" if minimum is not None else "",
                                                    f"<= {maximum:g}" if maximum is not None else "") if part)
            raise ValueError(f"{where} expects a number{' ' + bounds if bounds else ''}; got {value!r}")
        return value

    return check


def bool_option(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} expects True or False; got {value!r}")
    return value


def any_option(value: Any, where: str) -> Any:
    return value


@dataclass(frozen=True)
class AlgorithmRequest:
    """What an algorithm's ``build`` is given: the search's settings and its checked ``options``."""

    space: SearchSpace
    metric: str
    mode: str
    max_epochs: int | None
    seed: int | None
    max_concurrent: int | None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Algorithm:
    """One registry entry.

    Attributes:
        name: what ``search(algorithm=...)`` takes.
        build: ``AlgorithmRequest -> (searcher, scheduler)``; a None scheduler is Tune's FIFO order.
        options: ``{option: check}`` of the ``algorithm_options`` it takes.
        needs_max_epochs: it schedules trials by epochs (``max_epochs`` is its ``max_t``).
        requires: modules it imports, with the package to install (``{'optuna': 'optuna'}``).
        tune_samples_space: Tune samples the first configurations from the converted space (PBT refuses searchers).
        trials_ahead: Tune creates every trial up front (brackets of HyperBand form only from trials that exist
            together; sampling without feedback gains nothing from waiting). Tune otherwise keeps a single pending
            trial for custom searchers, so they learn from every result.
        description: one line for listings.
    """

    name: str
    build: Callable[[AlgorithmRequest], tuple[Any, Any]]
    options: Mapping[str, OptionCheck] = field(default_factory=dict)
    needs_max_epochs: bool = False
    requires: Mapping[str, str] = field(default_factory=dict)
    tune_samples_space: bool = False
    trials_ahead: bool = False
    description: str = ""

    def check_options(self, options: Mapping[str, Any] | None, max_epochs: int | None) -> dict[str, Any]:
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"algorithm_options: expected a dict such as {{'grace_period': 3}}; "
                            f"got {type(options).__name__}")
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"algorithm_options: unknown for {self.name!r}: {unknown}; allowed: {sorted(self.options)}")
        checked = {name: self.options[name](value, f"algorithm_options: {name!r} of {self.name!r}")
                   for name, value in options.items()}
        if self.needs_max_epochs and max_epochs is None:
            raise ValueError(f"max_epochs: {self.name!r} schedules trials by epochs; give the budget of one trial "
                             "(e.g. max_epochs=9)")
        for module, package in self.requires.items():
            if importlib.util.find_spec(module) is None:
                raise ValueError(f"algorithm: {self.name!r} needs {module}; install it with `pip install {package}`")
        return checked


_REGISTRY: dict[str, Algorithm] = {}


def register_algorithm(name: str, build: Callable[[AlgorithmRequest], tuple[Any, Any]], *,
                       options: Mapping[str, OptionCheck] | None = None, needs_max_epochs: bool = False,
                       requires: Mapping[str, str] | None = None, tune_samples_space: bool = False,
                       trials_ahead: bool = False, description: str = "", replace: bool = False) -> Algorithm:
    """Adds an algorithm to the registry (see :class:`Algorithm` for the fields); returns its entry.

    Raises:
        ValueError: the name is taken (pass ``replace=True`` to replace it) or not a plain name.
        TypeError: ``build`` is not callable or an option's check is not.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: expected a plain name such as 'my_search'; got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"name: the algorithm {name!r} is already registered; pass replace=True to replace it")
    if not callable(build):
        raise TypeError(f"build: expected a function AlgorithmRequest -> (searcher, scheduler); got {build!r}")
    for option, check in (options or {}).items():
        if not callable(check):
            raise TypeError(f"options: the check of {option!r} must be callable (value, where) -> value; got {check!r}")
    entry = Algorithm(name, build, dict(options or {}), needs_max_epochs, dict(requires or {}), tune_samples_space,
                      trials_ahead, description)
    _REGISTRY[name] = entry
    return entry


def algorithm_names() -> list[str]:
    return list(_REGISTRY)


def get_algorithm(name: str) -> Algorithm:
    if name not in _REGISTRY:
        raise ValueError(f"algorithm: expected one of {algorithm_names()}; got {name!r}")
    return _REGISTRY[name]


def check_algorithm(algorithm: str, max_epochs: int | None, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Raises for an unknown algorithm, options it does not take or a bad option value, a missing ``max_epochs``
    or a missing package; returns the checked options."""
    return get_algorithm(algorithm).check_options(options, max_epochs)


def create_algorithm(algorithm: str, space: SearchSpace, metric: str, mode: str, max_epochs: int | None,
                     seed: int | None, max_concurrent: int | None, options: Mapping[str, Any] | None):
    """``(searcher, scheduler)`` of a registered algorithm; a None scheduler becomes Tune's FIFO order with
    starting actors kept (:mod:`trw_ray.hparams.tune_schedulers`)."""
    entry = get_algorithm(algorithm)
    checked = entry.check_options(options, max_epochs)
    searcher, scheduler = entry.build(AlgorithmRequest(space, metric, mode, max_epochs, seed, max_concurrent, checked))
    if scheduler is None:
        from trw_ray.hparams.tune_schedulers import FIFOKeepingStartingActors

        scheduler = FIFOKeepingStartingActors()
    return searcher, scheduler


# ---------------------------------------------------------------------------------------------------- built-ins

def _logic_searcher(logic_class, request: AlgorithmRequest, **options):
    from trw_ray.hparams.tune_searcher import LogicSearcher

    logic = logic_class(request.space.parameters, request.mode, request.seed, **options)
    return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent)


def _random(request: AlgorithmRequest):
    return _logic_searcher(RandomSearch, request, **request.options), None


def _grid(request: AlgorithmRequest):
    return _logic_searcher(GridSearch, request, **request.options), None


def _evolution(request: AlgorithmRequest):
    return _logic_searcher(RegularizedEvolution, request, **request.options), None


def _tpe(request: AlgorithmRequest):
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space=request.space.to_tune(), metric=request.metric, mode=request.mode, seed=request.seed)
    return (ConcurrencyLimiter(searcher, request.max_concurrent) if request.max_concurrent else searcher), None


def _hyperband(request: AlgorithmRequest):
    from ray.tune.schedulers import HyperBandScheduler

    scheduler = HyperBandScheduler(time_attr="training_iteration", max_t=request.max_epochs,
                                   reduction_factor=request.options.get("reduction_factor", 3))
    return _logic_searcher(RandomSearch, request), scheduler


def _asha(request: AlgorithmRequest):
    from trw_ray.hparams.tune_schedulers import ASHAKeepingStartingActors

    brackets = request.options.get("brackets", 1)
    if brackets > 1 and request.seed is not None:
        np.random.seed(request.seed)  # Tune's ASHA draws each trial's bracket from numpy's global state
    scheduler = ASHAKeepingStartingActors(time_attr="training_iteration", max_t=request.max_epochs,
                                          grace_period=request.options.get("grace_period", 1),
                                          reduction_factor=request.options.get("reduction_factor", 3),
                                          brackets=brackets)
    return _logic_searcher(RandomSearch, request), scheduler


def _clip_to_space(parameters: Mapping[str, Param]) -> Callable[[dict], dict]:
    def explore(config: dict) -> dict:
        for name, spec in parameters.items():
            if name not in config:
                continue
            if spec.choices is not None:
                if config[name] not in spec.choices:
                    config[name] = spec.default
            else:
                config[name] = spec.from_unit(float(np.clip(spec.to_unit(config[name]), 0.0, 1.0)))
        return config

    return explore


def _pbt(request: AlgorithmRequest):
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search import BasicVariantGenerator

    params, options = request.space.parameters, request.options
    names = options.get("mutations") or [name for name, spec in params.items() if spec.choices is None
                                          and type(spec).__name__.startswith("Continuous")]
    if not isinstance(names, (list, tuple)) or not names or sorted(set(names) - set(params)):
        raise ValueError(f"algorithm_options: 'mutations' must name continuous parameters of the space "
                         f"{list(params)}; got {names!r}")
    rng = np.random.default_rng(request.seed)
    mutations = {name: (lambda spec=params[name]: spec.sample(rng)) for name in names}
    # PBT refuses searchers: its initial population comes from Tune's own sampler over the converted space
    searcher = BasicVariantGenerator(random_state=request.seed, max_concurrent=request.max_concurrent or 0)
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=options.get("perturbation_interval", max(1, request.max_epochs // 4)),
        hyperparam_mutations=mutations, custom_explore_fn=_clip_to_space(params),
        quantile_fraction=options.get("quantile_fraction", 0.25),
        resample_probability=options.get("resample_probability", 0.25))
    return searcher, scheduler


register_algorithm("random", _random, options={"constraint": any_option}, trials_ahead=True,
                   description="uniform sampling of the space (only what a constraint accepts, when given one)")
register_algorithm("grid", _grid, options={"grid_points": any_option}, trials_ahead=True,
                   description="every combination of the choices (continuous parameters on grid_points values)")
register_algorithm("hyperband", _hyperband, options={"reduction_factor": integer_option(2)}, needs_max_epochs=True,
                   trials_ahead=True, description="random configurations in HyperBand's synchronous brackets")
register_algorithm("asha", _asha, options={"reduction_factor": integer_option(2), "grace_period": integer_option(1),
                                           "brackets": integer_option(1)},
                   needs_max_epochs=True, trials_ahead=True,
                   description="random configurations stopped early by asynchronous successive halving")
register_algorithm("pbt", _pbt, options={"perturbation_interval": integer_option(1), "mutations": any_option,
                                         "quantile_fraction": number_option(0.0, 0.5),
                                         "resample_probability": number_option(0.0, 1.0)},
                   needs_max_epochs=True, tune_samples_space=True, description="population based training")
register_algorithm("evolution", _evolution, options={"population_size": any_option, "sample_size": any_option,
                                                     "avoid_duplicates": bool_option, "key": any_option,
                                                     "constraint": any_option},
                   description="regularized (aging) evolution")
register_algorithm("tpe", _tpe, requires={"optuna": "optuna"}, description="Optuna's TPE sampler")

#: the built-in algorithms (``algorithm_names()`` also lists those registered later)
ALGORITHMS = tuple(algorithm_names())
