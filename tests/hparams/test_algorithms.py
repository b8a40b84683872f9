"""The algorithm registry: entries, their option checks, and registrations from outside the package (no Ray)."""

from __future__ import annotations

import pytest

import trw_ray as trw
from trw_ray.hparams import ContinuousUniform, RandomSearch, algorithm_names, register_algorithm
from trw_ray.hparams.searchers import (
    ALGORITHMS,
    SCHEDULERS,
    AlgorithmRequest,
    check_algorithm,
    create_algorithm,
    get_algorithm,
    integer_option,
    number_option,
    plan_search,
)
from trw_ray.hparams.space import SearchSpace

SPACE = SearchSpace(parameters={"x": ContinuousUniform(0.5, 0.0, 1.0)})


class FixedX(RandomSearch):
    """Suggests ``x = value`` every time (a searcher whose proposals a test can recognise)."""

    def __init__(self, space, mode="min", seed=None, value=0.25):
        super().__init__(space, mode, seed)
        self.value = value

    def suggest(self, trial_id):
        return {"x": self.value}


def build_fixed(request):
    from trw_ray.hparams.searchers.logic_searcher import LogicSearcher

    logic = FixedX(request.space.parameters, request.mode, request.seed, **request.options)
    return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None


def test_builtins_are_registered_with_their_traits():
    # darts is a built-in since #36: the CLI finds it without importing trw_ray.nas
    assert set(ALGORITHMS) == {"random", "grid", "hyperband", "asha", "pbt", "evolution", "tpe", "bohb", "darts"}
    assert set(SCHEDULERS) == {"fifo", "hyperband", "asha", "pbt"}
    assert set(ALGORITHMS) <= set(algorithm_names())
    assert get_algorithm("asha").needs_max_epochs and get_algorithm("asha").trials_ahead
    assert get_algorithm("pbt").tune_samples_space and not get_algorithm("evolution").trials_ahead


