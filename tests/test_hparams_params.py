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
