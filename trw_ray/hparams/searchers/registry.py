"""The registries of search algorithms: two of them, searchers and schedulers, combined into Ray Tune's ``(searcher, scheduler)``.

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

Adding a searcher is one registration, also from outside the package (every name is ``trw_ray.hparams``'s;
``MySearchLogic`` subclasses ``trw_ray.hparams.SearchLogic``)::

    from trw_ray.hparams import LogicSearcher, number_option, register_algorithm

    def build_my_search(request):
        logic = MySearchLogic(request.space.parameters, request.mode, request.seed, **request.options)
        return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None

    register_algorithm('mine', build_my_search, options={'temperature': number_option(0.0)})
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

from trw_ray import checks
from trw_ray.hparams.space.search_space import SearchSpace

OptionCheck = Callable[[Any, str], Any]  # (value, where) -> value, raising ValueError naming ``where``

__all__ = ["Algorithm", "AlgorithmRequest", "SearchPlan", "SchedulerEntry",
           "algorithm_names", "any_option", "bool_option", "check_algorithm", "create_algorithm", "get_algorithm",
           "get_scheduler", "integer_option", "number_option", "plan_search", "register_algorithm",
           "register_scheduler", "scheduler_names", "validate_plan"]


def integer_option(minimum: int = 1) -> OptionCheck:
    def check(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{where} expects an integer >= {minimum}; got {value!r}")
        return value

    return check


def number_option(minimum: float | None = None, maximum: float | None = None) -> OptionCheck:
    """The check of a numeric option of a registered algorithm (``register_algorithm(options={...})``).

    Args:
        minimum: the smallest value accepted (None: no bound).
        maximum: the largest value accepted (None: no bound).

    Returns:
        ``check(value, where) -> float`` raising ValueError naming ``where`` for anything else.
    """
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
        raise ValueError(f"{argument}: unknown for {owner!r}: {unknown}; allowed: {sorted(known)}")
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
        searcher: the searcher such a name runs with (``'bohb'``: ``'tpe'``; default ``'random'``).
        validate: ``AlgorithmRequest -> None``, raising ValueError for options that do not fit the space (checked
            with the space before Ray starts, see :func:`validate_plan`); None: the option checks are enough.
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
    searcher: str = "random"
    validate: Callable[[AlgorithmRequest], None] | None = None

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
        validate: as :attr:`Algorithm.validate`.
    """

    name: str
    build: Callable[[AlgorithmRequest], Any]
    options: Mapping[str, OptionCheck] = field(default_factory=dict)
    needs_max_epochs: bool = False
    pending_trials: Callable[[AlgorithmRequest], int] | None = None
    own_sampler: bool = False
    description: str = ""
    validate: Callable[[AlgorithmRequest], None] | None = None

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
                       scheduler: str | None = None, searcher: str = "random",
                       validate: Callable[[AlgorithmRequest], None] | None = None) -> Algorithm:
    """Adds a searcher to the registry (see :class:`Algorithm` for the fields); returns its entry.

    Raises:
        ValueError: the name is taken (pass ``replace=True`` to replace it) or not a plain name; ``scheduler`` is
            not a registered scheduler.
        TypeError: ``build`` is not callable or an option's check is not.
    """
    _check_registration(name, build, options, _REGISTRY, replace, "a function AlgorithmRequest -> (searcher, scheduler)")
    if scheduler is not None:
        get_scheduler(scheduler)
    if searcher != name and searcher not in _REGISTRY:
        raise ValueError(f"searcher: expected one of {algorithm_names()} (the searcher a name with a scheduler runs "
                         f"with); got {searcher!r}")
    entry = Algorithm(name, build, dict(options or {}), needs_max_epochs, dict(requires or {}), tune_samples_space,
                      trials_ahead, description, scheduler, searcher, validate)
    _REGISTRY[name] = entry
    return entry


def register_scheduler(name: str, build: Callable[[AlgorithmRequest], Any], *,
                       options: Mapping[str, OptionCheck] | None = None, needs_max_epochs: bool = False,
                       pending_trials: Callable[[AlgorithmRequest], int] | None = None, own_sampler: bool = False,
                       description: str = "", replace: bool = False,
                       validate: Callable[[AlgorithmRequest], None] | None = None) -> SchedulerEntry:
    """Adds a scheduler to the registry (see :class:`SchedulerEntry` for the fields); returns its entry."""
    _check_registration(name, build, options, _SCHEDULERS, replace, "a function AlgorithmRequest -> Tune scheduler")
    entry = SchedulerEntry(name, build, dict(options or {}), needs_max_epochs, pending_trials, own_sampler, description,
                           validate)
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
    """The names ``search(algorithm=...)`` accepts: the built-ins and those registered since."""
    return list(_REGISTRY)


def scheduler_names() -> list[str]:
    """The names ``search(scheduler=...)`` accepts: the built-ins and those registered since."""
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
        ValueError: an unknown name or option, a pair that cannot work (PBT with a searcher; a single name that
            implies another scheduler), a missing ``max_epochs`` or package, a bad option value.
        TypeError: options that are not a dict.
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
            searcher = get_algorithm(entry.searcher) if not chosen.own_sampler else entry
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
        base = entry.searcher
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


def _searcher_entry(plan: SearchPlan) -> Algorithm:
    """The entry that builds the searcher of ``plan`` (for a single name that implies a scheduler, its searcher's)."""
    if plan.algorithm.scheduler is not None and not plan.scheduler.own_sampler:
        return get_algorithm(plan.algorithm.searcher)
    return plan.algorithm


def validate_plan(plan: SearchPlan, space: SearchSpace, metric: str, mode: str, max_epochs: int | None,
                  seed: int | None) -> None:
    """Checks the plan's options against the space, without Ray (the driver calls it before Ray starts): the
    searcher's and the scheduler's ``validate`` (e.g. a ``grid_points`` that is not an integer >= 2, PBT
    ``mutations`` that name no continuous parameter of the space) raise ValueError now, not after Ray started."""
    for entry, options in ((_searcher_entry(plan), plan.algorithm_options), (plan.scheduler, plan.scheduler_options)):
        if entry.validate is not None:
            entry.validate(AlgorithmRequest(space, metric, mode, max_epochs, seed, None, dict(options)))


def create_algorithm(algorithm: str | SearchPlan, space: SearchSpace, metric: str, mode: str, max_epochs: int | None,
                     seed: int | None, max_concurrent: int | None, options: Mapping[str, Any] | None = None,
                     scheduler: str | None = None, scheduler_options: Mapping[str, Any] | None = None):
    """``(searcher, scheduler)`` of a searcher and a scheduler (:func:`plan_search`, or a plan already made)."""
    plan = algorithm if isinstance(algorithm, SearchPlan) else plan_search(algorithm, max_epochs, options, scheduler,
                                                                          scheduler_options)
    searcher_entry = _searcher_entry(plan)
    request = AlgorithmRequest(space, metric, mode, max_epochs, seed, max_concurrent, plan.algorithm_options)
    searcher, built_scheduler = searcher_entry.build(request)
    if built_scheduler is not None:
        if plan.scheduler.name != "fifo" and plan.algorithm.scheduler is None:
            raise ValueError(f"scheduler: algorithm {plan.algorithm.name!r} brings its own scheduler "
                             f"({type(built_scheduler).__name__}); it cannot be combined with {plan.scheduler.name!r}")
        return searcher, built_scheduler
    return searcher, plan.scheduler.build(AlgorithmRequest(space, metric, mode, max_epochs, seed, max_concurrent,
                                                           plan.scheduler_options))

