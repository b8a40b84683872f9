"""A cell space as a search space: choices <-> genotypes, isomorphic cells, evolution's mutations, constraints,
no duplicates (pure logic, no Ray)."""

import numpy as np
import pytest

from trw_ray.hparams.searchers import RandomSearch, RegularizedEvolution
from trw_ray.nas.cell_space import (
    CanonicalConfig,
    canonical_genotype,
    cell_search_space,
    cell_surrogate_options,
    config_from_genotype,
    genotype_from_config,
    op_similarity,
)
from trw_ray.nas.evaluators import CellKey, ParameterBudget, count_parameters, table_code
from trw_ray.nas.genotypes import parse_genotype

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DARTS_CELL = ("normal=|sep_conv_3x3~1|sep_conv_3x3~0|+|skip_connect~0|sep_conv_3x3~1|+|skip_connect~0|"
              "sep_conv_3x3~1|+|sep_conv_3x3~0|skip_connect~2| reduce=|max_pool_3x3~0|max_pool_3x3~1|+|"
              "skip_connect~2|max_pool_3x3~1|+|max_pool_3x3~0|skip_connect~2|+|skip_connect~2|max_pool_3x3~1|")


@pytest.mark.parametrize("space, genotype, choices", [("nb201", BEST, 6), ("darts", DARTS_CELL, 32)])
def test_choices_and_genotypes_round_trip(space, genotype, choices):
    parameters = cell_search_space(space)
    assert len(parameters) == choices
    config = config_from_genotype(genotype)
    assert set(config) == set(parameters)
    assert str(genotype_from_config(config, space)) == str(parse_genotype(genotype))
    rng = np.random.default_rng(0)
    for _ in range(20):  # every sampled configuration is a valid cell
        sample = {name: spec.sample(rng) for name, spec in parameters.items()}
        genotype_from_config(sample, space)
    with pytest.raises(ValueError, match="needs the choice"):
        genotype_from_config({}, space)


def test_isomorphic_nb201_cells_map_to_one_key():
    # node 2 unused by the output (its edge to node 3 is 'none'): what enters it does not matter
    a = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    b = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    assert canonical_genotype(a) == canonical_genotype(b) != a
    # the two middle nodes swapped (no edge between them): the same function
    c = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|avg_pool_3x3~2|"
    d = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"
    assert canonical_genotype(c) == canonical_genotype(d)
    # a cell whose output is cut from the input is one key whatever its ops
    assert canonical_genotype("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|") == \
        canonical_genotype("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert canonical_genotype(BEST) == BEST  # nothing to simplify
    assert canonical_genotype(a) != canonical_genotype(c)
    assert CellKey("nb201")(config_from_genotype(a)) == CellKey("nb201")(config_from_genotype(b))
    assert CellKey("nb201", canonical=False)(config_from_genotype(a)) != CellKey("nb201", canonical=False)(
        config_from_genotype(b))
    assert table_code(BEST) == "333133"


def test_evolution_mutates_one_choice_in_the_space_and_never_repeats_a_cell():
    space = cell_search_space("nb201")
    logic = RegularizedEvolution(space, mode="max", seed=0, population_size=4, sample_size=2, key=CellKey("nb201"))
    keys = []
    for index in range(60):
        config = logic.suggest(str(index))
        keys.append(CellKey("nb201")(config))
        assert all(config[name] in spec.choices for name, spec in space.items())
        logic.observe(str(index), float(np.random.default_rng(index).random()))
    assert len(set(keys)) == len(keys)  # no two proposals compute the same function
    parent = config_from_genotype(BEST)
    for _ in range(20):
        child = logic._mutate(parent)
        assert sum(child[name] != parent[name] for name in space) == 1


def test_a_finite_space_ends_when_exhausted():
    from trw_ray.hparams.space.params import DiscreteValue

    logic = RegularizedEvolution({"a": DiscreteValue(0, [0, 1]), "b": DiscreteValue(0, [0, 1, 2])}, seed=0,
                                 population_size=2, sample_size=1)
    proposals = []
    for index in range(10):
        config = logic.suggest(str(index))
        if config is None:
            break
        proposals.append((config["a"], config["b"]))
        logic.observe(str(index), float(index))
    assert sorted(proposals) == [(a, b) for a in (0, 1) for b in (0, 1, 2)]


def test_a_parameter_budget_is_never_exceeded():
    budget = ParameterBudget(25_000, "nb201", width=8, depth=1)
    sizes = {count_parameters(g, 8, 1) for g in (BEST, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")}
    assert min(sizes) < 25_000 < max(sizes)  # the budget cuts the space
    for logic in (RandomSearch(cell_search_space("nb201"), seed=1, constraint=budget),
                  RegularizedEvolution(cell_search_space("nb201"), seed=1, population_size=5, sample_size=2,
                                       constraint=budget)):
        for index in range(40):
            config = logic.suggest(str(index))
            assert budget.parameters_of(genotype_from_config(config)) <= 25_000
            logic.observe(str(index), float(index % 7))
    with pytest.raises(ValueError, match="constraint: rejected"):
        RandomSearch(cell_search_space("nb201"), seed=0, constraint=lambda config: False).suggest("x")


def test_the_surrogate_of_a_cell_space_knows_op_families_and_what_a_cell_computes():
    similarity = op_similarity(["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"])
    assert similarity[2, 3] == similarity[3, 2] == 0.8  # one family: the convolution at two kernel sizes
    assert similarity[1, 4] == 0.3 and similarity[1, 2] == 0.0  # parameter-free with parameter-free only
    assert similarity[0].tolist() == [1.0, 0, 0, 0, 0]  # none is like nothing
    darts = op_similarity(["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                           "dil_conv_3x3"])
    assert darts[0, 1] == darts[3, 4] == 0.8 and darts[3, 5] == darts[0, 2] == 0.3 and darts[2, 3] == 0.0
    for space in ("nb201", "darts"):
        options = cell_surrogate_options(space)
        logic = RegularizedEvolution(cell_search_space(space), mode="max", seed=0, population_size=3, sample_size=3,
                                     surrogate=True, surrogate_options=options)  # options checked here
        for index in range(8):
            config = logic.suggest(str(index))
            genotype_from_config(config, space)
            logic.observe(str(index), float(index))
    # an edge no path uses counts as 'none': a dead edge's op does not matter to the surrogate
    a = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    b = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    represent = CanonicalConfig("nb201")
    assert represent(config_from_genotype(a)) == represent(config_from_genotype(b)) == \
        config_from_genotype(canonical_genotype(a))
    with pytest.raises(ValueError, match="surrogate_options: expected a dict with keys among"):
        RegularizedEvolution(cell_search_space("nb201"), surrogate=True, surrogate_options={"ridge": 1.0})
    with pytest.raises(ValueError, match="surrogate_options: given, but surrogate is False"):
        RegularizedEvolution(cell_search_space("nb201"), surrogate_options=cell_surrogate_options("nb201"))
