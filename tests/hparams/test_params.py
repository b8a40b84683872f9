import numpy as np
import pytest

import trw_ray as trw
from trw_ray.hparams import (
    ContinuousPower,
    ContinuousUniform,
    DiscreteBoolean,
    DiscreteInteger,
    DiscreteMapping,
    DiscreteValue,
    HyperParameters,
)


@pytest.mark.parametrize("make, message", [
    (lambda: DiscreteInteger(0, 5, 10), r"`min <= default <= max` must hold; got \(min=5, default=0, max=10\)"),
    (lambda: DiscreteInteger(1.5, 0, 3), "default must be an integer"),
    (lambda: ContinuousUniform(0.5, 1.0, 0.0), "min < max"),
    (lambda: ContinuousPower(1.0, -5, -1), r"default must be in \[10\*\*-5, 10\*\*-1\]"),
    (lambda: DiscreteValue("a", ["b", "c"]), "default must be one of values"),
    (lambda: DiscreteValue("a", []), "non-empty list"),
    (lambda: DiscreteMapping("x", {"y": 1}), "default must be a key"),
    (lambda: DiscreteBoolean(1), "must be a bool"),
])
def test_specs_validate_their_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_sampling_stays_in_range_and_is_seeded():
    specs = [DiscreteInteger(3, 1, 5), ContinuousUniform(0.5, 0.0, 1.0), ContinuousPower(1e-3, -5, -1),
             DiscreteValue("a", ["a", "b"]), DiscreteMapping("relu", {"relu": 1, "elu": 2}), DiscreteBoolean(True)]
    for spec in specs:
        first = [spec.sample(np.random.default_rng(7)) for _ in range(3)]
        assert first == [spec.sample(np.random.default_rng(7)) for _ in range(3)]
        rng = np.random.default_rng(0)
        for _ in range(200):
            assert spec.validate(spec.sample(rng)) is not None
    assert DiscreteIntegrer_alias_is_same()


def DiscreteIntegrer_alias_is_same():  # noqa: N802
    return trw.hparams.DiscreteIntegrer is trw.hparams.DiscreteInteger


def test_define_by_run_defaults_and_assigned_values():
    hparams = HyperParameters()
    assert hparams.create("lr", ContinuousUniform(0.1, 1e-5, 1.0)) == 0.1
    assert hparams.create("act", DiscreteMapping("relu", {"relu": "R", "elu": "E"})) == "R"
    assert hparams.specs["lr"] == ContinuousUniform(0.1, 1e-5, 1.0)
    assigned = HyperParameters({"lr": 0.01, "act": "elu"})
    assert assigned.create("lr", ContinuousUniform(0.1, 1e-5, 1.0)) == 0.01
    assert assigned.create("act", DiscreteMapping("relu", {"relu": "R", "elu": "E"})) == "E"
    assert assigned.chosen == {"lr": 0.01, "act": "elu"}
    with pytest.raises(ValueError, match=r"ContinuousUniform: 5 is not a number in \[1e-05, 1.0\]"):
        HyperParameters({"lr": 5}).create("lr", ContinuousUniform(0.1, 1e-5, 1.0))
    with pytest.raises(ValueError, match="declared twice"):
        hparams.create("lr", ContinuousUniform(0.2, 1e-5, 1.0))
    with pytest.raises(TypeError, match="spec"):
        hparams.create("x", 3)


def test_unit_positions_round_trip_and_grids():
    specs = [trw.hparams.ContinuousUniform(0.5, -1.0, 2.0), trw.hparams.ContinuousPower(0.01, -4, 0),
             trw.hparams.DiscreteInteger(3, 1, 6), trw.hparams.DiscreteValue("b", ["a", "b", "c"]),
             trw.hparams.DiscreteBoolean(True), trw.hparams.DiscreteMapping("x", {"x": 1, "y": 2})]
    rng = np.random.default_rng(0)
    for spec in specs:
        for _ in range(20):
            value = spec.sample(rng)
            position = spec.to_unit(value)
            assert 0.0 <= position <= 1.0
            back = spec.from_unit(position)
            assert back == pytest.approx(value) if spec.choices is None else back == value
            neighbour = spec.mutate(value, rng)
            assert neighbour != value and spec.validate(neighbour) == neighbour
        grid = spec.grid(4)
        assert all(spec.validate(value) == value for value in grid)
    assert specs[1].grid(5) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert specs[2].grid(10) == [1, 2, 3, 4, 5, 6]
    assert specs[3].grid(2) == ["a", "b", "c"]


@pytest.mark.parametrize("data, message", [
    ({"type": "Nope", "default": 1}, "'type' must be one of"),
    ({"type": "ContinuousUniform", "default": 0.1, "min": 0.0}, "missing key(s) ['max']"),
    ({"type": "ContinuousUniform", "default": 0.1, "min": 0.0, "max": 1.0, "step": 2}, "unknown key(s) ['step']"),
    ({"type": "DiscreteInteger", "default": 5, "min": 10, "max": 20}, "min <= default <= max"),
])
def test_param_from_dict_names_the_problem(data, message):
    with pytest.raises(ValueError) as error:
        trw.hparams.param_from_dict(data, "file.yaml: parameters.lr")
    assert "file.yaml: parameters.lr" in str(error.value) and message in str(error.value)


def test_search_space_overrides_the_range_declared_in_code():
    space = {"units": trw.hparams.DiscreteInteger(20, 10, 40)}
    hparams = trw.hparams.HyperParameters({"units": 12}, space)
    assert hparams.create("units", trw.hparams.DiscreteInteger(500, 100, 1000)) == 12
    with pytest.raises(ValueError, match="'units'"):
        trw.hparams.HyperParameters({"units": 50}, space).create("units", trw.hparams.DiscreteInteger(500, 100, 1000))


def test_a_space_that_knows_only_mapping_keys_still_resolves_through_the_code_mapping():
    from trw_ray.hparams.space import space_from_settings

    code_spec = trw.hparams.DiscreteMapping("relu", {"relu": "ReLU()", "elu": "ELU()"})
    recorded = space_from_settings({"space": {"act": code_spec.describe()}})
    assert recorded["act"] == trw.hparams.DiscreteValue("relu", ["relu", "elu"])
    assert trw.hparams.HyperParameters({"act": "elu"}, recorded).create("act", code_spec) == "ELU()"
