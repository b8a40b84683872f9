"""Cell spaces and genotypes: strings, derivation from hand-set weights, errors (numpy only, no Ray)."""

import numpy as np
import pytest

from trw_ray.nas.genotypes import (
    DARTS,
    NB201,
    DartsGenotype,
    NB201Genotype,
    derive_genotype,
    edge_entropy,
    get_space,
    parameter_free_count,
    parse_genotype,
)

BEST_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_nb201_string_round_trip_and_edges():
    genotype = parse_genotype(BEST_NB201)
    assert isinstance(genotype, NB201Genotype) and str(genotype) == BEST_NB201
    assert genotype.cell()[3] == ("skip_connect", 0, 3)
    assert parameter_free_count(genotype) == 1
    assert genotype.to_dict()["edges"][0] == {"input": 0, "node": 1, "op": "nor_conv_3x3"}


def test_nb201_derivation_is_the_argmax_per_edge_none_included():
    weights = np.full((6, 5), 0.1)
    chosen = [3, 0, 1, 2, 4, 1]
    for edge, op in enumerate(chosen):
        weights[edge, op] = 0.6
    genotype = derive_genotype("nb201", weights)
    assert genotype.ops == tuple(NB201.ops[i] for i in chosen)
    assert str(genotype).startswith("|nor_conv_3x3~0|+|none~0|skip_connect~1|")
    assert parameter_free_count(genotype) == 3  # skip, pool, skip; 'none' is an absent edge, not counted


def test_darts_derivation_keeps_two_strongest_edges_without_none():
    space = DARTS
    weights = {cell: np.full((14, 8), 1 / 8) for cell in space.cell_types}
    none, sep3, skip, dil5 = (space.ops.index(op) for op in ("none", "sep_conv_3x3", "skip_connect", "dil_conv_5x5"))
    normal = weights["normal"]
    # node 2 (edges 0, 1): 'none' dominates edge 0 but is never chosen; the best non-none op of each edge wins
    normal[0, none], normal[0, sep3] = 0.9, 0.2
    normal[1, skip] = 0.3
    # node 5 (edges 9..13): the strongest are edges from inputs 4 and 1
    node5 = space.incoming(5)
    normal[node5[4], dil5] = 0.7
    normal[node5[1], sep3] = 0.6
    normal[node5[0], skip] = 0.5
    genotype = derive_genotype("darts", weights)
    assert isinstance(genotype, DartsGenotype)
    assert genotype.normal[:2] == (("sep_conv_3x3", 0), ("skip_connect", 1))
    assert genotype.normal[6:] == (("sep_conv_3x3", 1), ("dil_conv_5x5", 4))
    assert all(op != "none" for op, _ in genotype.normal + genotype.reduce)
    text = str(genotype)
    assert text.startswith("normal=|sep_conv_3x3~0|skip_connect~1|+") and " reduce=|" in text
    assert parse_genotype(text) == genotype


def test_entropy_and_spaces():
    assert edge_entropy(np.full((6, 5), 0.2)) == pytest.approx(np.log(5))
    assert edge_entropy(np.eye(5)[:3]) == pytest.approx(0.0, abs=1e-9)
    assert get_space("darts").num_edges == 14 and get_space("nb201").num_edges == 6
    with pytest.raises(ValueError, match=r"expected one of \['nb201', 'darts'\]"):
        get_space("enas")


@pytest.mark.parametrize("text, message", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "3 node groups"),
    ("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"'conv_7x7' is not an op of the 'nb201' space"),
    ("|skip_connect~0|+|none~1|none~0|+|none~0|none~1|none~2|", "node 2 must list inputs"),
    ("|skip_connect0|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~input'"),
    ("normal=|sep_conv_3x3~0|sep_conv_3x3~1|", r"expected 4 node groups of two inputs; got \[2\]"),
    ("normal=|sep_conv_3x3~0|none~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+"
     "|sep_conv_3x3~0|sep_conv_3x3~1| reduce=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+"
     "|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|", "node 2, input 2: 'none' cannot"),
    ("normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~5|+|sep_conv_3x3~0|sep_conv_3x3~1|+"
     "|sep_conv_3x3~0|sep_conv_3x3~1| reduce=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+"
     "|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|", "node 3, input 2: the input must be"),
    ("", "expected a genotype string"),
])
def test_bad_genotypes_say_where(text, message):
    with pytest.raises(ValueError, match=message):
        parse_genotype(text)


def test_bad_weights_name_the_shape():
    with pytest.raises(ValueError, match=r"expects an array \(6, 5\)"):
        derive_genotype("nb201", np.zeros((6, 4)))
    with pytest.raises(ValueError, match="missing the 'reduce' cell"):
        derive_genotype("darts", {"normal": np.zeros((14, 8))})
