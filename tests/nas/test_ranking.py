"""Ranking with uncertainty on synthetic measurements, and architectures() of a hand-made experiment (no Ray)."""

import numpy as np
import pytest

from trw_ray.nas.ranking import bootstrap_ranking, search_agreement


def test_bootstrap_ranking_recovers_a_planted_order():
    rng = np.random.default_rng(0)
    planted = {f"cell{i}": 0.90 - 0.02 * i for i in range(5)}  # cell0 best, 2 points apart
    values = {name: list(mean + rng.normal(0, 0.004, size=5)) for name, mean in planted.items()}
    rows = bootstrap_ranking(values, samples=2000, seed=0)
    assert [row["genotype"] for row in rows] == list(planted)
    assert rows[0]["p_best"] > 0.95 and sum(row["p_best"] for row in rows) == pytest.approx(1.0)
    assert all(row["ci_low"] <= row["mean"] <= row["ci_high"] for row in rows)
    # two cells the seeds cannot tell apart share the probability of being best
    close = bootstrap_ranking({"a": [0.80, 0.82, 0.81], "b": [0.81, 0.80, 0.82], "c": [0.5, 0.52, 0.51]}, seed=1)
    p = {row["genotype"]: row["p_best"] for row in close}
    assert 0.25 < p["a"] < 0.75 and 0.25 < p["b"] < 0.75 and p["c"] == 0.0
    losses = bootstrap_ranking({"x": [1.0, 1.1], "y": [0.5, 0.6]}, higher_is_better=False)
    assert losses[0]["genotype"] == "y"
    with pytest.raises(ValueError, match="finite measurement"):
        bootstrap_ranking({"x": []})


def test_architectures_groups_trials_by_canonical_cell(tmp_path):
    from trw_ray.results.testing import write_experiment

    genotype_a = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    genotype_b = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"  # same function
    other = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    from trw_ray.nas.cell_space import canonical_genotype

    trials = [(genotype_a, 0.5), (genotype_b, 0.7), (other, 0.3), (other, 0.4)]
    path = write_experiment(tmp_path / "exp", [
        {"trial_id": f"t{i}", "value": loss,
         "infos": {"genotype": g, "canonical": canonical_genotype(g), "accuracy": 1 - loss}}
        for i, (g, loss) in enumerate(trials)])
    from trw_ray.results import load

    table = load(path).architectures()
    assert list(table["count"]) == [2, 2] and table["genotype"].iloc[0] == other
    assert table["mean"].tolist() == pytest.approx([0.35, 0.6])
    assert table["accuracy_mean"].tolist() == pytest.approx([0.65, 0.4])


def test_the_report_command_adds_the_architecture_report(tmp_path, capsys):
    from trw_ray.cli import main
    from trw_ray.results.testing import write_experiment

    cells = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
             "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|"]
    path = write_experiment(tmp_path / "cells", [
        {"trial_id": f"t{i}", "value": 0.3 + 0.1 * i, "config": {"edge_1_0": "x"},
         "infos": {"genotype": g, "accuracy": 0.9 - 0.1 * i, "parameters": 1000 * (i + 1)}}
        for i, g in enumerate(cells)])
    assert main(["report", str(path)]) == 0
    output = capsys.readouterr().out
    assert "architecture report: " in output
    page = (path / "report" / "architecture" / "index.html").read_text()
    assert "Pareto front" in page and "cell_1_normal.png" in page and "Ranking" not in page


def test_kendalls_tau_counts_tied_retrained_values_as_ties():
    # two cells retrained to the same accuracy: the search's order is neither confirmed nor contradicted
    assert search_agreement([1, 2], [0.9, 0.9], higher_is_better=True) == (None, None)
    tau, _ = search_agreement([1, 2, 3], [0.9, 0.9, 0.8], higher_is_better=True)
    assert tau == pytest.approx(0.8164965809)  # tau-b: the tied pair counts for neither
    assert search_agreement([1, 2, 3], [0.95, 0.9, 0.8], higher_is_better=True)[0] == pytest.approx(1.0)
    assert search_agreement([1, 2, 3], [0.1, 0.2, 0.3], higher_is_better=False)[0] == pytest.approx(1.0)
    assert search_agreement([1], [0.9], higher_is_better=True) == (None, None)