@pytest.mark.parametrize("call, error, message", [
    (lambda: check_algorithm("bayes", None, None), ValueError, "algorithm: expected one of ['random', 'grid'"),
    (lambda: check_algorithm("random", None, {"grace_period": 1}), ValueError,
     "algorithm_options: unknown for 'random': ['grace_period']; allowed: ['constraint']"),
    (lambda: check_algorithm("asha", None, None), ValueError, "max_epochs: 'asha' schedules trials by epochs"),
    (lambda: check_algorithm("asha", 9, [1]), TypeError, "algorithm_options: expected a dict"),
    (lambda: check_algorithm("pbt", 9, {"quantile_fraction": 0.7}), ValueError,
     "'quantile_fraction' of 'pbt' expects a number >= 0 and <= 0.5; got 0.7"),
    (lambda: check_algorithm("evolution", None, {"avoid_duplicates": "yes"}), ValueError,
     "'avoid_duplicates' of 'evolution' expects True or False; got 'yes'"),
    (lambda: register_algorithm("random", build_fixed), ValueError, "'random' is already registered"),
    (lambda: register_algorithm("my search", build_fixed), ValueError, "name: expected a plain name"),
    (lambda: register_algorithm("other", 3), TypeError, "build: expected a function"),
    (lambda: register_algorithm("other", build_fixed, options={"value": 3}), TypeError,
     "the check of 'value' must be callable"),
])
def test_bad_names_and_options_are_refused_with_what_is_allowed(call, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        call()
    assert "other" not in algorithm_names()


def test_an_algorithm_registered_from_outside_builds_with_checked_options():
    register_algorithm("fixed_x_test", build_fixed, options={"value": number_option(0.0, 1.0)}, replace=True)
    searcher, scheduler = create_algorithm("fixed_x_test", SPACE, "loss", "min", None, 0, None, {"value": 0.75})
    assert searcher.logic.suggest("t0") == {"x": 0.75}
    assert type(scheduler).__name__ == "FIFOKeepingStartingActors"
    with pytest.raises(ValueError, match="'value' of 'fixed_x_test' expects a number >= 0 and <= 1; got 2"):
        check_algorithm("fixed_x_test", None, {"value": 2})
    assert integer_option(2)(4, "where") == 4
    with pytest.raises(ValueError, match="searcher: expected one of \\['random'.*got 'nope'"):
        register_algorithm("nope_test", build_fixed, scheduler="asha", searcher="nope")


@pytest.mark.parametrize("algorithm, scheduler, label, searcher, tune_scheduler", [
    ("random", None, "random", "LogicSearcher", "FIFOKeepingStartingActors"),
    ("asha", None, "asha", "LogicSearcher", "ASHAKeepingStartingActors"),
    ("hyperband", None, "hyperband", "LogicSearcher", "HyperBandScheduler"),
    ("bohb", None, "bohb", "PruningAwareOptunaSearch", "HyperBandScheduler"),
    ("tpe", "asha", "tpe+asha", "PruningAwareOptunaSearch", "ASHAKeepingStartingActors"),
    ("evolution", "hyperband", "evolution+hyperband", "LogicSearcher", "HyperBandScheduler"),
    ("grid", "fifo", "grid", "LogicSearcher", "FIFOKeepingStartingActors"),
    ("pbt", None, "pbt", "BasicVariantGenerator", "PopulationBasedTraining"),
])
def test_each_searcher_combines_with_each_scheduler(algorithm, scheduler, label, searcher, tune_scheduler):
    if "Optuna" in searcher:
        pytest.importorskip("optuna")
    plan = plan_search(algorithm, 9, None, scheduler, None)
    assert plan.label == label
    built_searcher, built_scheduler = create_algorithm(plan, SPACE, "loss", "min", 9, 0, None)
    assert type(built_searcher).__name__ == searcher and type(built_scheduler).__name__ == tune_scheduler


def test_pairs_that_cannot_work_and_options_of_the_wrong_part_are_refused():
    with pytest.raises(ValueError, match="scheduler: 'pbt' samples its own population and takes no searcher; use "
                                         "algorithm='pbt' alone \\(got algorithm='tpe'\\)"):
        plan_search("tpe", 9, None, "pbt")
    with pytest.raises(ValueError, match="algorithm 'asha' is random search with the 'asha' scheduler; for "
                                         "'hyperband' pass algorithm='random', scheduler='hyperband'"):
        plan_search("asha", 9, None, "hyperband")
    with pytest.raises(ValueError, match="scheduler: expected one of \\['fifo', 'hyperband', 'asha', 'pbt'"):
        plan_search("random", 9, None, "median")
    with pytest.raises(ValueError, match="max_epochs: 'asha' schedules trials by epochs"):
        plan_search("tpe", None, None, "asha")
    with pytest.raises(ValueError, match="scheduler_options: unknown for 'asha': \\['population_size'\\]"):
        plan_search("evolution", 9, None, "asha", {"population_size": 4})
    with pytest.raises(ValueError, match="algorithm_options: unknown for 'evolution': \\['grace_period'\\]"):
        plan_search("evolution", 9, {"grace_period": 1}, "asha")
    plan = plan_search("evolution", 9, {"population_size": 4}, "asha", {"grace_period": 2})
    assert plan.algorithm_options == {"population_size": 4} and plan.scheduler_options == {"grace_period": 2}


def test_hyperband_creates_its_largest_bracket_ahead_for_searchers_that_learn():
    from trw_ray.hparams.searchers import hyperband_largest_bracket

    request = AlgorithmRequest(SPACE, "loss", "min", 27, 0, None, {"reduction_factor": 3})
    assert hyperband_largest_bracket(request) == 27  # Tune's brackets for max_t=27, eta=3: 27, 12, 6, 4 trials
    assert plan_search("evolution", 27, None, "hyperband").pending_trials(request, 49) == 27
    assert plan_search("evolution", 27, None, "asha").pending_trials(request, 49) is None  # learns from each result
    assert plan_search("asha", 27).pending_trials(request, 49) == 49  # random: every trial ahead


def test_tpe_is_told_early_stopped_trials_as_pruned_at_their_last_epoch():
    optuna = pytest.importorskip("optuna")
    from trw_ray.hparams.searchers.optuna_tpe import PruningAwareOptunaSearch
    from trw_ray.search_context import FINAL_KEY

    searcher = PruningAwareOptunaSearch(space=SPACE.to_tune(), metric="loss", mode="min", seed=0)
    for trial_id, losses, final in (("stopped", [0.9, 0.8], False), ("complete", [0.9, 0.7, 0.5], True)):
        searcher.suggest(trial_id)
        for epoch, loss in enumerate(losses, start=1):
            searcher.on_trial_result(trial_id, {"loss": loss, "training_iteration": epoch})
        searcher.on_trial_complete(trial_id, {"loss": losses[-1], "training_iteration": len(losses),
                                              **({FINAL_KEY: True} if final else {})})
    states = [(trial.state, trial.value) for trial in searcher._ot_study.trials]
    assert states == [(optuna.trial.TrialState.PRUNED, 0.8), (optuna.trial.TrialState.COMPLETE, 0.5)]


def test_tpe_takes_trw_rays_space_without_tunes_warning_about_it(monkeypatch):
    optuna = pytest.importorskip("optuna")
    import ray.tune.search.optuna.optuna_search as optuna_search

    from trw_ray.hparams.searchers.optuna_tpe import PruningAwareOptunaSearch

    warnings = []
    monkeypatch.setattr(optuna_search.logger, "warning", lambda message, *args: warnings.append(message))
    searcher = PruningAwareOptunaSearch(space=SPACE.to_tune(), metric="loss", mode="min", seed=0)
    assert warnings == []
    assert all(isinstance(value, optuna.distributions.BaseDistribution) for value in searcher._space.values())
    assert set(searcher.suggest("t0")) == set(SPACE.to_tune())


@pytest.mark.parametrize("algorithm, options, message", [
    ("grid", {"grid_points": "2"}, "grid_points: expected an integer"),
    ("evolution", {"population_size": 0}, "population_size"),
    ("pbt", {"mutations": ["nope"]}, "'mutations' must name continuous parameters"),
    ("random", {"grace_period": 1}, "algorithm_options: unknown for 'random'"),
])
def test_every_option_is_checked_before_ray_starts(monkeypatch, tmp_path, algorithm, options, message):
    import search_helpers

    from trw_ray import ray_session

    def refuse(*args, **kwargs):
        raise AssertionError("Ray started before the options were checked")

    monkeypatch.setattr(ray_session, "ensure_ray", refuse)
    with pytest.raises(ValueError, match=message):
        trw.hparams.search(search_helpers.quadratic, algorithm=algorithm, algorithm_options=options, max_epochs=3,
                           storage_path=tmp_path, verbose=0)


def test_the_registration_recipe_needs_only_names_trw_ray_hparams_exports(ray_local, tmp_path):
    """The recipe of trw_ray.hparams.searchers' docstring, written with ``trw_ray.hparams.*`` names only."""
    import search_helpers

    hparams = trw.hparams

    class Middle(hparams.SearchLogic):
        def suggest(self, trial_id):
            self.suggested += 1
            return {name: param.default for name, param in self.space.items()}

    def build_middle(request):
        logic = Middle(request.space.parameters, request.mode, request.seed)
        return hparams.LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None

    hparams.register_algorithm("middle_of_recipe", build_middle, options={"temperature": hparams.number_option(0.0)},
                               replace=True)
    results = hparams.search(search_helpers.quadratic, algorithm="middle_of_recipe",
                             algorithm_options={"temperature": 0.5}, num_samples=2, storage_path=tmp_path,
                             name="recipe", verbose=0)
    assert len(results.trials()) == 2 and results.settings["algorithm"] == "middle_of_recipe"
    with pytest.raises(ValueError, match="temperature"):
        hparams.search(search_helpers.quadratic, algorithm="middle_of_recipe", algorithm_options={"temperature": -1},
                       num_samples=1, storage_path=tmp_path, name="recipe_bad", verbose=0)
