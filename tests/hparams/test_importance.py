"""Importance: fANOVA main effects of a tree ensemble (no Ray)."""

import numpy as np
import pandas as pd
import pytest

from trw_ray.hparams import ContinuousUniform, DiscreteValue
from trw_ray.hparams.parameter_importance import (
    fanova_importance,
    importance,
    importance_caveat,
    main_effects,
)


def test_main_effects_are_exact_on_a_known_piecewise_function():
    # f = 1 on [0, 0.5) x [0, 1] and 0 elsewhere, plus 2 on x1 >= 0.75: additive, so main effects explain all
    lower = np.array([[0.0, 0.0], [0.0, 0.75], [0.5, 0.0], [0.5, 0.75]])
    upper = np.array([[0.5, 0.75], [0.5, 1.0], [1.0, 0.75], [1.0, 1.0]])
    values = np.array([1.0, 3.0, 0.0, 2.0])
    fractions = main_effects(lower, upper, values)
    variance_x0, variance_x1 = 0.25, 4 * 0.75 * 0.25  # var of a 0/1 step (p=0.5), of a 0/2 step (p=0.25)
    assert fractions == pytest.approx([variance_x0 / (variance_x0 + variance_x1),
                                       variance_x1 / (variance_x0 + variance_x1)])


def test_a_planted_dominant_parameter_ranks_first_with_uncertainty_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(600, 8))
    y = 4 * (x[:, 5] - 0.5) ** 2 + 0.3 * x[:, 2] + rng.normal(0, 0.02, 600)
    names = [f"p{i}" for i in range(8)]
    table = fanova_importance(x, y, names, seed=0)
    assert list(table["parameter"][:2]) == ["p5", "p2"]
    assert table["importance"].iloc[0] > 0.6 and (table["std"] >= 0).all() and table["std"].iloc[0] > 0
    assert table.equals(fanova_importance(x, y, names, seed=0))


def test_categorical_parameters_are_handled():
    rng = np.random.default_rng(1)
    kinds = rng.choice(["adam", "sgd", "rmsprop"], size=200)
    lr = rng.uniform(0, 1, size=200)
    loss = np.where(kinds == "sgd", 2.0, 0.0) + 0.1 * lr + rng.normal(0, 0.01, 200)
    table = pd.DataFrame({"config/optimizer": kinds, "config/lr": lr, "last/loss": loss})
    space = {"optimizer": DiscreteValue("adam", ["adam", "sgd", "rmsprop"]), "lr": ContinuousUniform(0.5, 0.0, 1.0)}
    ranked = importance(table, metric="loss", space=space)
    assert ranked["parameter"].iloc[0] == "optimizer"
    inferred = importance(table, metric="loss")  # without specs: categories and ranges are inferred
    assert inferred["parameter"].iloc[0] == "optimizer"


def test_too_few_trials_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 trials"):
        fanova_importance(np.zeros((3, 2)), np.zeros(3), ["a", "b"])


def test_how_sure_importance_is_from_its_trials():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(600, 3))
    y = 4 * (x[:, 1] - 0.5) ** 2 + rng.normal(0, 0.02, 600)
    many = fanova_importance(x, y, ["a", "b", "c"], seed=0)
    assert ((many["low"] >= 0) & (many["low"] <= many["high"]) & (many["high"] <= 1)).all()  # never below zero
    assert many.attrs["trials"] == 600 and many["p_top"].iloc[0] > 0.95
    assert importance_caveat(many).startswith("Importance from 600 trials: b matters most in 100% of the trees")
    few = fanova_importance(x[:4], y[:4], ["a", "b", "c"], seed=0)
    assert (few["low"] >= 0).all() and few.attrs["trials"] == 4
    assert importance_caveat(few).startswith("Importance from 4 trials is uncertain")
