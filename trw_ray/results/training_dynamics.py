"""Training dynamics of the train split (dataset cartography, Swayamdipta et al. 2020; forgetting events, Toneva
et al. 2019), per trial over its epochs, then averaged over the trials: ``confidence`` (mean probability of the
label), ``variability`` (its standard deviation), ``correctness`` (share of epochs right), ``forgetting`` (right at
an epoch, wrong at the next), ``never_learned`` (share of trials never right) and ``hard_to_learn`` (confidence and
correctness both below 0.5). A flipped training label is learned late, if at all: low confidence over the epochs
finds it where the final loss (memorised by then) does not. Read from the trials' per-sample tables (no Ray).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from trw_ray.layout import TRAIN_SPLIT
from trw_ray.results.sample_tables import TableFile, read_table, sample_index, select

if TYPE_CHECKING:
    import pandas as pd

    from trw_ray.results.experiment import ExperimentResults


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

    uids = sample_index(files)
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
            arrays = read_table(file.path, probabilities=False)
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
