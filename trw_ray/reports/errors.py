"""The search's error report: what tens of models trained on the same data agree they get wrong.

Example::

    report = trw.reports.error_report(results, datasets=trw.datasets.create_mnist_dataset())
    report['label_issues'].head(20)     # the likeliest label errors of the evaluated splits
    # <experiment>/report/errors/index.html: the candidates as images, confusions, the best trial's errors,
    # the training dynamics of the train split; every table as CSV and Parquet beside it

Built by the driver from the trials' per-sample tables (:mod:`trw_ray.results.sample_errors` defines every score
and the ranking); the experiment is only read. ``trw-ray report errors PATH`` builds it alone, ``trw-ray report
PATH`` with the search report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trw_ray import layout
from trw_ray.checks import positive_int
from trw_ray.reports.pages import table, write_page
from trw_ray.results import sample_errors as scores
from trw_ray.results.training_dynamics import training_dynamics

ERRORS_FOLDER = layout.SEARCH_ERRORS_FOLDER


_REPORT_FILES = ("index.html", "label_issues-*", "confusions.*", "best_trial_errors.*", "training_dynamics-*")


def _remove_earlier_report(output_dir: Path) -> None:
    """An earlier error report in the same folder (e.g. of every split, where this one has ``split='valid'``) goes:
    the folder then holds this report's files only."""
    for pattern in _REPORT_FILES:
        for path in output_dir.glob(pattern):
            if path.is_file():
                path.unlink()


def _write_table(frame, output_dir: Path, name: str) -> list[str]:
    frame.to_csv(output_dir / f"{name}.csv", index=False)
    frame.to_parquet(output_dir / f"{name}.parquet", index=False)
    return [f"{name}.csv", f"{name}.parquet"]


def _images(datasets: Mapping | None, dataset: str, split: str, uids: np.ndarray) -> np.ndarray | None:
    """The first image-like feature of these samples, from the datasets the report was given (None if none)."""
    from trw_ray.train.callbacks.batch_features import first_image_feature

    sequence = (datasets or {}).get(dataset, {}).get(split)
    lookup = getattr(sequence, "samples_by_uid", None)
    if lookup is None or not len(uids):
        return None
    try:
        samples = lookup(uids)
    except KeyError:
        return None
    name = first_image_feature(samples)
    return None if name is None else [np.asarray(image) for image in samples[name]]


def _table_with_images(group, name: str, output_dir: Path, datasets: Mapping | None, max_images: int, caption,
                       title: str) -> tuple[list[str], list[str]]:
    """Writes a ranked table and, when the datasets give its first samples' images, their grid; returns the file
    names of the tables and of the images."""
    from trw_ray.reports.plots import plot_image_grid

    files = _write_table(group, output_dir, name)
    top = group.head(max_images)
    dataset, split = group["dataset"].iloc[0], group["split"].iloc[0]
    images = _images(datasets, dataset, split, top["sample_uid"].to_numpy())
    if images is None:
        return files, []
    plot_image_grid(images, [caption(row) for row in top.itertuples()], output_dir / f"{name}.png", title=title)
    return files, [f"{name}.png"]


def candidates_at_a_glance(group):
    """The candidates as the page shows them: rank, uid, the given label, the ensemble's, how many of the best and of
    all the trials disagree with the label ("3/5"), then the scores (the CSV beside the page has every column)."""
    shown = group[["rank", "sample_uid", "label", "ensemble_label"]].copy()
    shown["disagree (best)"] = [f"{w}/{n}" for w, n in zip(group["wrong_best_trials"], group["best_trials"], strict=True)]
    shown["disagree (all)"] = [f"{w}/{n}" for w, n in zip(group["wrong_trials"], group["trials"], strict=True)]
    for column in ("log_margin", "ensemble_quality", "mean_loss", "is_label_issue"):
        shown[column] = group[column]
    return shown


