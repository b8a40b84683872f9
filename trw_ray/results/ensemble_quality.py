"""cleanlab's ensemble label-quality scores of a search's trials, one trial at a time.

``cleanlab.rank.get_label_quality_ensemble_scores`` takes every member's probabilities at once: a search of 100
trials on 70,000 samples of 10 classes would hold 100 x 70,000 x 10 numbers. These accumulators give the same
scores while reading one trial's table after another, with memory that grows with the samples, not the trials:

- :class:`LogLossSearchEnsemble`: ``weight_ensemble_members_by='log_loss_search'``: each member weighs
  ``exp(-t * its log loss on the split)``, with the ``t`` (of cleanlab's list) whose weighted mean of the members'
  probabilities has the lowest log loss; a barely trained trial weighs next to nothing next to a good one.
- :class:`AccuracyWeightedEnsemble`: ``weight_ensemble_members_by='accuracy'``: each member weighs its accuracy.

Each member's score is cleanlab's ``get_label_quality_scores`` of its own probabilities, so the method (and
``adjust_pred_probs``) are cleanlab's. A sample a member did not see takes the weighted mean over the members that
did.
"""

from __future__ import annotations

import numpy as np

# cleanlab's defaults for the log-loss search (get_label_quality_ensemble_scores' log_loss_search_T_values)
LOG_LOSS_SEARCH_T = (1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 2e2)
CLIPPING_LOWER_BOUND = 1e-6
CLEANLAB_INTERNAL_SCORER = "_compute_label_quality_scores"  # cleanlab.rank's scorer behind its checked public one  # cleanlab clips the members' probabilities so before their log loss


def member_scores(labels: np.ndarray, probabilities: np.ndarray, method: str, adjust_pred_probs: bool) -> np.ndarray:
    """cleanlab's label-quality score of one member's probabilities (rows renormalized)."""
    import cleanlab.rank

    probabilities = probabilities / np.clip(probabilities.sum(axis=1, keepdims=True), 1e-12, None)
    # cleanlab's scores without the public function's input checks (a Python loop over every label: about 50 ms a
    # member of 70,000 samples, most of a report's time); our tables' labels are class indices already. A cleanlab
    # without the internal name takes the public, checked path.
    compute = getattr(cleanlab.rank, CLEANLAB_INTERNAL_SCORER, None)
    if compute is None:
        return cleanlab.rank.get_label_quality_scores(labels, probabilities, method=method,
                                                      adjust_pred_probs=adjust_pred_probs)
    return compute(labels=labels, pred_probs=probabilities, method=method, adjust_pred_probs=adjust_pred_probs)


def member_log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The member's log loss as cleanlab's search computes it: probabilities clipped below and renormalized."""
    clipped = np.clip(probabilities, CLIPPING_LOWER_BOUND, None)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(clipped[np.arange(len(labels)), labels])))


class LogLossSearchEnsemble:
    """Streams the members of cleanlab's ensemble score with log-loss-search weights over ``n`` samples:
    :meth:`add` each member's rows (positions in ``0 .. n - 1``), then :meth:`scores`. The log loss of a weighted
    mean of the members' probabilities needs only its value at each sample's label, so that is what is kept per ``t``.
    """

    def __init__(self, n: int, method: str = "normalized_margin", adjust_pred_probs: bool = True):
        self.method, self.adjust_pred_probs = method, adjust_pred_probs
        self.t = np.asarray(LOG_LOSS_SEARCH_T)
        self._probability_label = np.zeros((len(self.t), n))
        self._scores = np.zeros((len(self.t), n))
        self._weights = np.zeros((len(self.t), n))
        self._reference: float | None = None  # the lowest member log loss so far: weights are relative to it
        self.labels = np.full(n, -1, dtype=np.int64)

    def add(self, index: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> None:
        """One member's rows: their positions (a sample may come twice), labels and probabilities."""
        loss = member_log_loss(labels, probabilities)
        if self._reference is None or loss < self._reference:
            if self._reference is not None:  # every earlier weight relative to the new lowest loss
                factor = np.exp(-self.t * (self._reference - loss))[:, None]
                self._probability_label *= factor
                self._scores *= factor
                self._weights *= factor
            self._reference = loss
        weight = np.exp(-self.t * (loss - self._reference))[:, None]
        scores = member_scores(labels, probabilities, self.method, self.adjust_pred_probs)
        n = self.labels.shape[0]
        at_label = np.bincount(index, weights=probabilities[np.arange(len(labels)), labels], minlength=n)
        scores = np.bincount(index, weights=scores, minlength=n)
        present = np.bincount(index, minlength=n)
        self.labels[index] = labels
        self._probability_label += weight * at_label
        self._scores += weight * scores
        self._weights += weight * present

    def chosen_t(self) -> float:
        """The ``t`` whose weighted mean of the members' probabilities has the lowest log loss (the first of ties)."""
        seen = self.labels >= 0
        eps = np.finfo(np.float64).eps  # as scikit-learn's log_loss clips
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self._probability_label[:, seen] / self._weights[:, seen]
        losses = -np.mean(np.log(np.clip(mean, eps, 1 - eps)), axis=1)
        return float(self.t[int(np.argmin(losses))])

    def scores(self) -> np.ndarray:
        """One score per sample (lower: the label is less likely right); NaN for a sample no member saw."""
        row = int(np.flatnonzero(self.t == self.chosen_t())[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._weights[row] > 0, self._scores[row] / self._weights[row], np.nan)


class AccuracyWeightedEnsemble:
    """Streams cleanlab's ensemble score with members weighted by their accuracy on the split."""

    def __init__(self, n: int, method: str = "self_confidence"):
        self.method = method
        self._scores = np.zeros(n)
        self._weights = np.zeros(n)

    def add(self, index: np.ndarray, labels: np.ndarray, probabilities: np.ndarray | None,
            predictions: np.ndarray, probability_truth: np.ndarray) -> None:
        """One member's rows. With ``self_confidence`` the score is the probability of the label, read from the
        table's own column (the same number as from the vectors, which a table of many classes does not store)."""
        accuracy = float(np.mean(predictions == labels)) if len(labels) else 0.0
        if self.method == "self_confidence":
            scores = probability_truth
        elif probabilities is None:
            raise ValueError(f"method: {self.method!r} needs the probability vectors, which this table lacks")
        else:
            scores = member_scores(labels, probabilities, self.method, adjust_pred_probs=False)
        self._scores += np.bincount(index, weights=accuracy * np.asarray(scores, np.float64), minlength=len(self._scores))
        self._weights += np.bincount(index, weights=np.full(len(index), accuracy), minlength=len(self._weights))

    def scores(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._weights > 0, self._scores / self._weights, np.nan)
