"""Search algorithms without Ray: seeded configurations, grid coverage, regularized evolution, HyperBand brackets."""

import itertools
import json

import numpy as np
import pytest

from trw_ray.hparams import (
    ContinuousPower,
    ContinuousUniform,
    DiscreteInteger,
    DiscreteValue,
    GridSearch,
    RandomSearch,
    RegularizedEvolution,
    hyperband_brackets,
)
from trw_ray.hparams.searchers import surrogate_model

SPACE = {"lr": ContinuousPower(0.01, -4, 0), "units": DiscreteInteger(32, 8, 128),
         "activation": DiscreteValue("relu", ["relu", "elu", "tanh"])}
CELLS = {f"op{i}": DiscreteValue("a", ["a", "b", "c", "d", "e"]) for i in range(6)}


def _configs(logic, count):
    return [logic.suggest(f"t{i}") for i in range(count)]


def test_same_seed_same_configurations_other_seed_others():
    first, again, other = (_configs(RandomSearch(SPACE, seed=s), 10) for s in (3, 3, 4))
    assert first == again
    assert first != other
    for config in first:
        assert {name: spec.validate(config[name]) for name, spec in SPACE.items()} == config
    assert _configs(RegularizedEvolution(SPACE, seed=3), 10) == _configs(RegularizedEvolution(SPACE, seed=3), 10)


def test_grid_visits_every_combination_once_then_stops():
    logic = GridSearch({"lr": ContinuousUniform(0.1, 0.0, 1.0), "activation": DiscreteValue("relu", ["relu", "elu"])},
                       grid_points=3)
    configs = []
    while (config := logic.suggest("t")) is not None:
        configs.append(config)
    assert logic.size == 6 and len(configs) == 6
    assert {(c["lr"], c["activation"]) for c in configs} == {(lr, a) for lr in (0.0, 0.5, 1.0) for a in ("relu", "elu")}


def test_evolution_mutates_one_parameter_of_a_tournament_winner_and_ages_the_population():
    logic = RegularizedEvolution(CELLS, mode="max", seed=0, population_size=4, sample_size=2)
    initial = [logic.suggest(f"t{i}") for i in range(4)]
    for index in range(len(initial)):
        logic.observe(f"t{index}", float(index))
    assert [score for _, score in logic.population] == [0.0, 1.0, 2.0, 3.0]
    child = logic.suggest("t4")
    differences = [min(sum(child[k] != member[k] for k in CELLS) for member, _ in logic.population)]
    assert differences == [1]  # one parameter of a population member changed
    logic.observe("t4", 10.0)
    assert len(logic.population) == 4 and logic.population[0][1] == 1.0  # the oldest member left
    logic.observe("never-suggested", 1.0)
    logic.observe("t5", None)  # an unknown or failed trial changes nothing
    assert len(logic.population) == 4


def test_evolution_state_round_trips_through_json_and_continues_identically():
    logic = RegularizedEvolution(CELLS, seed=1, population_size=5, sample_size=3)
    for index in range(8):
        config = logic.suggest(f"t{index}")
        logic.observe(f"t{index}", float(sum(v == "c" for v in config.values())))
    restored = RegularizedEvolution(CELLS, seed=99, population_size=5, sample_size=3)
    restored.load_state_dict(json.loads(json.dumps(logic.state_dict())))
    assert _configs(restored, 5) == _configs(logic, 5)


def test_evolution_beats_random_search_on_a_structured_discrete_problem():
    def objective(config):  # one best cell among 5**6, smooth in the number of matching operations
        return float(sum(v == "c" for v in config.values()) + 0.5 * (config["op0"] == "e"))

    def best_found(logic, budget=120):
        best = -np.inf
        for index in range(budget):
            config = logic.suggest(f"t{index}")
            value = objective(config)
            logic.observe(f"t{index}", value)
            best = max(best, value)
        return best

    evolution = np.mean([best_found(RegularizedEvolution(CELLS, mode="max", seed=s)) for s in range(10)])
    random = np.mean([best_found(RandomSearch(CELLS, mode="max", seed=s)) for s in range(10)])
    assert evolution > random


