"""The algorithm registry: entries, their option checks, and registrations from outside the package (no Ray)."""

from __future__ import annotations

import pytest

from trw_ray.hparams import ContinuousUniform, RandomSearch, algorithm_names, register_algorithm
from trw_ray.hparams.algorithms import (
    ALGORITHMS,
    check_algorithm,
    create_algorithm,
    get_algorithm,
    integer_option,
    number_option,
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
    from trw_ray.hparams.tune_searcher import LogicSearcher

    logic = FixedX(request.space.parameters, request.mode, request.seed, **request.options)
    return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None


def test_builtins_are_registered_with_their_traits():
    assert set(ALGORITHMS) == {"random", "grid", "hyperband", "asha", "pbt", "evolution", "tpe"}
    assert set(ALGORITHMS) <= set(algorithm_names())
    assert get_algorithm("asha").needs_max_epochs and get_algorithm("asha").trials_ahead
    assert get_algorithm("pbt").tune_samples_space and not get_algorithm("evolution").trials_ahead


@pytest.mark.parametrize("call, error, message", [
    (lambda: check_algorithm("bayes", None, None), ValueError, "algorithm: expected one of ['random', 'grid'"),
    (lambda: check_algorithm("random", None, {"grace_period": 1}), TypeError,
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
