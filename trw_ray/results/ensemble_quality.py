"""cleanlab's ensemble label-quality scores of a search's trials, one trial at a time.

``cleanlab.rank.get_label_quality_ensemble_scores`` takes every member's probabilities at once: a search of 100
trials on 70,000 samples of 10 classes would hold 100 x 70,000 x 10 numbers. These accumulators give the same
scores while reading one trial's table after another, with memory that grows with the samples, not the trials:

- :class:`LogLossSearchEnsemble`: ``weight_ensemble_members_by='log_loss_search'``: each member weighs
  ``exp(-t * its log loss on the split)``, with the ``t`` (of cleanlab's list) whose weighted mean of the members'
  probabilities has the lowest log loss; a barely trained trial weighs next to nothing next to a good one. Besides
  cleanlab's normalized margin it averages the members' log margin (:func:`margins`).
- :class:`AccuracyWeightedEnsemble`: ``weight_ensemble_members_by='accuracy'``: each member weighs its accuracy.

Each member's score is computed from its own probabilities as cleanlab defines it (the tests compare with cleanlab's
functions). A sample a member did not see takes the weighted mean over the members that did.
"""

from __future__ import annotations

import numpy as np

# cleanlab's defaults for the log-loss search (get_label_quality_ensemble_scores' log_loss_search_T_values)
LOG_LOSS_SEARCH_T = (1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 2e2)
CLIPPING_LOWER_BOUND = 1e-6  # cleanlab clips the members' probabilities so before their log loss
LOG_FLOOR = 1e-12  # the log margin's floor: a probability that underflowed to 0 counts as 1e-12


def member_log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The member's log loss as cleanlab's search computes it: probabilities clipped below and renormalized."""
    clipped = np.clip(probabilities, CLIPPING_LOWER_BOUND, None)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(clipped[np.arange(len(labels)), labels])))


def margins(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Two scores of one member for each sample, from its probability of the label and its highest probability of
    another class (rows renormalized as cleanlab does):

    - ``'normalized_margin'``: cleanlab's ``(p(label) - max p(other) + 1) / 2`` (``get_label_quality_scores(...,
      method='normalized_margin')``);
    - ``'log_margin'``: ``log p(label) - log max p(other)``: negative where the member prefers another class, and on a
      log scale, so that a label the member finds a thousand times less likely than its choice stands apart from one
      it finds three times less likely (the normalized margin puts both near 0).
    """
    rows = np.arange(len(labels))
    totals = np.clip(probabilities.sum(axis=1), 1e-12, None)
    at_label = probabilities[rows, labels] / totals
    others = probabilities.copy()
    others[rows, labels] = -np.inf
    best_other = others.max(axis=1) / totals
    return {"normalized_margin": (at_label - best_other + 1) / 2,
            "log_margin": np.log(np.clip(at_label, LOG_FLOOR, None)) - np.log(np.clip(best_other, LOG_FLOOR, None))}


MEMBER_SCORES = ("log_margin", "normalized_margin")  # what LogLossSearchEnsemble averages: ours, cleanlab's


class LogLossSearchEnsemble:
    """Streams ensemble scores with cleanlab's log-loss-search weights over ``n`` samples: :meth:`add` each
    member's rows (positions in ``0 .. n - 1``), then :meth:`scores`. Each member weighs ``exp(-t * its log loss)``,
    with the ``t`` whose weighted mean of the members' probabilities has the lowest log loss. That log loss needs
    only the mean's value at each sample's label, so that is what is kept per ``t``.

    Two member scores are averaged with those weights: ``'normalized_margin'`` (cleanlab's, so that
    ``scores('normalized_margin')`` equals ``get_label_quality_ensemble_scores(..., method='normalized_margin',
    weight_ensemble_members_by='log_loss_search')``) and ``'log_margin'`` (see :func:`margins`).
    """

    def __init__(self, n: int):
        self.t = np.asarray(LOG_LOSS_SEARCH_T)
        self._probability_label = np.zeros((len(self.t), n))
        self._scores = {name: np.zeros((len(self.t), n)) for name in MEMBER_SCORES}
        self._weights = np.zeros((len(self.t), n))
        self._reference: float | None = None  # the lowest member log loss so far: weights are relative to it
        self.labels = np.full(n, -1, dtype=np.int64)

    def add(self, index: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> None:
        """One member's rows: their positions (a sample may come twice), labels and probabilities."""
        loss = member_log_loss(labels, probabilities)
        if self._reference is None or loss < self._reference:
            if self._reference is not None:  # every earlier weight relative to the new lowest loss
                factor = np.exp(-self.t * (self._reference - loss))[:, None]
                for accumulator in (self._probability_label, self._weights, *self._scores.values()):
                    accumulator *= factor
            self._reference = loss
        weight = np.exp(-self.t * (loss - self._reference))[:, None]
        n = self.labels.shape[0]
        member = margins(labels, probabilities)
        self.labels[index] = labels
        self._probability_label += weight * np.bincount(
            index, weights=probabilities[np.arange(len(labels)), labels], minlength=n)
        self._weights += weight * np.bincount(index, minlength=n)
        for name, values in member.items():
            self._scores[name] += weight * np.bincount(index, weights=values, minlength=n)

    def chosen_t(self) -> float:
        """The ``t`` whose weighted mean of the members' probabilities has the lowest log loss (the first of ties)."""
        seen = self.labels >= 0
        eps = np.finfo(np.float64).eps  # as scikit-learn's log_loss clips
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self._probability_label[:, seen] / self._weights[:, seen]
        losses = -np.mean(np.log(np.clip(mean, eps, 1 - eps)), axis=1)
        return float(self.t[int(np.argmin(losses))])

    def scores(self, member_score: str = "normalized_margin") -> np.ndarray:
        """One score per sample (lower: the label is less likely right); NaN for a sample no member saw."""
        if member_score not in MEMBER_SCORES:
            raise ValueError(f"member_score: expected one of {list(MEMBER_SCORES)}; got {member_score!r}")
        row = int(np.flatnonzero(self.t == self.chosen_t())[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._weights[row] > 0, self._scores[member_score][row] / self._weights[row], np.nan)


class AccuracyWeightedEnsemble:
    """Streams cleanlab's ensemble score with members weighted by their accuracy on the split, each member's score
    its probability of the label (``method='self_confidence'``), read from the table's own column (the same number
    as from the probability vectors, which a table of many classes does not store)."""

    def __init__(self, n: int):
        self._scores = np.zeros(n)
        self._weights = np.zeros(n)

    def add(self, index: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
            probability_label: np.ndarray) -> None:
        accuracy = float(np.mean(predictions == labels)) if len(labels) else 0.0
        n = len(self._scores)
        self._scores += accuracy * np.bincount(index, weights=np.asarray(probability_label, np.float64), minlength=n)
        self._weights += accuracy * np.bincount(index, minlength=n)

    def scores(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._weights > 0, self._scores / self._weights, np.nan)
