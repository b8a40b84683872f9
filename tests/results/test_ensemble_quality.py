"""The streamed ensemble scores equal cleanlab's get_label_quality_ensemble_scores (no Ray)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cleanlab.rank import get_label_quality_ensemble_scores

from trw_ray.results.ensemble_quality import AccuracyWeightedEnsemble, LogLossSearchEnsemble


def members(seed: int, n: int = 400, classes: int = 5):
    """Members from barely trained to good, in a shuffled order; labels with a few errors."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, n)
    labels = truth.copy()
    labels[:20] = (labels[:20] + 1) % classes
    found = []
    for strength in rng.permutation([0.1, 0.5, 2.0, 4.0, 6.0]):
        logits = rng.normal(size=(n, classes))
        logits[np.arange(n), truth] += strength
        p = np.exp(logits)
        found.append(p / p.sum(axis=1, keepdims=True))
    return labels, found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_loss_search_weights_stream_to_cleanlabs_scores(seed):
    labels, probabilities = members(seed)
    order = np.random.default_rng(seed + 10).permutation(len(labels))  # each member's rows in its own order
    ensemble = LogLossSearchEnsemble(len(labels))
    for p in probabilities:
        ensemble.add(order, labels[order], p[order])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        expected = get_label_quality_ensemble_scores(labels, probabilities, method="normalized_margin",
                                                     adjust_pred_probs=True, weight_ensemble_members_by="log_loss_search",
                                                     verbose=False)
    np.testing.assert_allclose(ensemble.scores(), expected, rtol=1e-6, atol=1e-9)
    assert ensemble.chosen_t() > 1e-4  # the weak members count less than the strong ones


def test_accuracy_weights_stream_to_cleanlabs_scores_with_or_without_vectors():
    labels, probabilities = members(3)
    with_vectors, without = AccuracyWeightedEnsemble(len(labels)), AccuracyWeightedEnsemble(len(labels))
    index = np.arange(len(labels))
    for p in probabilities:
        with_vectors.add(index, labels, p, p.argmax(axis=1), p[index, labels])
        without.add(index, labels, None, p.argmax(axis=1), p[index, labels])
    expected = get_label_quality_ensemble_scores(labels, probabilities, weight_ensemble_members_by="accuracy",
                                                 verbose=False)
    np.testing.assert_allclose(with_vectors.scores(), expected, rtol=1e-9)
    np.testing.assert_allclose(without.scores(), expected, rtol=1e-9)


def test_without_cleanlabs_internal_scorer_the_public_checked_one_gives_the_same_scores(monkeypatch):
    import cleanlab.rank

    from trw_ray.results import ensemble_quality

    assert hasattr(cleanlab.rank, ensemble_quality.CLEANLAB_INTERNAL_SCORER)  # the fast path is the one taken here
    labels, probabilities = members(4)
    index = np.arange(len(labels))

    def streamed():
        ensemble = LogLossSearchEnsemble(len(labels))
        for p in probabilities:
            ensemble.add(index, labels, p)
        return ensemble.scores()

    fast = streamed()
    monkeypatch.setattr(ensemble_quality, "CLEANLAB_INTERNAL_SCORER", "_a_name_a_later_cleanlab_removed")
    np.testing.assert_allclose(streamed(), fast, rtol=1e-12)