def test_hyperband_brackets_match_li_et_al_and_tune():
    brackets = hyperband_brackets(81, 3)
    assert [b["n"] for b in brackets] == [81, 34, 15, 8, 5]
    assert [b["r"] for b in brackets] == pytest.approx([1, 3, 9, 27, 81])
    assert brackets[0]["rounds"] == [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]
    from ray.tune.schedulers import HyperBandScheduler  # the scheduler the search uses (no Ray started)

    scheduler = HyperBandScheduler(time_attr="training_iteration", max_t=81, reduction_factor=3)
    assert [scheduler._get_n0(b["s"]) for b in brackets] == [b["n"] for b in brackets]
    assert [scheduler._get_r0(b["s"]) for b in brackets] == [int(b["r"]) for b in brackets]


@pytest.mark.parametrize("make, message", [
    (lambda: RandomSearch({}, seed=0), "space: expected a non-empty dict"),
    (lambda: RandomSearch(SPACE, mode="best"), "mode: expected 'min' or 'max'"),
    (lambda: GridSearch(SPACE, grid_points=1), "grid_points: expected an integer >= 2"),
    (lambda: RegularizedEvolution(SPACE, population_size=3, sample_size=5), "sample_size: must be <= population_size"),
    (lambda: hyperband_brackets(0), "max_t: expected an integer >= 1"),
])
def test_algorithms_validate_their_arguments(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_asha_brackets_option_builds_asynchronous_hyperband():
    from trw_ray.hparams.searchers import create_algorithm
    from trw_ray.hparams.space import SearchSpace

    _, scheduler = create_algorithm("asha", SearchSpace(parameters=dict(SPACE)), "loss", "min", 27, 0, None,
                                    {"grace_period": 1, "reduction_factor": 3, "brackets": 3})
    # one bracket per first rung: 1, 3 and 9 epochs (each bracket's rungs listed from its last one)
    assert [bracket._rungs[-1][0] for bracket in scheduler._brackets] == [1, 3, 9]


@pytest.mark.parametrize("options, message", [
    ({"brackets": 0}, "'brackets' of 'asha' expects an integer >= 1; got 0"),
    ({"grace_period": 1.5}, "'grace_period' of 'asha' expects an integer >= 1; got 1.5"),
    ({"reduction_factor": 1}, "'reduction_factor' of 'asha' expects an integer >= 2; got 1"),
])
def test_asha_options_are_checked_before_ray_starts(options, message):
    from trw_ray.hparams.searchers import check_algorithm

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_algorithm("asha", 27, options)


def test_freed_actors_take_the_newest_pending_trial_so_starting_actors_are_kept():
    from types import SimpleNamespace

    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

    from trw_ray.hparams.searchers import create_algorithm
    from trw_ray.hparams.searchers.schedulers import newest_pending_first
    from trw_ray.hparams.space import SearchSpace

    trials = [SimpleNamespace(name=name, status=status) for name, status in (
        ("done", "TERMINATED"), ("oldest pending", "PENDING"), ("running", "RUNNING"), ("newest pending", "PENDING"),
        ("paused", "PAUSED"), ("paused later", "PAUSED"))]
    assert newest_pending_first(trials).name == "newest pending"
    assert newest_pending_first([t for t in trials if t.status != "PENDING"]).name == "paused"  # as FIFO
    assert newest_pending_first(trials[:1] + trials[2:3]) is None
    space = SearchSpace(parameters=dict(SPACE))
    for algorithm, base in (("random", FIFOScheduler), ("grid", FIFOScheduler), ("evolution", FIFOScheduler),
                            ("asha", AsyncHyperBandScheduler)):
        _, scheduler = create_algorithm(algorithm, space, "loss", "min", 9, 0, None, {})
        assert isinstance(scheduler, base)
        assert scheduler.choose_trial_to_run(SimpleNamespace(get_trials=lambda: trials)).name == "newest pending"


def _planted_pairwise(seed):
    """Every choice's effect plus an interaction of op0 and op1 (the model class of the surrogate, on 5**6 cells)."""
    rng = np.random.default_rng(seed)
    main, pair = rng.normal(size=(6, 5)), rng.normal(size=(5, 5)) * 1.5

    def objective(config):
        codes = [ord(config[f"op{i}"]) - ord("a") for i in range(6)]
        return float(sum(main[i, code] for i, code in enumerate(codes)) + pair[codes[0], codes[1]])

    everything = (dict(zip(CELLS, values, strict=True)) for values in itertools.product("abcde", repeat=6))
    return objective, max(objective(config) for config in everything)


def _best_found(logic, objective, budget):
    best = -np.inf
    for index in range(0, budget, 2):  # two trials in flight, as on two CPUs
        pair = [(f"t{index + k}", logic.suggest(f"t{index + k}")) for k in range(2)]
        for trial_id, config in pair:
            value = objective(config)
            logic.observe(trial_id, value)
            best = max(best, value)
    return best


def test_evolution_with_a_surrogate_finds_the_best_more_often_than_random_mutations():
    objective, optimum = _planted_pairwise(3)

    def found(surrogate):
        return np.mean([_best_found(RegularizedEvolution(CELLS, mode="max", seed=s, population_size=10,
                                                         sample_size=10, surrogate=surrogate), objective, 60)
                        >= optimum - 1e-9 for s in range(8)])

    with_surrogate, random_mutations = found(True), found(False)  # measured: 8/8 against 4/8
    assert with_surrogate >= 0.875 and with_surrogate >= random_mutations + 0.25


def test_evolution_that_climbs_until_stalled_then_proposes_the_spaces_best_prediction_and_resumes():
    objective, optimum = _planted_pairwise(3)
    pool = [dict(zip(CELLS, values, strict=True)) for values in itertools.product("abcde", repeat=6)]

    def run(objective, seed, stall, proposals):
        logic = RegularizedEvolution(CELLS, mode="max", seed=seed, population_size=10, sample_size=10, surrogate=True,
                                     climb="stalled", stall=stall)
        kinds = {"climb again": 0, "space": 0}
        for index in range(proposals):
            climbed, scores = logic.climbed, [v for _, v in logic.history]
            if climbed:
                best = logic.history[int(np.argmax(scores))][0]
                untried = [{**best, name: choice} for name in CELLS for choice in "abcde"
                           if choice != best[name] and logic.key({**best, name: choice}) not in logic.seen]
                stalled = len(scores) - 1 - int(np.argmax(scores)) >= stall
                model = surrogate_model(None, CELLS).fit([c for c, _ in logic.history], scores)
                unseen = [config for config in pool if logic.key(config) not in logic.seen]
                expected = unseen[int(np.argmax(model.predict(unseen)))]
            config = logic.suggest(f"t{index}")
            if climbed:
                if stalled and untried:  # stalled: an untried mutation of the best (the surrogate's pick)
                    assert config in untried
                    kinds["climb again"] += 1
                else:  # the surrogate's best prediction among the space's unseen points
                    assert config == expected
                    kinds["space"] += 1
            logic.observe(f"t{index}", objective(config))
        return logic, kinds

    logic, kinds = run(objective, 3, 1000, 56)
    assert kinds["space"] >= 10  # the climb ended (measured: at the 39th proposal) and the rest came from the space
    noise = dict(zip((tuple(config.values()) for config in pool), np.random.default_rng(0).normal(size=len(pool)),
                     strict=True))  # what the surrogate cannot model: new bests far from the first climb
    _, kinds = run(lambda config: objective(config) + noise[tuple(config.values())], 0, 5, 80)
    assert kinds["climb again"] >= 3 and kinds["space"] >= 3  # measured: 10 and 10
    restored = RegularizedEvolution(CELLS, mode="max", seed=9, population_size=10, sample_size=10, surrogate=True,
                                    climb="stalled", stall=1000)
    restored.load_state_dict(json.loads(json.dumps(logic.state_dict())))
    assert restored.climbed and _configs(restored, 3) == _configs(logic, 3)
    found = np.mean([_best_found(RegularizedEvolution(CELLS, mode="max", seed=s, population_size=10, sample_size=10,
                                                      surrogate=True, climb="stalled"), objective, 60) >= optimum - 1e-9
                     for s in range(8)])
    assert found >= 0.875
    with pytest.raises(ValueError, match="climb: expected one of \\['always', 'stalled'\\]; got 'twice'"):
        RegularizedEvolution(CELLS, surrogate=True, climb="twice")
    with pytest.raises(ValueError, match="climb: 'stalled' chooses where the surrogate looks; pass surrogate=True"):
        RegularizedEvolution(CELLS, climb="stalled")
    with pytest.raises(ValueError, match="stall"):
        RegularizedEvolution(CELLS, surrogate=True, climb="stalled", stall=0)


def test_evolution_with_a_surrogate_never_repeats_respects_its_constraint_and_resumes():
    small = {f"op{i}": DiscreteValue("a", ["a", "b", "c"]) for i in range(4)}
    accepted = {f"op{i}": "c" for i in range(4)}

    def constraint(config):
        return config != accepted and config["op3"] != "b"

    logic = RegularizedEvolution(small, mode="max", seed=0, population_size=4, sample_size=4, constraint=constraint,
                                 surrogate=True)
    proposed = []
    while (config := logic.suggest(f"t{len(proposed)}")) is not None:
        proposed.append(config)
        logic.observe(f"t{len(proposed) - 1}", float(sum(v == "c" for v in config.values())))
        if len(proposed) == 10:
            restored = RegularizedEvolution(small, mode="max", seed=5, population_size=4, sample_size=4,
                                            constraint=constraint, surrogate=True)
            restored.load_state_dict(json.loads(json.dumps(logic.state_dict())))
            assert _configs(restored, 3) == _configs(logic, 3)  # the history travels with the state
            break
    assert len({tuple(c.values()) for c in proposed}) == len(proposed)
    assert all(constraint(c) for c in proposed)
    with pytest.raises(ValueError, match="surrogate: expected True or False; got 'yes'"):
        RegularizedEvolution(small, surrogate="yes")


def test_evolution_keeps_the_pools_kernel_between_suggestions_without_changing_a_proposal():
    small = {f"op{i}": DiscreteValue("a", ["a", "b", "c"]) for i in range(4)}

    def run(recompute_every_time):
        logic = RegularizedEvolution(small, mode="max", seed=3, population_size=3, sample_size=3, surrogate=True)
        proposed = []
        while len(proposed) < 60 and (config := logic.suggest(f"t{len(proposed)}")) is not None:
            proposed.append(tuple(config.values()))
            logic.observe(f"t{len(proposed) - 1}", float(sum(v == "c" for v in config.values())) - (config["op0"] == "b"))
            if recompute_every_time:
                logic._pool_kernel = None
        return logic, proposed

    kept, proposed = run(False)
    _, recomputed = run(True)
    assert proposed == recomputed and len(set(proposed)) == len(proposed) == 60
    pool_codes = kept._pool[2]
    np.testing.assert_array_equal(kept._kernel_of_pool(pool_codes), kept._model.kernel(pool_codes, kept._history_codes))


def test_evolution_with_a_surrogate_exhausts_a_finite_space_without_a_duplicate():
    small = {f"op{i}": DiscreteValue("a", ["a", "b", "c"]) for i in range(3)}
    logic = RegularizedEvolution(small, mode="max", seed=2, population_size=3, sample_size=3, surrogate=True)
    proposed = []
    while (config := logic.suggest(f"t{len(proposed)}")) is not None:
        proposed.append(tuple(config.values()))
        logic.observe(f"t{len(proposed) - 1}", float(len(set(config.values()))))
    assert len(proposed) == 27 and len(set(proposed)) == 27