def error_report(path_or_results, output_dir: str | os.PathLike | None = None, split: str | None = None,
                 datasets: Mapping | None = None, best_k: int = 5, max_images: int = 24,
                 ranking: str = scores.DEFAULT_RANKING) -> dict[str, Any]:
    """Builds ``errors/index.html`` and its tables.

    Args:
        path_or_results: an experiment folder or :class:`trw_ray.results.ExperimentResults`.
        output_dir: default ``<experiment>/report/errors``.
        split: only this evaluated split (default: every split that does not train).
        datasets: ``{dataset: {split: sequence}}`` as the trainable's ``inputs_fn`` returns them; sequences that
            look samples up by uid (``SequenceArray``) let the page show the candidates as images.
        best_k: how many of the best trials (by the search's metric) the candidates' ``wrong_best_trials`` and
            ``mean_loss_best`` count.
        max_images: candidates shown as images per split.
        ranking: see :data:`trw_ray.results.sample_errors.RANKINGS`.

    Returns:
        ``{'index', 'output_dir', 'label_issues', 'confusions', 'best_trial_errors', 'training_dynamics',
        'notes'}``; a table the experiment cannot give (no train-split tables, say) is None and a note says why.

    Raises:
        KeyError: ``split`` names no recorded split.
    """
    from trw_ray.results import load

    if datasets is not None and not isinstance(datasets, Mapping):
        raise TypeError(f"datasets: expected None or {{dataset: {{split: sequence}}}} as inputs_fn returns it; "
                        f"got {type(datasets).__name__}")
    positive_int(max_images, "max_images", 0)
    results = load(path_or_results)
    output_dir = Path(output_dir) if output_dir is not None else \
        results.path / layout.SEARCH_REPORT_FOLDER / ERRORS_FOLDER
    output_dir.mkdir(parents=True, exist_ok=True)
    _remove_earlier_report(output_dir)
    notes: list[str] = []
    sections: list[dict] = []
    found: dict[str, Any] = {"label_issues": None, "confusions": None, "best_trial_errors": None,
                             "training_dynamics": None}
    try:
        issues = scores.label_issues(results, split=split, best_k=best_k, ranking=ranking)
    except (FileNotFoundError, ValueError) as error:
        notes.append(f"no label-issue candidates: {error}")
        issues = None
    except KeyError as error:
        if split is not None:
            raise
        notes.append(f"no label-issue candidates: {error.args[0]}")
        issues = None
    if issues is not None:
        found["label_issues"] = issues
        counted_best = len(scores.best_trials(results, best_k))  # a search of 3 trials counts 3, not best_k
        for (dataset, split_name, output), group in issues.groupby(["dataset", "split", "output"], sort=True):
            name = f"label_issues-{dataset}-{split_name}-{output}"
            files, shown = _table_with_images(
                group, name, output_dir, datasets, max_images,
                lambda r: f"uid {r.sample_uid}: label {r.label}, ensemble {r.ensemble_label}"
                          f"\nwrong: {r.wrong_best_trials}/{r.best_trials} best, {r.wrong_trials}/{r.trials} all",
                f"{output} {dataset}/{split_name}: likeliest label issues")
            flagged = int(group["is_label_issue"].sum())
            shown_table = candidates_at_a_glance(group)
            sections.append({
                "title": f"Label-issue candidates: {dataset}/{split_name} ({output})",
                "text": f"{len(group)} samples seen by up to {int(group['trials'].max())} trials, ranked by {ranking} "
                        f"(likeliest first); {flagged} flagged by confident learning. Under each image: its label, the "
                        f"class the ensemble gives it, and how many trials disagree with the label among the "
                        f"{counted_best} best and among all. log_margin: log p(label) - log max p(other "
                        "class), averaged over the trials weighted by their log loss (below 0: the good trials prefer "
                        "another class); ensemble_quality: cleanlab's ensemble score (normalized margin) with the same "
                        "weights; label_quality: cleanlab's score of the ensemble's mean probabilities.",
                "images": shown, "table": shown_table, "files": files})
        found["confusions"] = scores.confusions(results, split=split)
        files = _write_table(found["confusions"], output_dir, "confusions")
        sections.append({"title": "Confusions most trials make", "table": found["confusions"], "files": files,
                         "text": "errors: mean count per trial; trials_share: share of trials making it at least once."})
        best = scores.best_trials(results, 1)
        if best:
            found["best_trial_errors"] = scores.trial_errors(results, best[0], split=split)
            files = _write_table(found["best_trial_errors"], output_dir, "best_trial_errors")
            sections.append({"title": f"Errors of the best trial ({best[0]})", "table": found["best_trial_errors"],
                             "files": files, "text": "most confident errors first."})
    try:
        dynamics = training_dynamics(results)
    except (FileNotFoundError, ValueError, KeyError) as error:
        notes.append(f"no training dynamics: {error.args[0] if isinstance(error, KeyError) else error}")
        dynamics = None
    if dynamics is not None:
        found["training_dynamics"] = dynamics
        for (dataset, split_name, output), group in dynamics.groupby(["dataset", "split", "output"], sort=True):
            name = f"training_dynamics-{dataset}-{split_name}-{output}"
            files, shown = _table_with_images(
                group, name, output_dir, datasets, max_images,
                lambda r: f"uid {r.sample_uid}: label {r.label}\nconf {r.confidence:.2f} var {r.variability:.2f}"
                          f"\nright {r.correctness:.0%}",
                f"{output} {dataset}/{split_name}: hardest to learn")
            sections.append({
                "title": f"Training dynamics: {dataset}/{split_name} ({output})",
                "text": f"{int(group['hard_to_learn'].sum())} of {len(group)} samples hard to learn (confidence and "
                        "correctness below 0.5, averaged over the trials' epochs); lowest confidence first.",
                "images": shown, "table": group, "files": files})
    for section in sections:
        section["table"] = table(section["table"], section.get("max_rows", 30)) if "table" in section else None
    index = write_page(output_dir / "index.html", "errors.html", sections=sections, notes=notes,
                       title=f"Error report: {results.settings.get('name', results.path.name)}")
    return {"index": index, "output_dir": output_dir, "notes": notes, **found}
