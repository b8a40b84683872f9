"""What the trials of a search did with each sample: label-issue candidates, confusions, two trials compared,
training dynamics. Read from the trials' per-sample tables (no Ray); numpy group-bys, one trial at a time, so
memory grows with the samples, not with the trials.

Label-issue candidates of a split (:func:`label_issues`), one row per sample of a classification output:

===============================  ======================================================================================
``wrong_trials``                 how many trials predict another class than the given label (last epoch of each trial)
``wrong_best_trials``            the same among the ``best_k`` trials by the search's metric (``best_trials``: how many)
``wrong_share``                  ``wrong_trials`` / ``trials``; ``wrong_share_best``: the same among the best
``log_margin``                   ``log p(label) - log max p(other class)`` of each trial, averaged with cleanlab's
                                 log-loss-search weights (each trial ``exp(-t * its log loss on the split)``,
                                 :mod:`trw_ray.results.ensemble_quality`): below 0 where the good trials prefer another
                                 class; lower: likelier a label error
``ensemble_quality``             cleanlab's ensemble label-quality score (``get_label_quality_ensemble_scores``): the
                                 trials' normalized margin with the same weights
``accuracy_weighted_quality``    the same score with members weighted by their accuracy on the split, each member's score
                                 its probability of the label (cleanlab's ``self_confidence``)
``mean_loss_best``               the sample's loss averaged over the ``best_k`` best trials
``mean_loss``                    the sample's loss averaged over all the trials
``probability_label``            the ensemble's probability of the given label (mean over trials)
``ensemble_label``               the class the ensemble favours (mean probabilities; votes where no vector was stored)
``label_quality``                cleanlab's label-quality score (normalized margin) of the ensemble's mean probabilities
``is_label_issue``               cleanlab's confident-learning verdict (prune by noise rate) on the same probabilities
===============================  ======================================================================================

For splits that do not train (valid, test) the ensemble's probabilities are out of sample, which is what confident
learning asks for. Each of ``RANKINGS`` orders the candidates (``rank`` 1: the likeliest label error).

Why ``log_margin`` is the default (``benchmarks/error_report.py``, figures in ``benchmarks/README.md``): a random
search's trials differ widely in quality, and an average over all of them lets the barely trained ones drown the
good ones' signal; cleanlab's log-loss-search weights give those next to no weight. On a log scale the margin tells
a label a good trial finds a thousand times less likely than its choice from one it finds three times less likely.
Measured with 8 random-search trials of mixed quality, 2% of the valid labels flipped, recall at k:

- plausible flips (the class a reference model ranks next), MNIST, 10 seeds: 83.3% against 80.2% for the best
  trial's own highest losses and 80.3% for the mean loss over all trials (the earlier default); never below the
  best trial on a seed. Fashion-MNIST, 3 seeds: 53.0% against 50.3% and 47.0%.
- uniform flips: MNIST 91.0% (best trial 91.0%, earlier default 89.0%); Fashion-MNIST 81.7% (79.7%, 81.7%).

cleanlab's normalized margin (``ensemble_quality``, and ``label_quality`` of the mean probabilities) finds more
plausible flips on MNIST (84.8% over 10 seeds) but falls to 60.0% on Fashion-MNIST's uniform flips, where many
clean samples of look-alike classes (shirt, T-shirt, pullover) have a small margin too; it stays selectable, as do
the earlier default ``mean_loss``, ``mean_loss_best`` and ``accuracy_weighted_quality``.

Training dynamics of the train split: :mod:`trw_ray.results.training_dynamics`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from trw_ray.layout import TRAIN_SPLIT
from trw_ray.results.ensemble_quality import AccuracyWeightedEnsemble, LogLossSearchEnsemble
from trw_ray.results.sample_tables import (  # noqa: F401 - COLUMNS, read_table, sample_index, select: their earlier home
    COLUMNS,
    TableFile,
    check_recorded,
    choose,
    has_probabilities,
    read_table,
    sample_index,
    select,
    table_files,
)

if TYPE_CHECKING:
    import pandas as pd

    from trw_ray.results.experiment import ExperimentResults

RANKINGS = ("log_margin", "ensemble_quality", "accuracy_weighted_quality", "mean_loss_best", "mean_loss",
            "label_quality", "wrong_share", "probability_label")
DEFAULT_RANKING = "log_margin"
def best_trials(results: ExperimentResults, k: int) -> list[str]:
    """The ``k`` trials with the best final value of the search's metric (completed trials first)."""
    trials = results.trials()
    column = f"last/{results.metric}"
    if column not in trials or not len(trials):
        return []
    ranked = trials.dropna(subset=[column]).sort_values(["completed", column],
                                                        ascending=[False, results.mode == "min"])
    return list(ranked["trial_id"][:k])


