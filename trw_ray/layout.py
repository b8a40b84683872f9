"""Every file and folder name trw_ray writes, in one place: a Trainer run folder and a search experiment.

A run folder (``<logging_directory>/<run_prefix>_rN``)::

    trainer.txt                      the run's log
    last.model, last.model.result    the model of the last finished epoch; the run's result (JSON)
    index.html                       the run's report, linking everything below
    samples/<dataset>/<split>/<output>/epoch_<epoch>.parquet
                                     per-sample table of every output of every evaluated split (and of the
                                     train split as seen) after each epoch: sample_uid, epoch, loss, prediction...
    worst_samples_by_epoch/, errors/, history/, lr_recorder/, tensorboard/, ...   the callbacks' reports
    architecture/history.json, genotype.json, *.png   a supernet's architecture weights per epoch, its derived
                                     genotype and the collapse guard's decision, weight heatmaps, the cell drawn

A search experiment (``storage_path/name``), beside Ray Tune's own files::

    trw_ray/search.json              what was searched (algorithm, metric, mode, space, seed...)
    trw_ray/history.jsonl            one line per reported result of any trial
    trw_ray/trials/<trial_id>.json   per trial: status, config, folder, last result, error and traceback
    <trial folder>/runs/<run>/       the run folders the trial's Trainer wrote
    <trial folder>/trw_ray_infos.json   the infos the trial's function returned with its loss
    report/                          the search report (``trw-ray report PATH``)
    report/errors/                   the error report (label-issue candidates, confusions, training dynamics)

Names only: this module imports nothing of trw_ray, torch or Ray.
"""

from __future__ import annotations

import re
from pathlib import Path

# the split names the Trainer, the reports and the error report share: the split that trains, the one that picks
# the best epoch and the held-out one (the seed's datasets use these three)
TRAIN_SPLIT = "train"
VALID_SPLIT = "valid"
TEST_SPLIT = "test"

# ---------------------------------------------------------------------------------------------- run folder
TRAINER_LOG = "trainer.txt"
MODEL_FILE = "last.model"
RESULT_FILE = "last.model.result"
ONNX_FILE = "last.onnx"
RUN_INDEX = "index.html"
SAMPLES_FOLDER = "samples"
WORST_SAMPLES_FOLDER = "worst_samples_by_epoch"
ERRORS_FOLDER = "errors"
HISTORY_FOLDER = "history"
LEARNING_RATE_FOLDER = "lr_recorder"
TENSORBOARD_FOLDER = "tensorboard"
RANDOM_SAMPLES_FOLDER = "random_samples"
AUGMENTATIONS_FOLDER = "augmentations"
EXPLANATIONS_FOLDER = "explanations"
ATTENTION_FOLDER = "attention"
ACTIVATIONS_FOLDER = "activations"
GRADIENTS_FOLDER = "gradients"
BEST_HISTORY_FILE = "best_history.txt"
MODEL_SUMMARY_FILE = "model_summary.txt"
DATA_SUMMARY_FILE = "data_summary.txt"
ARCHITECTURE_FOLDER = "architecture"  # a supernet's run: weights per epoch, derived genotype, figures
ARCHITECTURE_HISTORY_FILE = "history.json"
GENOTYPE_FILE = "genotype.json"

# ---------------------------------------------------------------------------------------------- search experiment
RECORD_FOLDER = "trw_ray"
SEARCH_FILE = "search.json"
HISTORY_FILE = "history.jsonl"
BUDGET_FILE = "budget.json"  # a search with max_total_epochs: what it consumed and when the budget was spent
TRIALS_FOLDER = "trials"
TRIAL_RUNS_FOLDER = "runs"
TRIAL_INFOS_FILE = "trw_ray_infos.json"
CHECKPOINT_STATE_FILE = "trainer_state.pt"
SEARCH_REPORT_FOLDER = "report"
SEARCH_ERRORS_FOLDER = "errors"  # inside the search report: the error report
DEFAULT_SEARCHES_FOLDER = "searches"
TUNER_STATE_FILE = "tuner.pkl"  # Ray Tune's; what ``Tuner.can_restore`` looks for

_SAMPLES_NAME = re.compile(r"^epoch_(?P<epoch>\d+)\.parquet$")


def samples_file(run_dir: str | Path, dataset: str, split: str, output: str, epoch: int) -> Path:
    """The per-sample table of one output of one split after ``epoch`` finished epochs."""
    return Path(run_dir) / SAMPLES_FOLDER / dataset / split / output / f"epoch_{epoch:04d}.parquet"


def samples_files(run_dir: str | Path) -> list[tuple[str, str, str, int, Path]]:
    """``(dataset, split, output, epoch, path)`` of every per-sample table of a run folder, in that order."""
    root = Path(run_dir) / SAMPLES_FOLDER
    found = []
    for path in root.glob("*/*/*/epoch_*.parquet") if root.is_dir() else []:
        match = _SAMPLES_NAME.match(path.name)
        if match is not None:
            output = path.parent
            found.append((output.parent.parent.name, output.parent.name, output.name, int(match["epoch"]), path))
    return sorted(found)


def is_run_folder(path: str | Path) -> bool:
    path = Path(path)
    return (path / RESULT_FILE).is_file() or (path / TRAINER_LOG).is_file()


def is_experiment_folder(path: str | Path) -> bool:
    return (Path(path) / RECORD_FOLDER / SEARCH_FILE).is_file()


def trial_run_folders(trial_dir: str | Path) -> list[Path]:
    """The Trainer run folders of one trial, oldest first."""
    runs = Path(trial_dir) / TRIAL_RUNS_FOLDER
    if not runs.is_dir():
        return []
    return sorted((path for path in runs.glob("*_r*") if path.is_dir()), key=lambda path: path.stat().st_mtime)
