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


def log_loss_search_weights(labels, probabilities):
    """cleanlab's log-loss-search weights, written out: exp(-t * log loss) normalized, with the t whose weighted mean of
    the probabilities has the lowest log loss."""
    rows = np.arange(len(labels))
    losses = []
    for p in probabilities:
        clipped = np.clip(p, 1e-6, None)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        losses.append(-np.mean(np.log(clipped[rows, labels])))
    best = None
    for t in (1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 2e2):
        weights = np.exp(-t * np.asarray(losses))
        weights = weights / weights.sum()
        mean = sum(w * p for w, p in zip(weights, probabilities, strict=True))
        loss = -np.mean(np.log(np.clip(mean[rows, labels], 1e-15, None)))
        if best is None or loss < best[0]:
            best = (loss, weights)
    return best[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_loss_search_weights_stream_to_cleanlabs_scores_and_the_log_margin(seed):
    labels, probabilities = members(seed)
    order = np.random.default_rng(seed + 10).permutation(len(labels))  # each member's rows in its own order
    ensemble = LogLossSearchEnsemble(len(labels))
    for p in probabilities:
        ensemble.add(order, labels[order], p[order])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        expected = get_label_quality_ensemble_scores(labels, probabilities, method="normalized_margin",
                                                     weight_ensemble_members_by="log_loss_search", verbose=False)
    np.testing.assert_allclose(ensemble.scores("normalized_margin"), expected, rtol=1e-6, atol=1e-9)
    assert ensemble.chosen_t() > 1e-4  # the weak members count less than the strong ones
    weights = log_loss_search_weights(labels, probabilities)
    rows = np.arange(len(labels))
    margins = []
    for p in probabilities:
        others = p.copy()
        others[rows, labels] = 0
        margins.append(np.log(p[rows, labels]) - np.log(others.max(axis=1)))
    np.testing.assert_allclose(ensemble.scores("log_margin"), sum(w * m for w, m in zip(weights, margins, strict=True)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="member_score: expected one of"):
        ensemble.scores("entropy")


def test_accuracy_weights_stream_to_cleanlabs_scores():
    labels, probabilities = members(3)
    with_vectors = AccuracyWeightedEnsemble(len(labels))
    index = np.arange(len(labels))
    for p in probabilities:
        with_vectors.add(index, labels, p.argmax(axis=1), p[index, labels])
    expected = get_label_quality_ensemble_scores(labels, probabilities, weight_ensemble_members_by="accuracy",
                                                 verbose=False)
    np.testing.assert_allclose(with_vectors.scores(), expected, rtol=1e-9)