def _cleanlab_scores(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(label quality, is label issue, why not computed) of the ensemble's probabilities."""
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError as error:
        nan = np.full(len(labels), np.nan)
        return nan, np.zeros(len(labels), dtype=bool), f"cleanlab is not installed ({error})"
    probabilities = probabilities / np.clip(probabilities.sum(axis=1, keepdims=True), 1e-12, None)
    quality = get_label_quality_scores(labels, probabilities, method="normalized_margin")
    try:
        issues = find_label_issues(labels, probabilities, filter_by="prune_by_noise_rate", n_jobs=1)
        return quality, np.asarray(issues, dtype=bool), None
    except (ValueError, IndexError) as error:  # e.g. a class no sample is labelled with
        return quality, np.zeros(len(labels), dtype=bool), f"confident learning failed: {error}"


def label_issues(results: ExperimentResults, split: str | None = None, dataset: str | None = None,
                 output: str | None = None, best_k: int = 5, ranking: str = DEFAULT_RANKING) -> pd.DataFrame:
    """Label-issue candidates (see the module doc), ranked; every split that does not train when ``split`` is None.

    Args:
        split, dataset, output: only these (None: every one recorded; ``split`` None leaves the train split out).
        best_k: how many of the best trials by the search's metric ``wrong_best_trials``, ``wrong_share_best`` and
            ``mean_loss_best`` count (fewer when the search has fewer trials with a value).
        ranking: one of :data:`RANKINGS` (default :data:`DEFAULT_RANKING`).

    Returns:
        Columns ``dataset``, ``split``, ``output``, ``sample_uid``, ``label``, ``trials``, ``best_trials``,
        ``wrong_trials``, ``wrong_best_trials``, ``wrong_share``, ``wrong_share_best``, ``log_margin``, ``ensemble_quality``,
        ``accuracy_weighted_quality``, ``mean_loss_best``, ``mean_loss``, ``probability_label``, ``ensemble_label``, ``ensemble_probability``,
        ``label_quality``, ``is_label_issue``, ``rank`` (1: the likeliest issue by ``ranking``).

    Raises:
        ValueError: an unknown ``ranking`` or a ``best_k`` below 1; a search without classification tables.
        KeyError: a ``split``/``dataset``/``output`` nothing recorded.
        FileNotFoundError: no trial left per-sample tables.

    Example::

        candidates = trw_ray.results.load(path).sample_errors(split='valid')
        candidates.head(20)[['sample_uid', 'label', 'ensemble_label', 'wrong_best_trials', 'wrong_trials']]
    """
    import pandas as pd

    if ranking not in RANKINGS:
        raise ValueError(f"ranking: expected one of {list(RANKINGS)}; got {ranking!r}")
    if not isinstance(best_k, int) or isinstance(best_k, bool) or best_k < 1:
        raise ValueError(f"best_k: expected an integer >= 1; got {best_k!r}")
    best = set(best_trials(results, best_k))
    frames = []
    for (dataset_name, split_name, output_name), files in select(results, split, dataset, output,
                                                                 exclude_train=True).items():
        frame = _label_issues_of(files, best)
        frame.insert(0, "output", output_name)
        frame.insert(0, "split", split_name)
        frame.insert(0, "dataset", dataset_name)
        frames.append(frame)
    if not frames:
        raise KeyError(f"split: every recorded split trains; name one with split= (e.g. split={TRAIN_SPLIT!r})")
    table = pd.concat(frames, ignore_index=True)
    return order_by_ranking(table, ranking)


def order_by_ranking(table: pd.DataFrame, ranking: str = DEFAULT_RANKING) -> pd.DataFrame:
    """Sorts candidates by ``ranking`` (likeliest label issue first) within each split and sets ``rank``."""
    keys = {"log_margin": (["log_margin", "mean_loss"], [True, False]),
            "ensemble_quality": (["ensemble_quality", "mean_loss"], [True, False]),
            "accuracy_weighted_quality": (["accuracy_weighted_quality", "mean_loss"], [True, False]),
            "mean_loss_best": (["mean_loss_best", "mean_loss"], [False, False]),
            "label_quality": (["label_quality", "probability_label"], [True, True]),
            "wrong_share": (["wrong_share", "mean_loss"], [False, False]),
            "probability_label": (["probability_label"], [True]),
            "mean_loss": (["mean_loss", "probability_label"], [False, True])}[ranking]
    groups = ["dataset", "split", "output"]
    table = table.sort_values(groups + keys[0], ascending=[True] * len(groups) + keys[1], kind="stable")
    table["rank"] = table.groupby(groups).cumcount() + 1
    return table.reset_index(drop=True)


rank = order_by_ranking  # the earlier name


def _label_issues_of(files: list[TableFile], best: set[str]) -> pd.DataFrame:
    import pandas as pd

    uids = sample_index(files)
    n = len(uids)
    count = np.zeros(n)
    wrong = np.zeros(n)
    count_best = np.zeros(n)
    wrong_best = np.zeros(n)
    loss = np.zeros(n)
    loss_best = np.zeros(n)
    by_accuracy = AccuracyWeightedEnsemble(n)
    by_log_loss: LogLossSearchEnsemble | None = None
    probability_label = np.zeros(n)
    labels = np.full(n, -1, dtype=np.int64)
    probability_sum: np.ndarray | None = None
    votes: np.ndarray | None = None
    with_vectors = True
    for file in files:
        arrays = read_table(file.path, probabilities=with_vectors)
        index = np.searchsorted(uids, arrays["sample_uid"])
        labels[index] = arrays["truth"]
        is_wrong = (arrays["prediction"] != arrays["truth"]).astype(np.float64)
        in_table = np.bincount(index, minlength=n)
        unique = int(in_table.max(initial=0)) <= 1
        count += in_table
        wrong += np.bincount(index, weights=is_wrong, minlength=n)
        loss += np.bincount(index, weights=arrays["loss"], minlength=n)
        probability_label += np.bincount(index, weights=arrays["probability_truth"], minlength=n)
        if file.trial_id in best:
            count_best += np.bincount(index, minlength=n)
            wrong_best += np.bincount(index, weights=is_wrong, minlength=n)
            loss_best += np.bincount(index, weights=arrays["loss"], minlength=n)
        by_accuracy.add(index, arrays["truth"], arrays["prediction"], arrays["probability_truth"])
        if "probabilities" in arrays:
            if by_log_loss is None:
                by_log_loss = LogLossSearchEnsemble(n)
            by_log_loss.add(index, arrays["truth"], arrays["probabilities"])
        classes = int(max(arrays["truth"].max(initial=0), arrays["prediction"].max(initial=0))) + 1
        if "probabilities" in arrays:
            classes = max(classes, arrays["probabilities"].shape[1])
        if votes is None or votes.shape[1] < classes:
            grown = np.zeros((n, classes))
            if votes is not None:
                grown[:, :votes.shape[1]] = votes
            votes = grown
        np.add.at(votes, (index, arrays["prediction"]), 1.0)
        if "probabilities" in arrays:
            if probability_sum is None:
                probability_sum = np.zeros((n, arrays["probabilities"].shape[1]))
            if not unique:  # a sample twice in one table
                np.add.at(probability_sum, index, arrays["probabilities"])
            else:
                probability_sum[index] += arrays["probabilities"]
        else:
            with_vectors, probability_sum, by_log_loss = False, None, None
    seen = np.maximum(count, 1)
    ensemble = probability_sum / seen[:, None] if probability_sum is not None else votes / seen[:, None]
    ensemble_label = ensemble.argmax(axis=1)
    if probability_sum is not None:
        quality, issues, _ = _cleanlab_scores(labels, ensemble)
    else:  # no probability vectors stored (many classes): the votes stand in for them
        quality, issues, _ = _cleanlab_scores(labels, (votes + 1e-3) / (seen[:, None] + 1e-3 * votes.shape[1]))
    accuracy_quality = by_accuracy.scores()
    accuracy_quality = np.where(np.isnan(accuracy_quality), probability_label / seen, accuracy_quality)
    # without probability vectors (many classes): the log of the probability of the label weighted by the trials'
    # accuracy stands in for the log margin, the accuracy-weighted score for cleanlab's normalized margin
    if by_log_loss is not None:
        margin, ensemble_quality = by_log_loss.scores("log_margin"), by_log_loss.scores("normalized_margin")
    else:
        margin, ensemble_quality = np.log(np.clip(accuracy_quality, 1e-6, None)), accuracy_quality
    best_seen = np.maximum(count_best, 1)
    return pd.DataFrame({
        "sample_uid": uids, "label": labels, "trials": count.astype(np.int64),
        "best_trials": count_best.astype(np.int64), "wrong_trials": wrong.astype(np.int64),
        "wrong_best_trials": wrong_best.astype(np.int64), "wrong_share": wrong / seen,
        "wrong_share_best": np.where(count_best > 0, wrong_best / best_seen, np.nan),
        "log_margin": margin, "ensemble_quality": ensemble_quality, "accuracy_weighted_quality": accuracy_quality,
        "mean_loss_best": np.where(count_best > 0, loss_best / best_seen, np.nan),
        "mean_loss": loss / seen, "probability_label": probability_label / seen, "ensemble_label": ensemble_label,
        "ensemble_probability": ensemble[np.arange(n), ensemble_label], "label_quality": quality,
        "is_label_issue": issues})


def confusions(results: ExperimentResults, split: str | None = None, dataset: str | None = None,
               output: str | None = None) -> pd.DataFrame:
    """The confusions the trials make (last epoch): ``label``, ``prediction``, ``errors`` (mean count per trial)
    and ``trials_share`` (share of the trials making it at least once), most frequent first."""
    import pandas as pd

    rows = []
    for (dataset_name, split_name, output_name), files in select(results, split, dataset, output,
                                                                 exclude_train=True).items():
        totals: dict[tuple[int, int], list[int]] = {}
        for file in files:
            arrays = read_table(file.path, probabilities=False)
            wrong = arrays["prediction"] != arrays["truth"]
            pairs, counts = np.unique(np.stack([arrays["truth"][wrong], arrays["prediction"][wrong]], axis=1),
                                      axis=0, return_counts=True)
            for (label, prediction), value in zip(pairs.tolist(), counts.tolist(), strict=True):
                totals.setdefault((label, prediction), []).append(value)
        for (label, prediction), values in totals.items():
            rows.append({"dataset": dataset_name, "split": split_name, "output": output_name, "label": label,
                         "prediction": prediction, "errors": sum(values) / len(files),
                         "trials_share": len(values) / len(files)})
    table = pd.DataFrame(rows, columns=["dataset", "split", "output", "label", "prediction", "errors", "trials_share"])
    return table.sort_values(["dataset", "split", "output", "errors"], ascending=[True, True, True, False],
                             kind="stable").reset_index(drop=True)


def trial_errors(results: ExperimentResults, trial_id: str, split: str | None = None, dataset: str | None = None,
                 output: str | None = None) -> pd.DataFrame:
    """The samples one trial gets wrong (its last epoch), most confident errors first."""
    import pandas as pd

    frames = []
    for (dataset_name, split_name, output_name), files in select(results, split, dataset, output,
                                                                 exclude_train=True).items():
        for file in files:
            if file.trial_id != trial_id:
                continue
            table = pd.read_parquet(file.path, columns=COLUMNS + ["probability_prediction"])
            table = table[table["prediction"] != table["truth"]]
            table.insert(0, "output", output_name)
            table.insert(0, "split", split_name)
            table.insert(0, "dataset", dataset_name)
            frames.append(table.sort_values("probability_prediction", ascending=False))
    if not frames:
        raise KeyError(f"trial_id: trial {trial_id!r} has no per-sample table of an evaluated split; trials with "
                       f"tables: {sorted({f.trial_id for f in table_files(results)})}")
    return pd.concat(frames, ignore_index=True)


def compare(results: ExperimentResults, trial_a: str, trial_b: str, split: str | None = None,
            dataset: str | None = None, output: str | None = None) -> dict[str, Any]:
    """:func:`trw_ray.results.trial_comparison.compare` (its earlier home)."""
    from trw_ray.results import trial_comparison

    return trial_comparison.compare(results, trial_a, trial_b, split=split, dataset=dataset, output=output)


def training_dynamics(results: ExperimentResults, dataset: str | None = None, output: str | None = None,
                      split: str = TRAIN_SPLIT) -> pd.DataFrame:
    """:func:`trw_ray.results.training_dynamics.training_dynamics` (its earlier home)."""
    from trw_ray.results import training_dynamics as module

    return module.training_dynamics(results, dataset=dataset, output=output, split=split)
