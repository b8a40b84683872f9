"""What the trials of a search did with each sample: label-issue candidates, confusions, two trials compared,
training dynamics. Read from the trials' per-sample tables (no Ray); numpy group-bys, one trial at a time, so
memory grows with the samples, not with the trials.

Label-issue candidates of a split (:func:`label_issues`), one row per sample of a classification output:

=========================  =======================================================================================
``wrong_share``            share of the trials whose prediction is not the given label (last epoch of each trial)
``wrong_share_best``       the same among the ``best_k`` trials by the search's metric
``mean_loss``              the sample's loss averaged over the trials
``probability_label``      the ensemble's probability of the given label (mean over trials)
``ensemble_label``         the class the ensemble favours (mean probabilities; votes where no vector was stored)
``label_quality``          cleanlab's label-quality score (normalized margin) of the ensemble's mean probabilities
``is_label_issue``         cleanlab's confident-learning verdict (prune by noise rate) on the same probabilities
=========================  =======================================================================================

For splits that do not train (valid, test) the ensemble's probabilities are out of sample, which is what confident
learning asks for. The default ranking (``rank`` column) is ``mean_loss``, highest first (ties: the lowest
``probability_label``), chosen by measurement: on MNIST with 2% of the valid split's labels flipped and 8 trials
of a random search, it found 88% / 94% of the flipped samples (small / larger training sets) against 88% / 91%
for the ensemble's probability of the label, 83% / 92% for cleanlab's label quality of the ensemble, 78% / 86% for
the share of trials wrong, 83% / 92% for the best trial's own highest losses and 72% / 90% for cleanlab on the best
trial alone (``benchmarks/error_report.py``, figures in ``benchmarks/README.md``).

Training dynamics of the train split (:func:`training_dynamics`, dataset cartography, Swayamdipta et al. 2020;
forgetting events, Toneva et al. 2019), per trial over its epochs, then averaged over trials: ``confidence`` (mean
probability of the label), ``variability`` (its standard deviation), ``correctness`` (share of epochs right),
``forgetting`` (right at an epoch, wrong at the next), ``never_learned`` (share of trials never right) and
``hard_to_learn`` (confidence and correctness both below 0.5). A flipped training label is learned late, if at all:
low confidence over the epochs finds it where the final loss (memorised by then) does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trw_ray import layout
from trw_ray.results.sample_tables import TableFile, check_recorded, choose, has_probabilities, table_files

if TYPE_CHECKING:
    import pandas as pd

    from trw_ray.results.experiment import ExperimentResults

TRAIN_SPLIT = "train"
RANKINGS = ("label_quality", "wrong_share", "probability_label", "mean_loss")
DEFAULT_RANKING = "mean_loss"
_COLUMNS = ["sample_uid", "loss", "prediction", "truth", "probability_truth"]


def select(results: ExperimentResults, split: str | None, dataset: str | None, output: str | None,
           last_epoch: bool = True, exclude_train: bool = False) -> dict[tuple[str, str, str], list[TableFile]]:
    """The classification tables grouped by ``(dataset, split, output)``: each trial's last epoch (or every epoch),
    read through :mod:`trw_ray.results.sample_tables`.

    Raises:
        FileNotFoundError: no trial left per-sample tables.
        ValueError: only outputs other than classification did (a regression-only search).
        KeyError: ``split``, ``dataset`` or ``output`` names nothing recorded (the recorded names are listed).
    """
    files = table_files(results)
    if not files:
        raise FileNotFoundError(f"path: no trial of {results.path} left per-sample tables "
                                f"({layout.SAMPLES_FOLDER}/ in its run folder); they are written by the Trainer's "
                                "CallbackSampleTables, which every search trial runs")
    kinds: dict[tuple[str, str], bool] = {}
    for file in files:
        if (file.dataset, file.output) not in kinds:
            kinds[(file.dataset, file.output)] = has_probabilities(file.path)
    classification = [f for f in files if kinds[(f.dataset, f.output)]]
    if not classification:
        raise ValueError(f"the error report ranks classification samples; the outputs {sorted({f.output for f in files})} "
                         f"of {results.path} have no class probabilities (regression or segmentation only)")
    check_recorded(classification, split=split, dataset=dataset, output=output)
    chosen = choose(classification, split, dataset, output, epoch="last" if last_epoch else "all")
    if exclude_train and split is None:
        chosen = [f for f in chosen if f.split != TRAIN_SPLIT]
    groups: dict[tuple[str, str, str], list[TableFile]] = {}
    for file in sorted(chosen, key=lambda f: (f.trial_id, f.epoch)):
        groups.setdefault((file.dataset, file.split, file.output), []).append(file)
    return groups


def _read(path: Path, probabilities: bool) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path).names
    columns = _COLUMNS + (["probabilities"] if probabilities and "probabilities" in schema else [])
    table = pq.read_table(path, columns=columns)
    arrays = {name: table.column(name).to_numpy() for name in _COLUMNS}
    if "probabilities" in columns:
        column = table.column("probabilities").combine_chunks()
        arrays["probabilities"] = column.flatten().to_numpy().reshape(len(column), column.type.list_size)
    return arrays


def _sample_index(files: Sequence[TableFile]) -> np.ndarray:
    import pyarrow.parquet as pq

    uids = [pq.read_table(f.path, columns=["sample_uid"]).column(0).to_numpy() for f in files]
    return np.unique(np.concatenate(uids)) if uids else np.zeros(0, dtype=np.int64)


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

    Columns: ``dataset``, ``split``, ``output``, ``sample_uid``, ``label``, ``trials``, ``wrong_share``,
    ``wrong_share_best``, ``mean_loss``, ``probability_label``, ``ensemble_label``, ``ensemble_probability``,
    ``label_quality``, ``is_label_issue``, ``rank`` (1: the likeliest issue by ``ranking``).
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
    return rank(table, ranking)


def rank(table: pd.DataFrame, ranking: str = DEFAULT_RANKING) -> pd.DataFrame:
    """Sorts candidates by ``ranking`` (likeliest label issue first) within each split and sets ``rank``."""
    keys = {"label_quality": (["label_quality", "probability_label"], [True, True]),
            "wrong_share": (["wrong_share", "mean_loss"], [False, False]),
            "probability_label": (["probability_label"], [True]),
            "mean_loss": (["mean_loss", "probability_label"], [False, True])}[ranking]
    groups = ["dataset", "split", "output"]
    table = table.sort_values(groups + keys[0], ascending=[True] * len(groups) + keys[1], kind="stable")
    table["rank"] = table.groupby(groups).cumcount() + 1
    return table.reset_index(drop=True)


def _label_issues_of(files: list[TableFile], best: set[str]) -> pd.DataFrame:
    import pandas as pd

    uids = _sample_index(files)
    n = len(uids)
    count = np.zeros(n)
    wrong = np.zeros(n)
    count_best = np.zeros(n)
    wrong_best = np.zeros(n)
    loss = np.zeros(n)
    probability_label = np.zeros(n)
    labels = np.full(n, -1, dtype=np.int64)
    probability_sum: np.ndarray | None = None
    votes: np.ndarray | None = None
    with_vectors = True
    for file in files:
        arrays = _read(file.path, probabilities=with_vectors)
        index = np.searchsorted(uids, arrays["sample_uid"])
        labels[index] = arrays["truth"]
        is_wrong = (arrays["prediction"] != arrays["truth"]).astype(np.float64)
        count += np.bincount(index, minlength=n)
        wrong += np.bincount(index, weights=is_wrong, minlength=n)
        loss += np.bincount(index, weights=arrays["loss"], minlength=n)
        probability_label += np.bincount(index, weights=arrays["probability_truth"], minlength=n)
        if file.trial_id in best:
            count_best += np.bincount(index, minlength=n)
            wrong_best += np.bincount(index, weights=is_wrong, minlength=n)
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
            if len(np.unique(index)) < len(index):  # a sample twice in one table
                np.add.at(probability_sum, index, arrays["probabilities"])
            else:
                probability_sum[index] += arrays["probabilities"]
        else:
            with_vectors, probability_sum = False, None
    seen = np.maximum(count, 1)
    ensemble = probability_sum / seen[:, None] if probability_sum is not None else votes / seen[:, None]
    ensemble_label = ensemble.argmax(axis=1)
    if probability_sum is not None:
        quality, issues, _ = _cleanlab_scores(labels, ensemble)
    else:  # no probability vectors stored (many classes): the votes stand in for them
        quality, issues, _ = _cleanlab_scores(labels, (votes + 1e-3) / (seen[:, None] + 1e-3 * votes.shape[1]))
    return pd.DataFrame({
        "sample_uid": uids, "label": labels, "trials": count.astype(np.int64), "wrong_share": wrong / seen,
        "wrong_share_best": np.where(count_best > 0, wrong_best / np.maximum(count_best, 1), np.nan),
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
            arrays = _read(file.path, probabilities=False)
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
            table = pd.read_parquet(file.path, columns=_COLUMNS + ["probability_prediction"])
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
    """Two trials compared sample by sample on one evaluated split (the last epoch of each).

    Returns ``both_right``, ``only_a_right``, ``only_b_right``, ``both_wrong``, ``samples`` (how many both
    evaluated), McNemar's exact test on the discordant samples (``p_value``; ``statistic``: the chi-squared with
    continuity correction), and ``differences``: the samples one gets right and the other wrong (``sample_uid``,
    ``label``, ``prediction_a``, ``prediction_b``, ``loss_a``, ``loss_b``, ``right``: which one).

    Raises:
        KeyError: a trial without tables of that split, or several splits/outputs when none is named.
    """
    import pandas as pd
    from scipy.stats import binomtest

    groups = select(results, split, dataset, output, exclude_train=True)
    if len(groups) != 1:
        raise KeyError(f"split: name one split (and dataset/output when several): recorded {sorted(groups)}")
    files = {f.trial_id: f for f in next(iter(groups.values()))}
    for name, trial in (("trial_a", trial_a), ("trial_b", trial_b)):
        if trial not in files:
            raise KeyError(f"{name}: trial {trial!r} has no per-sample table of {next(iter(groups))}; "
                           f"trials with one: {sorted(files)}")
    a = pd.read_parquet(files[trial_a].path, columns=_COLUMNS).set_index("sample_uid")
    b = pd.read_parquet(files[trial_b].path, columns=_COLUMNS).set_index("sample_uid")
    joined = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
    right_a = (joined["prediction_a"] == joined["truth_a"]).to_numpy()
    right_b = (joined["prediction_b"] == joined["truth_b"]).to_numpy()
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    discordant = only_a + only_b
    p_value = float(binomtest(only_a, discordant, 0.5).pvalue) if discordant else 1.0
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant if discordant else 0.0
    differs = right_a != right_b
    differences = pd.DataFrame({
        "sample_uid": joined.index[differs], "label": joined["truth_a"].to_numpy()[differs],
        "prediction_a": joined["prediction_a"].to_numpy()[differs],
        "prediction_b": joined["prediction_b"].to_numpy()[differs],
        "loss_a": joined["loss_a"].to_numpy()[differs], "loss_b": joined["loss_b"].to_numpy()[differs],
        "right": np.where(right_a[differs], "a", "b")})
    return {"trial_a": trial_a, "trial_b": trial_b, "samples": int(len(joined)),
            "both_right": int(np.sum(right_a & right_b)), "only_a_right": only_a, "only_b_right": only_b,
            "both_wrong": int(np.sum(~right_a & ~right_b)), "statistic": float(statistic), "p_value": p_value,
            "differences": differences}


def training_dynamics(results: ExperimentResults, dataset: str | None = None, output: str | None = None,
                      split: str = TRAIN_SPLIT) -> pd.DataFrame:
    """Training dynamics of the train split (see the module doc), hardest first (lowest confidence).

    Columns: ``dataset``, ``split``, ``output``, ``sample_uid``, ``label``, ``trials``, ``epochs`` (per trial, on
    average), ``confidence``, ``variability``, ``correctness``, ``forgetting``, ``never_learned``,
    ``hard_to_learn``, ``final_loss`` (mean over trials of the last epoch's loss), ``rank``.
    """
    import pandas as pd

    frames = []
    for (dataset_name, split_name, output_name), files in select(results, split, dataset, output,
                                                                 last_epoch=False).items():
        frame = _dynamics_of(files)
        frame.insert(0, "output", output_name)
        frame.insert(0, "split", split_name)
        frame.insert(0, "dataset", dataset_name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table = table.sort_values(["dataset", "split", "output", "confidence"], kind="stable")
    table["rank"] = table.groupby(["dataset", "split", "output"]).cumcount() + 1
    return table.reset_index(drop=True)


def _dynamics_of(files: list[TableFile]) -> pd.DataFrame:
    import pandas as pd

    uids = _sample_index(files)
    n = len(uids)
    sums = {name: np.zeros(n) for name in ("confidence", "variability", "correctness", "forgetting", "never",
                                           "final_loss", "trials", "epochs")}
    labels = np.full(n, -1, dtype=np.int64)
    by_trial: dict[str, list[TableFile]] = {}
    for file in files:
        by_trial.setdefault(file.trial_id, []).append(file)
    for trial_files in by_trial.values():
        trial_files = sorted(trial_files, key=lambda f: f.epoch)
        confidence = np.full((len(trial_files), n), np.nan)
        correct = np.full((len(trial_files), n), np.nan)
        last_loss = np.full(n, np.nan)
        for row, file in enumerate(trial_files):
            arrays = _read(file.path, probabilities=False)
            index = np.searchsorted(uids, arrays["sample_uid"])
            labels[index] = arrays["truth"]
            confidence[row, index] = arrays["probability_truth"]
            correct[row, index] = arrays["prediction"] == arrays["truth"]
            last_loss[index] = arrays["loss"]
        seen = ~np.isnan(confidence)
        epochs = seen.sum(axis=0)
        present = epochs > 0
        with np.errstate(invalid="ignore"):
            mean_confidence = np.nansum(confidence, axis=0) / np.maximum(epochs, 1)
            variance = np.nansum((confidence - mean_confidence) ** 2, axis=0) / np.maximum(epochs, 1)
        correct_filled = np.nan_to_num(correct, nan=0.0)
        forgetting = np.sum((correct_filled[:-1] == 1) & (correct_filled[1:] == 0) & seen[1:] & seen[:-1], axis=0)
        sums["confidence"] += np.where(present, mean_confidence, 0)
        sums["variability"] += np.where(present, np.sqrt(variance), 0)
        sums["correctness"] += np.nansum(correct, axis=0) / np.maximum(epochs, 1)
        sums["forgetting"] += forgetting
        sums["never"] += present & (np.nansum(correct, axis=0) == 0)
        sums["final_loss"] += np.nan_to_num(last_loss)
        sums["trials"] += present
        sums["epochs"] += epochs
    trials = np.maximum(sums["trials"], 1)
    confidence, correctness = sums["confidence"] / trials, sums["correctness"] / trials
    return pd.DataFrame({
        "sample_uid": uids, "label": labels, "trials": sums["trials"].astype(np.int64),
        "epochs": sums["epochs"] / trials, "confidence": confidence, "variability": sums["variability"] / trials,
        "correctness": correctness, "forgetting": sums["forgetting"] / trials, "never_learned": sums["never"] / trials,
        "hard_to_learn": (confidence < 0.5) & (correctness < 0.5), "final_loss": sums["final_loss"] / trials})
