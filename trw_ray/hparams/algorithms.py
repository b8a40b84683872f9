"""The search algorithms: two registries, searchers and schedulers, combined into Ray Tune's ``(searcher, scheduler)``.

A search is a searcher (which configurations to try) times a scheduler (how long each trains)::

    trw_ray.hparams.search(evaluate, algorithm='tpe', scheduler='asha', max_epochs=27)

Searchers: ``random``, ``grid``, ``evolution`` (regularized evolution), ``tpe`` (Optuna's TPE). Schedulers: ``fifo``
(every trial to the end; the default), ``hyperband``, ``asha`` and ``pbt`` (which keeps its own sampler, so it takes
no searcher). The single names in use before stay: ``algorithm='hyperband'`` / ``'asha'`` are random search with
that scheduler, ``'pbt'`` is PBT, and ``'bohb'`` is TPE with HyperBand (BOHB-style). Options are checked per part:
``algorithm_options`` go to the searcher, ``scheduler_options`` to the scheduler (for the single names that imply a
scheduler, ``algorithm_options`` are that scheduler's, as before).

With a scheduler, a trial it stops early ends on the validation value of its last epoch, not on what its function
returns: TPE is told such a trial as *pruned* at the epoch it reached (Optuna's own TPE + pruner semantics: pruned
trials rank behind complete ones), evolution sees its last value (an early-stopped trial rarely wins a tournament).

Adding a searcher is one registration, also from outside the package::

    def build_my_search(request):
        logic = MySearchLogic(request.space.parameters, request.mode, request.seed, **request.options)
        return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None

    trw_ray.hparams.register_algorithm('mine', build_my_search, options={'temperature': number_option(0.0)})
    trw_ray.hparams.search(evaluate, algorithm='mine', algorithm_options={'temperature': 0.5})

``build`` receives an :class:`AlgorithmRequest` (space, metric, mode, max_epochs, seed, max_concurrent and the
checked options) and returns a Tune searcher and a scheduler (None: the scheduler the search asks for, FIFO by
default). :func:`register_scheduler` adds a scheduler the same way (``build(request) -> Tune scheduler``). The
registration must run in the driver's process (Tune builds the searcher there); an unknown name lists the
registered ones, an unknown option the options its part takes.
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

__all__ = ["ALGORITHMS", "SCHEDULERS", "Algorithm", "AlgorithmRequest", "SearchPlan", "SchedulerEntry",
           "algorithm_names", "any_option", "bool_option", "check_algorithm", "create_algorithm", "get_algorithm",
           "get_scheduler", "integer_option", "number_option", "plan_search", "register_algorithm",
           "register_scheduler", "scheduler_names"]


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


def _check_options(owner: str, known: Mapping[str, OptionCheck], options: Mapping[str, Any] | None,
                   argument: str) -> dict[str, Any]:
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"{argument}: expected a dict such as {{'grace_period': 3}}; got {type(options).__name__}")
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"{argument}: unknown for {owner!r}: {unknown}; allowed: {sorted(known)}")
    return {name: known[name](value, f"{argument}: {name!r} of {owner!r}") for name, value in options.items()}


@dataclass(frozen=True)
class Algorithm:
    """One searcher entry (what ``search(algorithm=...)`` takes).

    Attributes:
        name: what ``search(algorithm=...)`` takes.
        build: ``AlgorithmRequest -> (searcher, scheduler)``; a None scheduler is the one the search asks for.
        options: ``{option: check}`` of the ``algorithm_options`` it takes.
        needs_max_epochs: it schedules trials by epochs (``max_epochs`` is its ``max_t``).
        requires: modules it imports, with the package to install (``{'optuna': 'optuna'}``).
        tune_samples_space: Tune samples the first configurations from the converted space (PBT refuses searchers).
        trials_ahead: Tune creates every trial up front (sampling without feedback gains nothing from waiting).
            Tune otherwise keeps a single pending trial for custom searchers, so they learn from every result.
        description: one line for listings.
        scheduler: the scheduler this single name implies (``'asha'`` is random search with ASHA); its
            ``algorithm_options`` are then that scheduler's options.
    """

    name: str
    build: Callable[[AlgorithmRequest], tuple[Any, Any]]
    options: Mapping[str, OptionCheck] = field(default_factory=dict)
    needs_max_epochs: bool = False
    requires: Mapping[str, str] = field(default_factory=dict)
    tune_samples_space: bool = False
    trials_ahead: bool = False
    description: str = ""
    scheduler: str | None = None

    def check_options(self, options: Mapping[str, Any] | None, max_epochs: int | None) -> dict[str, Any]:
        """The checked ``algorithm_options`` (those of its scheduler, for a name that implies one)."""
        if self.scheduler is not None:
            checked = get_scheduler(self.scheduler).check_options(options, max_epochs, "algorithm_options", self.name)
        else:
            checked = _check_options(self.name, self.options, options, "algorithm_options")
        if self.needs_max_epochs and max_epochs is None:
            raise ValueError(f"max_epochs: {self.name!r} schedules trials by epochs; give the budget of one trial "
                             "(e.g. max_epochs=9)")
        for module, package in self.requires.items():
            if importlib.util.find_spec(module) is None:
                raise ValueError(f"algorithm: {self.name!r} needs {module}; install it with `pip install {package}`")
        return checked


@dataclass(frozen=True)
class SchedulerEntry:
    """One scheduler entry (what ``search(scheduler=...)`` takes).

    Attributes:
        name: what ``search(scheduler=...)`` takes.
        build: ``AlgorithmRequest -> Tune scheduler`` (the request's ``options`` are the checked scheduler options).
        options: ``{option: check}`` of the ``scheduler_options`` it takes.
        needs_max_epochs: it schedules trials by epochs (``max_epochs`` is its ``max_t``).
        pending_trials: ``request -> n``: Tune keeps n trials created ahead (synchronous HyperBand halves a bracket
            only once its trials exist together); None leaves the searcher's own choice.
        own_sampler: it samples the configurations itself (PBT) and takes no searcher.
        description: one line for listings.
    """

    name: str
    build: Callable[[AlgorithmRequest], Any]
    options: Mapping[str, OptionCheck] = field(default_factory=dict)
    needs_max_epochs: bool = False
    pending_trials: Callable[[AlgorithmRequest], int] | None = None
    own_sampler: bool = False
    description: str = ""

    def check_options(self, options: Mapping[str, Any] | None, max_epochs: int | None,
                      argument: str = "scheduler_options", owner: str | None = None) -> dict[str, Any]:
        owner = owner or self.name
        checked = _check_options(owner, self.options, options, argument)
        if self.needs_max_epochs and max_epochs is None:
            raise ValueError(f"max_epochs: {owner!r} schedules trials by epochs; give the budget of one trial "
                             "(e.g. max_epochs=9)")
        return checked


_REGISTRY: dict[str, Algorithm] = {}
_SCHEDULERS: dict[str, SchedulerEntry] = {}


def register_algorithm(name: str, build: Callable[[AlgorithmRequest], tuple[Any, Any]], *,
                       options: Mapping[str, OptionCheck] | None = None, needs_max_epochs: bool = False,
                       requires: Mapping[str, str] | None = None, tune_samples_space: bool = False,
                       trials_ahead: bool = False, description: str = "", replace: bool = False,
                       scheduler: str | None = None) -> Algorithm:
    """Adds a searcher to the registry (see :class:`Algorithm` for the fields); returns its entry.

    Raises:
        ValueError: the name is taken (pass ``replace=True`` to replace it) or not a plain name; ``scheduler`` is
            not a registered scheduler.
        TypeError: ``build`` is not callable or an option's check is not.
    """
    _check_registration(name, build, options, _REGISTRY, replace, "a function AlgorithmRequest -> (searcher, scheduler)")
    if scheduler is not None:
        get_scheduler(scheduler)
    entry = Algorithm(name, build, dict(options or {}), needs_max_epochs, dict(requires or {}), tune_samples_space,
                      trials_ahead, description, scheduler)
    _REGISTRY[name] = entry
    return entry


def register_scheduler(name: str, build: Callable[[AlgorithmRequest], Any], *,
                       options: Mapping[str, OptionCheck] | None = None, needs_max_epochs: bool = False,
                       pending_trials: Callable[[AlgorithmRequest], int] | None = None, own_sampler: bool = False,
                       description: str = "", replace: bool = False) -> SchedulerEntry:
    """Adds a scheduler to the registry (see :class:`SchedulerEntry` for the fields); returns its entry."""
    _check_registration(name, build, options, _SCHEDULERS, replace, "a function AlgorithmRequest -> Tune scheduler")
    entry = SchedulerEntry(name, build, dict(options or {}), needs_max_epochs, pending_trials, own_sampler, description)
    _SCHEDULERS[name] = entry
    return entry


def _check_registration(name, build, options, registry, replace: bool, expected: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: expected a plain name such as 'my_search'; got {name!r}")
    if name in registry and not replace:
        raise ValueError(f"name: the algorithm {name!r} is already registered; pass replace=True to replace it")
    if not callable(build):
        raise TypeError(f"build: expected {expected}; got {build!r}")
    for option, check in (options or {}).items():
        if not callable(check):
            raise TypeError(f"options: the check of {option!r} must be callable (value, where) -> value; got {check!r}")


def algorithm_names() -> list[str]:
    return list(_REGISTRY)


def scheduler_names() -> list[str]:
    return list(_SCHEDULERS)


def get_algorithm(name: str) -> Algorithm:
    if name not in _REGISTRY:
        raise ValueError(f"algorithm: expected one of {algorithm_names()}; got {name!r}")
    return _REGISTRY[name]


def get_scheduler(name: str) -> SchedulerEntry:
    if name not in _SCHEDULERS:
        raise ValueError(f"scheduler: expected one of {scheduler_names()}; got {name!r}")
    return _SCHEDULERS[name]


@dataclass(frozen=True)
class SearchPlan:
    """A searcher and a scheduler checked together: what :func:`create_algorithm` builds and the driver runs."""

    algorithm: Algorithm
    scheduler: SchedulerEntry
    algorithm_options: dict[str, Any]
    scheduler_options: dict[str, Any]

    @property
    def label(self) -> str:
        """``'tpe+asha'``; a single name (``'asha'``, ``'random'``) when the search is one."""
        implied = self.algorithm.scheduler or "fifo"
        return self.algorithm.name if implied == self.scheduler.name else f"{self.algorithm.name}+{self.scheduler.name}"

    @property
    def tune_samples_space(self) -> bool:
        return self.algorithm.tune_samples_space or self.scheduler.own_sampler

    def pending_trials(self, request: AlgorithmRequest, num_samples: int) -> int | None:
        """How many trials Tune creates ahead (None: its default, one for custom searchers)."""
        if self.algorithm.trials_ahead:
            return min(num_samples, 256)
        if self.scheduler.pending_trials is not None:
            return min(num_samples, self.scheduler.pending_trials(request))
        return None


def plan_search(algorithm: str, max_epochs: int | None, algorithm_options: Mapping[str, Any] | None = None,
                scheduler: str | None = None, scheduler_options: Mapping[str, Any] | None = None) -> SearchPlan:
    """Checks a searcher x scheduler pair and the options of each part, before Ray starts.

    ``algorithm`` alone keeps the meaning of the single names (``'asha'``: random search with ASHA, options in
    ``algorithm_options``); ``scheduler`` combines a searcher with a scheduler (``'tpe'`` + ``'asha'``).

    Raises:
        ValueError: an unknown name, a pair that cannot work (PBT with a searcher; a single name that implies another
            scheduler), a missing ``max_epochs`` or package, a bad option value.
        TypeError: an option its part does not take.
    """
    entry = get_algorithm(algorithm)
    implied = entry.scheduler
    if scheduler is None or scheduler == implied:
        if implied is not None:
            if scheduler_options and algorithm_options:
                raise ValueError(f"scheduler_options: {algorithm!r} takes its scheduler's options in algorithm_options "
                                 f"or scheduler_options, not both; got {dict(algorithm_options)} and "
                                 f"{dict(scheduler_options)}")
            chosen = get_scheduler(implied)
            options = (chosen.check_options(scheduler_options, max_epochs, "scheduler_options", algorithm)
                       if scheduler_options else entry.check_options(algorithm_options, max_epochs))
            searcher = get_algorithm(_IMPLIED_SEARCHER.get(algorithm, "random")) if not chosen.own_sampler else entry
            searcher_options = searcher.check_options(None, max_epochs) if searcher is not entry else {}
            return SearchPlan(entry, chosen, searcher_options, options)
        chosen = get_scheduler(scheduler or "fifo")
        return SearchPlan(entry, chosen, entry.check_options(algorithm_options, max_epochs),
                          chosen.check_options(scheduler_options, max_epochs))
    chosen = get_scheduler(scheduler)
    if chosen.own_sampler:
        raise ValueError(f"scheduler: {scheduler!r} samples its own population and takes no searcher; use "
                         f"algorithm={scheduler!r} alone (got algorithm={algorithm!r})")
    if implied is not None:
        base = _IMPLIED_SEARCHER.get(algorithm, "random")
        raise ValueError(f"scheduler: algorithm {algorithm!r} is {base} search with the {implied!r} scheduler; for "
                         f"{scheduler!r} pass algorithm={base!r}, scheduler={scheduler!r}")
    return SearchPlan(entry, chosen, entry.check_options(algorithm_options, max_epochs),
                      chosen.check_options(scheduler_options, max_epochs))


def check_algorithm(algorithm: str, max_epochs: int | None, options: Mapping[str, Any] | None,
                    scheduler: str | None = None, scheduler_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Raises for an unknown algorithm, options it does not take or a bad option value, a missing ``max_epochs``
    or a missing package; returns the checked options (see :func:`plan_search` for the pair)."""
    plan = plan_search(algorithm, max_epochs, options, scheduler, scheduler_options)
    return plan.scheduler_options if plan.algorithm.scheduler and scheduler is None else plan.algorithm_options


def create_algorithm(algorithm: str | SearchPlan, space: SearchSpace, metric: str, mode: str, max_epochs: int | None,
                     seed: int | None, max_concurrent: int | None, options: Mapping[str, Any] | None = None,
                     scheduler: str | None = None, scheduler_options: Mapping[str, Any] | None = None):
    """``(searcher, scheduler)`` of a searcher and a scheduler (:func:`plan_search`, or a plan already made)."""
    plan = algorithm if isinstance(algorithm, SearchPlan) else plan_search(algorithm, max_epochs, options, scheduler,
                                                                          scheduler_options)
    searcher_entry = plan.algorithm
    if plan.algorithm.scheduler is not None and not plan.scheduler.own_sampler:
        searcher_entry = get_algorithm(_IMPLIED_SEARCHER.get(plan.algorithm.name, "random"))
    request = AlgorithmRequest(space, metric, mode, max_epochs, seed, max_concurrent, plan.algorithm_options)
    searcher, built_scheduler = searcher_entry.build(request)
    if built_scheduler is not None:
        if plan.scheduler.name != "fifo" and plan.algorithm.scheduler is None:
            raise ValueError(f"scheduler: algorithm {plan.algorithm.name!r} brings its own scheduler "
                             f"({type(built_scheduler).__name__}); it cannot be combined with {plan.scheduler.name!r}")
        return searcher, built_scheduler
    return searcher, plan.scheduler.build(AlgorithmRequest(space, metric, mode, max_epochs, seed, max_concurrent,
                                                           plan.scheduler_options))


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

    from trw_ray.hparams.tune_tpe import PruningAwareOptunaSearch

    searcher = PruningAwareOptunaSearch(space=request.space.to_tune(), metric=request.metric, mode=request.mode,
                                        seed=request.seed)
    return (ConcurrencyLimiter(searcher, request.max_concurrent) if request.max_concurrent else searcher), None


def _fifo_scheduler(request: AlgorithmRequest):
    from trw_ray.hparams.tune_schedulers import FIFOKeepingStartingActors

    return FIFOKeepingStartingActors()


def _hyperband_scheduler(request: AlgorithmRequest):
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(time_attr="training_iteration", max_t=request.max_epochs,
                              reduction_factor=request.options.get("reduction_factor", 3))


def hyperband_largest_bracket(request: AlgorithmRequest) -> int:
    """Trials in the first (largest) bracket of Tune's HyperBand for ``max_epochs`` and the reduction factor."""
    eta = request.options.get("reduction_factor", 3)
    s_max_1 = int(np.round(np.log(request.max_epochs) / np.log(eta))) + 1
    return int(np.ceil(s_max_1 * eta ** (s_max_1 - 1) / s_max_1))


def _asha_scheduler(request: AlgorithmRequest):
    from trw_ray.hparams.tune_schedulers import ASHAKeepingStartingActors

    brackets = request.options.get("brackets", 1)
    if brackets > 1 and request.seed is not None:
        np.random.seed(request.seed)  # Tune's ASHA draws each trial's bracket from numpy's global state
    return ASHAKeepingStartingActors(time_attr="training_iteration", max_t=request.max_epochs,
                                     grace_period=request.options.get("grace_period", 1),
                                     reduction_factor=request.options.get("reduction_factor", 3), brackets=brackets)


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


def _pbt_sampler(request: AlgorithmRequest):
    from ray.tune.search import BasicVariantGenerator

    # PBT refuses searchers: its initial population comes from Tune's own sampler over the converted space
    return BasicVariantGenerator(random_state=request.seed, max_concurrent=request.max_concurrent or 0), None


def _pbt_scheduler(request: AlgorithmRequest):
    from ray.tune.schedulers import PopulationBasedTraining

    params, options = request.space.parameters, request.options
    names = options.get("mutations") or [name for name, spec in params.items() if spec.choices is None
                                          and type(spec).__name__.startswith("Continuous")]
    if not isinstance(names, (list, tuple)) or not names or sorted(set(names) - set(params)):
        raise ValueError(f"algorithm_options: 'mutations' must name continuous parameters of the space "
                         f"{list(params)}; got {names!r}")
    rng = np.random.default_rng(request.seed)
    mutations = {name: (lambda spec=params[name]: spec.sample(rng)) for name in names}
    return PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=options.get("perturbation_interval", max(1, request.max_epochs // 4)),
        hyperparam_mutations=mutations, custom_explore_fn=_clip_to_space(params),
        quantile_fraction=options.get("quantile_fraction", 0.25),
        resample_probability=options.get("resample_probability", 0.25))


_HALVING = {"reduction_factor": integer_option(2)}
register_scheduler("fifo", _fifo_scheduler, description="every trial trains to the end")
register_scheduler("hyperband", _hyperband_scheduler, options=_HALVING, needs_max_epochs=True,
                   pending_trials=hyperband_largest_bracket,
                   description="HyperBand's synchronous brackets (successive halving, several aggressiveness levels)")
register_scheduler("asha", _asha_scheduler, options={**_HALVING, "grace_period": integer_option(1),
                                                     "brackets": integer_option(1)},
                   needs_max_epochs=True, description="asynchronous successive halving")
register_scheduler("pbt", _pbt_scheduler, options={"perturbation_interval": integer_option(1), "mutations": any_option,
                                                   "quantile_fraction": number_option(0.0, 0.5),
                                                   "resample_probability": number_option(0.0, 1.0)},
                   needs_max_epochs=True, own_sampler=True, description="population based training")

register_algorithm("random", _random, options={"constraint": any_option}, trials_ahead=True,
                   description="uniform sampling of the space (only what a constraint accepts, when given one)")
register_algorithm("grid", _grid, options={"grid_points": any_option}, trials_ahead=True,
                   description="every combination of the choices (continuous parameters on grid_points values)")
register_algorithm("hyperband", _random, scheduler="hyperband", trials_ahead=True, needs_max_epochs=True,
                   description="random configurations in HyperBand's synchronous brackets")
register_algorithm("asha", _random, scheduler="asha", trials_ahead=True, needs_max_epochs=True,
                   description="random configurations stopped early by asynchronous successive halving")
register_algorithm("pbt", _pbt_sampler, scheduler="pbt", needs_max_epochs=True, tune_samples_space=True,
                   description="population based training")
register_algorithm("evolution", _evolution, options={"population_size": any_option, "sample_size": any_option,
                                                     "avoid_duplicates": bool_option, "key": any_option,
                                                     "constraint": any_option},
                   description="regularized (aging) evolution")
register_algorithm("tpe", _tpe, requires={"optuna": "optuna"}, description="Optuna's TPE sampler")
register_algorithm("bohb", _tpe, scheduler="hyperband", requires={"optuna": "optuna"}, needs_max_epochs=True,
                   description="BOHB-style: TPE proposals (early-stopped trials told as pruned) in HyperBand brackets")
#: the searcher a single name that implies a scheduler runs with
_IMPLIED_SEARCHER = {"hyperband": "random", "asha": "random", "bohb": "tpe"}

#: the built-in algorithms (``algorithm_names()`` also lists those registered later)
ALGORITHMS = tuple(algorithm_names())
#: the built-in schedulers (``scheduler_names()`` also lists those registered later)
SCHEDULERS = tuple(scheduler_names())
