"""The surrogate of the objective (kernel ridge over shared choices), without Ray."""

import itertools

import numpy as np
import pytest

from trw_ray.hparams import ContinuousUniform, DiscreteValue
from trw_ray.hparams.searchers.surrogate import MatchKernelRidge

CELLS = {f"op{i}": DiscreteValue("a", ["a", "b", "c", "d", "e"]) for i in range(6)}


def _planted(seed):
    """An objective of every choice's effect plus two strong pairwise interactions."""
    rng = np.random.default_rng(seed)
    main = rng.normal(size=(6, 5))
    pair = np.zeros((5, 5))
    pair[2, 3], pair[4, 4] = 3.0, -2.0

    def objective(config):
        codes = [ord(config[f"op{i}"]) - ord("a") for i in range(6)]
        return float(sum(main[i, c] for i, c in enumerate(codes)) + pair[codes[0], codes[1]])

    return objective


def test_the_surrogate_ranks_unseen_configurations_of_a_planted_objective():
    objective = _planted(0)
    everything = [dict(zip(CELLS, values, strict=True)) for values in itertools.product("abcde", repeat=6)]
    order = np.random.default_rng(1).permutation(len(everything))
    train = [everything[i] for i in order[:150]]
    test = [everything[i] for i in order[150:1150]]
    model = MatchKernelRidge(CELLS).fit(train, [objective(c) for c in train])
    truth = np.array([objective(c) for c in test])
    predicted = model.predict(test)
    assert np.corrcoef(predicted, truth)[0, 1] > 0.9
    # the interaction is learnt: among configurations equal elsewhere, op0=c/op1=d is predicted above op0=c/op1=a
    base = dict(test[0])
    assert model.predict([{**base, "op0": "c", "op1": "d"}])[0] > model.predict([{**base, "op0": "c", "op1": "a"}])[0]


def test_predictions_from_a_kernel_computed_ahead_equal_the_predictions():
    objective = _planted(2)
    configs = [dict(zip(CELLS, values, strict=True)) for values in itertools.product("abcde", repeat=6)][::97]
    model = MatchKernelRidge(CELLS).fit(configs[:40], [objective(c) for c in configs[:40]])
    codes = model.encode(configs[40:])
    kernel = model.kernel(codes, model.encode(configs[:40]))
    np.testing.assert_allclose(model.predict_kernel(kernel), model.predict(configs[40:]))
    with pytest.raises(ValueError, match=r"kernel: expected a \(candidates, 40\) matrix .* got shape \(3, 39\)"):
        model.predict_kernel(kernel[:3, :39])


def test_numeric_parameters_count_as_closeness_on_their_unit_scale():
    space = {"x": ContinuousUniform(0.5, 0.0, 1.0), "kind": DiscreteValue("a", ["a", "b"])}
    rng = np.random.default_rng(0)
    train = [{"x": float(x), "kind": str(k)} for x, k in zip(rng.uniform(size=60), rng.choice(["a", "b"], 60),
                                                              strict=True)]
    scores = [2.0 * c["x"] + (1.0 if c["kind"] == "b" else 0.0) for c in train]
    model = MatchKernelRidge(space).fit(train, scores)
    grid = [{"x": x, "kind": "a"} for x in (0.1, 0.5, 0.9)]
    assert list(np.argsort(model.predict(grid))) == [0, 1, 2]
    assert model.predict([{"x": 0.5, "kind": "b"}])[0] > model.predict([{"x": 0.5, "kind": "a"}])[0]


def test_bad_arguments_get_errors_naming_them():
    with pytest.raises(ValueError, match="regularization: expected a number > 0; got 0"):
        MatchKernelRidge(CELLS, regularization=0)
    with pytest.raises(ValueError, match="fit: expected as many configurations as scores"):
        MatchKernelRidge(CELLS).fit([{name: "a" for name in CELLS}], [1.0, 2.0])
    with pytest.raises(RuntimeError, match="fit the surrogate first"):
        MatchKernelRidge(CELLS).predict([{name: "a" for name in CELLS}])


def test_a_choice_similarity_carries_what_is_learnt_of_one_choice_to_a_similar_one():
    space = {"op": DiscreteValue("a", ["a", "b", "c"]), "other": DiscreteValue("x", ["x", "y"])}
    # 'c' is never seen; 'b' is much better than 'a'
    train = [{"op": op, "other": other} for op in ("a", "b") for other in ("x", "y")]
    scores = [0.0, 0.1, 5.0, 5.1]
    similar = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.9], [0.0, 0.9, 1.0]])
    plain = MatchKernelRidge(space).fit(train, scores)
    alike = MatchKernelRidge(space, choice_similarity={"op": similar}).fit(train, scores)
    unseen = [{"op": "c", "other": "x"}]
    assert alike.predict(unseen)[0] > plain.predict(unseen)[0] + 1.0
    # the identity is the one-hot kernel, and represent is applied before the comparison
    identity = MatchKernelRidge(space, choice_similarity={"op": np.eye(3)}).fit(train, scores)
    grid = [{"op": op, "other": other} for op in "abc" for other in "xy"]
    np.testing.assert_allclose(identity.predict(grid), plain.predict(grid))
    as_b = MatchKernelRidge(space, represent=lambda config: {**config, "op": "b" if config["op"] == "c" else
                                                                      config["op"]}).fit(train, scores)
    np.testing.assert_allclose(as_b.predict(unseen), as_b.predict([{"op": "b", "other": "x"}]))


@pytest.mark.parametrize("matrix, message", [
    (np.eye(2), r"expected a symmetric 3x3 matrix"),
    ([[1, 0.5, 0], [0.2, 1, 0], [0, 0, 1]], r"expected a symmetric 3x3 matrix"),
    ([[1, 1, 0], [1, 1, 1], [0, 1, 1]], r"expected a positive semi-definite matrix"),
])
def test_a_bad_choice_similarity_is_named(matrix, message):
    space = {"op": DiscreteValue("a", ["a", "b", "c"])}
    with pytest.raises(ValueError, match=r"choice_similarity\['op'\]: " + message):
        MatchKernelRidge(space, choice_similarity={"op": matrix})
    with pytest.raises(ValueError, match="'x' is not a categorical parameter"):
        MatchKernelRidge({**space, "x": ContinuousUniform(0.5, 0.0, 1.0)}, choice_similarity={"x": np.eye(3)})
