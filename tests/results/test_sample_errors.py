"""Cross-trial sample scores on hand-made experiments: every score equals its definition (no Ray)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from trw_ray.results import load
from trw_ray.results import sample_errors as se
from trw_ray.results.testing import classification_table, write_experiment

UIDS = np.array([10, 11, 12, 13, 14, 15])
LABELS = np.array([0, 1, 2, 0, 1, 2])


def probabilities(seed, wrong_on=()):
    """Confident right answers, except the samples in ``wrong_on`` (confident on the next class)."""
    rng = np.random.default_rng(seed)
    p = np.full((len(UIDS), 3), 0.05) + rng.uniform(0, 0.05, size=(len(UIDS), 3))
    for i, label in enumerate(LABELS):
        p[i, (label + 1) % 3 if i in wrong_on else label] += 0.8
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture()
def experiment(tmp_path):
    wrong = {"a": (2, 3), "b": (2,), "c": (2, 5)}  # sample 12 (index 2): every trial wrong
    values = {"a": 0.3, "b": 0.1, "c": 0.2}
    trials = []
    for seed, trial_id in enumerate("abc"):
        order = np.random.default_rng(seed).permutation(len(UIDS))  # tables need not share an order
        tables = {("d", "valid", "softmax", epoch): classification_table(UIDS[order], LABELS[order],
                                                                          probabilities(seed + epoch, wrong[trial_id])[order],
                                                                          epoch)
                  for epoch in (1, 2)}
        train = [probabilities(10 + seed, (0, 1, 2, 3)), probabilities(20 + seed, (0, 3)), probabilities(30 + seed, (3,))]
        for epoch, p in enumerate(train, start=1):  # sample 13 (index 3) is never learned, 10 and 11 learned late
            tables[("d", "train", "softmax", epoch)] = classification_table(UIDS, LABELS, p, epoch)
        trials.append({"trial_id": trial_id, "value": values[trial_id], "tables": tables})
    return load(write_experiment(tmp_path / "exp", trials)), wrong


def test_label_issue_scores_equal_their_definitions(experiment):
    results, wrong = experiment
    table = se.label_issues(results, best_k=2)
    assert set(table["split"]) == {"valid"} and len(table) == len(UIDS)  # the train split is left out
    by_uid = table.set_index("sample_uid")
    ensemble = np.mean([probabilities(seed + 2, wrong[t]) for seed, t in enumerate("abc")], axis=0)
    for i, uid in enumerate(UIDS):
        row = by_uid.loc[uid]
        wrong_trials = [t for t in "abc" if i in wrong[t]]
        assert row["trials"] == 3 and row["label"] == LABELS[i]
        assert row["wrong_share"] == pytest.approx(len(wrong_trials) / 3)
        assert row["wrong_share_best"] == pytest.approx(len([t for t in "bc" if t in wrong_trials]) / 2)  # b, c best
        losses = [-np.log(probabilities(seed + 2, wrong[t])[i, LABELS[i]]) for seed, t in enumerate("abc")]
        assert row["mean_loss"] == pytest.approx(np.mean(losses), rel=1e-5)
        assert row["probability_label"] == pytest.approx(ensemble[i, LABELS[i]], rel=1e-5)
        assert row["ensemble_label"] == ensemble[i].argmax()
    from cleanlab.rank import get_label_quality_scores

    expected = get_label_quality_scores(LABELS, ensemble / ensemble.sum(axis=1, keepdims=True), method="normalized_margin")
    np.testing.assert_allclose(by_uid.loc[UIDS, "label_quality"], expected, rtol=1e-4)
    assert table["sample_uid"].iloc[0] == 12 and table["rank"].tolist() == list(range(1, 7))  # the default ranking
    assert se.label_issues(results, ranking="wrong_share")["sample_uid"].iloc[0] == 12


def test_the_trial_aware_scores_equal_their_definitions(experiment):
    """cleanlab's ensemble score with members weighted by their accuracy on the split, the mean loss of the best
    trials, and the counts the page shows: each from its definition, on tables in different orders."""
    from cleanlab.rank import get_label_quality_ensemble_scores

    results, wrong = experiment
    table = se.label_issues(results, split="valid", best_k=2).set_index("sample_uid").loc[UIDS]
    members = [probabilities(seed + 2, wrong[t]) for seed, t in enumerate("abc")]  # the last epoch of each trial
    accuracies = [1 - len(wrong[t]) / len(UIDS) for t in "abc"]  # a: 4/6, b: 5/6, c: 4/6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # cleanlab's call of scikit-learn's log_loss
        expected = get_label_quality_ensemble_scores(LABELS, members, method="normalized_margin",
                                                     weight_ensemble_members_by="log_loss_search", verbose=False)
    np.testing.assert_allclose(table["ensemble_quality"], expected, rtol=1e-5)
    from test_ensemble_quality import log_loss_search_weights

    rows = np.arange(len(UIDS))
    margins = [np.log(p[rows, LABELS]) - np.log(np.where(np.eye(3)[LABELS] == 1, 0, p).max(axis=1)) for p in members]
    weights = log_loss_search_weights(LABELS, members)
    np.testing.assert_allclose(table["log_margin"], sum(w * m for w, m in zip(weights, margins, strict=True)), rtol=1e-5)
    expected = get_label_quality_ensemble_scores(LABELS, members, weight_ensemble_members_by="accuracy", verbose=False)
    np.testing.assert_allclose(table["accuracy_weighted_quality"], expected, rtol=1e-5)
    weighted = sum(w * p[np.arange(len(UIDS)), LABELS] for w, p in zip(accuracies, members, strict=True))
    np.testing.assert_allclose(table["accuracy_weighted_quality"], weighted / sum(accuracies), rtol=1e-5)
    best_losses = np.mean([-np.log(members[i][np.arange(len(UIDS)), LABELS]) for i in (1, 2)], axis=0)  # b, c
    np.testing.assert_allclose(table["mean_loss_best"], best_losses, rtol=1e-5)
    assert table["wrong_trials"].tolist() == [sum(i in wrong[t] for t in "abc") for i in range(len(UIDS))]
    assert table["wrong_best_trials"].tolist() == [sum(i in wrong[t] for t in "bc") for i in range(len(UIDS))]
    assert set(table["best_trials"]) == {2} and set(table["trials"]) == {3}
    for ranking, column, ascending in (("log_margin", "log_margin", True), ("ensemble_quality", "ensemble_quality", True),
                                       ("accuracy_weighted_quality", "accuracy_weighted_quality", True),
                                       ("mean_loss_best", "mean_loss_best", False)):
        ranked = se.label_issues(results, split="valid", best_k=2, ranking=ranking)
        assert ranked[column].is_monotonic_increasing if ascending else ranked[column].is_monotonic_decreasing
        assert ranked["rank"].tolist() == list(range(1, 7))


def test_a_weak_trial_weighs_less_in_the_default_ranking(tmp_path):
    """Two good trials agree that sample 12 is mislabelled; a barely trained one (right on a third of the split) is
    most unsure of sample 10. The mean loss over all trials follows the weak trial; the default does not."""
    good = probabilities(0, wrong_on=(2,))
    weak = np.full((len(UIDS), 3), 1 / 3)
    weak[np.arange(len(UIDS)), (LABELS + 1) % 3] = 0.34  # the wrong class, barely
    weak[[1, 4], LABELS[[1, 4]]] = 0.5  # right on two samples
    weak[0] = [1e-6, 0.5, 0.5 - 1e-6]  # sure that sample 10 is not its label
    weak /= weak.sum(axis=1, keepdims=True)
    trials = [{"trial_id": t, "value": v, "tables": {("d", "valid", "softmax", 1): classification_table(UIDS, LABELS, p, 1)}}
              for t, v, p in (("good1", 0.1, good), ("good2", 0.2, probabilities(1, wrong_on=(2,))), ("weak", 2.0, weak))]
    results = load(write_experiment(tmp_path / "exp", trials))
    assert se.label_issues(results, ranking="mean_loss")["sample_uid"].iloc[0] == 10
    assert se.DEFAULT_RANKING == "log_margin"
    assert se.label_issues(results)["sample_uid"].iloc[0] == 12
    assert se.label_issues(results, ranking="mean_loss_best", best_k=2)["sample_uid"].iloc[0] == 12


def test_sample_errors_of_the_results_api(experiment):
    results, _ = experiment
    table = results.sample_errors(split="valid")
    assert list(table["rank"]) == list(range(1, 7)) and table["sample_uid"].iloc[0] == 12
    pd.testing.assert_frame_equal(table, se.label_issues(results, split="valid"))


def test_confusions_and_the_errors_of_one_trial(experiment):
    results, wrong = experiment
    table = se.confusions(results)
    counts = {}
    for t in "abc":
        for i in wrong[t]:
            counts[(LABELS[i], (LABELS[i] + 1) % 3)] = counts.get((LABELS[i], (LABELS[i] + 1) % 3), 0) + 1
    got = {(r.label, r.prediction): r.errors * 3 for r in table.itertuples()}
    assert got == pytest.approx(counts)
    assert table.iloc[0]["label"] == 2 and table.iloc[0]["trials_share"] == 1.0
    errors = se.trial_errors(results, "a")
    assert sorted(errors["sample_uid"]) == [12, 13]
    with pytest.raises(KeyError, match="trial_id: trial 'zz' has no per-sample table"):
        se.trial_errors(results, "zz")


def test_compare_matches_a_hand_count_and_mcnemar(experiment):
    results, wrong = experiment
    compared = results.compare_trials("a", "c", split="valid")
    right_a = np.array([i not in wrong["a"] for i in range(6)])
    right_c = np.array([i not in wrong["c"] for i in range(6)])
    assert compared["samples"] == 6
    assert compared["both_right"] == int(np.sum(right_a & right_c)) == 3
    assert compared["only_a_right"] == int(np.sum(right_a & ~right_c)) == 1  # sample 15
    assert compared["only_b_right"] == int(np.sum(~right_a & right_c)) == 1  # sample 13
    assert compared["both_wrong"] == 1
    assert compared["p_value"] == pytest.approx(binomtest(1, 2, 0.5).pvalue)
    assert sorted(compared["differences"]["sample_uid"]) == [13, 15]
    assert dict(zip(compared["differences"]["sample_uid"], compared["differences"]["right"], strict=True)) == \
        {13: "b", 15: "a"}
    with pytest.raises(KeyError, match="trial_b: trial 'zz' has no per-sample table"):
        se.compare(results, "a", "zz", split="valid")


def test_training_dynamics_equal_their_definitions(experiment):
    results, _ = experiment
    table = se.training_dynamics(results).set_index("sample_uid")
    for i, uid in enumerate(UIDS):
        confidences, variabilities, correctness, forgetting = [], [], [], []
        for seed in range(3):
            wrong_at = [(0, 1, 2, 3), (0, 3), (3,)]
            p = np.array([probabilities(10 * (e + 1) + seed, wrong_at[e])[i, LABELS[i]] for e in range(3)])
            right = np.array([i not in wrong_at[e] for e in range(3)])
            confidences.append(p.mean())
            variabilities.append(p.std())
            correctness.append(right.mean())
            forgetting.append(int(np.sum(right[:-1] & ~right[1:])))
        row = table.loc[uid]
        assert row["confidence"] == pytest.approx(np.mean(confidences), rel=1e-5)
        assert row["variability"] == pytest.approx(np.mean(variabilities), rel=1e-4)
        assert row["correctness"] == pytest.approx(np.mean(correctness))
        assert row["forgetting"] == pytest.approx(np.mean(forgetting))
        assert row["epochs"] == 3 and row["trials"] == 3
    assert bool(table.loc[13, "hard_to_learn"]) and table.loc[13, "never_learned"] == 1.0
    assert se.training_dynamics(results)["sample_uid"].iloc[0] == 13  # hardest first


def test_bad_input_gets_clear_errors(tmp_path, experiment):
    results, _ = experiment
    with pytest.raises(KeyError, match=r"split: no per-sample table of split 'test'; recorded: \['train', 'valid'\]"):
        se.label_issues(results, split="test")
    with pytest.raises(ValueError, match="ranking: expected one of"):
        se.label_issues(results, ranking="loss")
    with pytest.raises(ValueError, match="best_k: expected an integer >= 1; got 0"):
        se.label_issues(results, best_k=0)
    empty = load(write_experiment(tmp_path / "empty", [{"trial_id": "x", "value": 1.0}]))
    with pytest.raises(FileNotFoundError, match="left per-sample tables"):
        se.label_issues(empty)
    import pyarrow as pa

    regression = pa.table({"sample_uid": pa.array([1, 2]), "epoch": pa.array([1, 1], pa.int32()),
                           "output": pa.array(["r", "r"]), "loss": pa.array([0.1, 0.2], pa.float32()),
                           "prediction": pa.array([0.5, 0.1], pa.float32()), "truth": pa.array([0.4, 0.3], pa.float32())})
    only_regression = load(write_experiment(tmp_path / "regression", [
        {"trial_id": "x", "value": 1.0, "tables": {("d", "valid", "r", 1): regression}}]))
    with pytest.raises(ValueError, match="ranks classification samples; the outputs \\['r'\\]"):
        se.label_issues(only_regression)


def test_an_epoch_no_trial_recorded_names_those_recorded(experiment):
    results, _ = experiment
    with pytest.raises(KeyError, match=r"epoch: no per-sample table of epoch 99 for split 'valid'; recorded epochs: "
                                       r"\[1, 2\]"):
        results.samples(split="valid", epoch=99)
    assert set(results.samples(split="valid", epoch=2)["epoch"]) == {2}
