"""The built-in searchers and schedulers, registered in :mod:`trw_ray.hparams.searchers`'s registries.

Searchers: ``random``, ``grid``, ``evolution`` (trw_ray's own logic behind :class:`LogicSearcher`) and ``tpe``
(Optuna's TPE, told of early-stopped trials as pruned); schedulers: ``fifo``, ``hyperband``, ``asha`` (Tune's, with
trw_ray's actor-keeping order) and ``pbt``. The single names ``hyperband``, ``asha``, ``pbt`` and ``bohb`` imply
their scheduler; ``darts`` (:class:`~trw_ray.hparams.searchers.SeedSweep`) is the one :mod:`trw_ray.nas.darts` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from trw_ray.hparams.searchers.evolution import RegularizedEvolution
from trw_ray.hparams.searchers.grid import GridSearch
from trw_ray.hparams.searchers.random_search import RandomSearch, SeedSweep
from trw_ray.hparams.searchers.registry import (
    AlgorithmRequest,
    any_option,
    bool_option,
    integer_option,
    number_option,
    register_algorithm,
    register_scheduler,
)
from trw_ray.hparams.space.params import Param

__all__ = ["hyperband_largest_bracket"]


def _logic_searcher(logic_class, request: AlgorithmRequest, **options):
    from trw_ray.hparams.searchers.logic_searcher import LogicSearcher

    logic = logic_class(request.space.parameters, request.mode, request.seed, **options)
    return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent)


def _logic_check(logic_class):
    """``validate`` of a searcher whose logic is Ray-free: building the logic checks its options against the space."""

    def validate(request: AlgorithmRequest) -> None:
        logic_class(request.space.parameters, request.mode, request.seed, **request.options)

    return validate


def _random(request: AlgorithmRequest):
    return _logic_searcher(RandomSearch, request, **request.options), None


def _seed_sweep(request: AlgorithmRequest):
    return _logic_searcher(SeedSweep, request), None


def _grid(request: AlgorithmRequest):
    return _logic_searcher(GridSearch, request, **request.options), None


def _evolution(request: AlgorithmRequest):
    return _logic_searcher(RegularizedEvolution, request, **request.options), None


def _tpe(request: AlgorithmRequest):
    from ray.tune.search import ConcurrencyLimiter

    from trw_ray.hparams.searchers.optuna_tpe import PruningAwareOptunaSearch

    searcher = PruningAwareOptunaSearch(space=request.space.to_tune(), metric=request.metric, mode=request.mode,
                                        seed=request.seed)
    return (ConcurrencyLimiter(searcher, request.max_concurrent) if request.max_concurrent else searcher), None


def _fifo_scheduler(request: AlgorithmRequest):
    from trw_ray.hparams.searchers.schedulers import FIFOKeepingStartingActors

    return FIFOKeepingStartingActors()


def _hyperband_scheduler(request: AlgorithmRequest):
    from ray.tune.schedulers import HyperBandScheduler

    # stop_last_trials=False: a trial that reached max_epochs returns by itself (an own loop's last report is not
    # held back when it calls ray.tune.report), so its function's result is recorded and it counts as completed
    return HyperBandScheduler(time_attr="training_iteration", max_t=request.max_epochs,
                              reduction_factor=request.options.get("reduction_factor", 3), stop_last_trials=False)


def hyperband_largest_bracket(request: AlgorithmRequest) -> int:
    """Trials in the first (largest) bracket of Tune's HyperBand for ``max_epochs`` and the reduction factor."""
    eta = request.options.get("reduction_factor", 3)
    s_max_1 = int(np.round(np.log(request.max_epochs) / np.log(eta))) + 1
    return int(np.ceil(s_max_1 * eta ** (s_max_1 - 1) / s_max_1))


def _asha_scheduler(request: AlgorithmRequest):
    from trw_ray.hparams.searchers.schedulers import ASHAKeepingStartingActors

    brackets = request.options.get("brackets", 1)
    if brackets > 1 and request.seed is not None:
        np.random.seed(request.seed)  # Tune's ASHA draws each trial's bracket from numpy's global state
    return ASHAKeepingStartingActors(time_attr="training_iteration", max_t=request.max_epochs,
                                     grace_period=request.options.get("grace_period", 1),
                                     reduction_factor=request.options.get("reduction_factor", 3), brackets=brackets,
                                     stop_last_trials=False)  # as HyperBand's


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


def _pbt_mutations(request: AlgorithmRequest) -> list[str]:
    """The parameters PBT mutates: ``mutations``, or every continuous one; ValueError naming the option if none."""
    params = request.space.parameters
    names = request.options.get("mutations") or [name for name, spec in params.items() if spec.choices is None
                                                  and type(spec).__name__.startswith("Continuous")]
    if not isinstance(names, (list, tuple)) or not names or sorted(set(names) - set(params)):
        raise ValueError(f"algorithm_options: 'mutations' must name continuous parameters of the space "
                         f"{list(params)}; got {names!r}")
    return list(names)


def _pbt_scheduler(request: AlgorithmRequest):
    from ray.tune.schedulers import PopulationBasedTraining

    params, options = request.space.parameters, request.options
    names = _pbt_mutations(request)
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
                   needs_max_epochs=True, own_sampler=True, description="population based training",
                   validate=_pbt_mutations)

register_algorithm("random", _random, options={"constraint": any_option}, trials_ahead=True,
                   validate=_logic_check(RandomSearch),
                   description="uniform sampling of the space (only what a constraint accepts, when given one)")
register_algorithm("grid", _grid, options={"grid_points": any_option}, trials_ahead=True,
                   validate=_logic_check(GridSearch),
                   description="every combination of the choices (continuous parameters on grid_points values)")
register_algorithm("hyperband", _random, scheduler="hyperband", trials_ahead=True, needs_max_epochs=True,
                   description="random configurations in HyperBand's synchronous brackets")
register_algorithm("asha", _random, scheduler="asha", trials_ahead=True, needs_max_epochs=True,
                   description="random configurations stopped early by asynchronous successive halving")
register_algorithm("pbt", _pbt_sampler, scheduler="pbt", needs_max_epochs=True, tune_samples_space=True,
                   description="population based training")
register_algorithm("evolution", _evolution, options={"population_size": any_option, "sample_size": any_option,
                                                     "avoid_duplicates": bool_option, "key": any_option,
                                                     "constraint": any_option, "surrogate": bool_option,
                                                     "surrogate_options": any_option, "climb": any_option,
                                                     "stall": any_option},
                   validate=_logic_check(RegularizedEvolution),
                   description="regularized (aging) evolution; surrogate=True picks each child with a surrogate")
register_algorithm("tpe", _tpe, requires={"optuna": "optuna"}, description="Optuna's TPE sampler")
register_algorithm("bohb", _tpe, scheduler="hyperband", searcher="tpe", requires={"optuna": "optuna"}, needs_max_epochs=True,
                   description="BOHB-style: TPE proposals (early-stopped trials told as pruned) in HyperBand brackets")
register_algorithm("darts", _seed_sweep, trials_ahead=True,
                   description="DARTS supernets: trial i has seed (search seed + i), other settings at random")
