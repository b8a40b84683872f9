"""The per-sample tables of an experiment's trials: which there are, and which a query takes.

The one reader behind :meth:`ExperimentResults.samples() <trw_ray.results.ExperimentResults.samples>` and the
error report's scores (:mod:`trw_ray.results.sample_errors`). A trial's tables are the Parquet files its newest run
folder holds (``samples/<dataset>/<split>/<output>/epoch_<N>.parquet``, written by
:class:`~trw_ray.train.callbacks.sample_tables.CallbackSampleTables`); "the last epoch" is, per trial, the last
epoch at which that trial evaluated the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trw_ray import layout

if TYPE_CHECKING:
    from trw_ray.results.experiment import ExperimentResults

EPOCH_CHOICES = ("last", "all")


@dataclass(frozen=True)
class TableFile:
    """One per-sample table: whose it is, of what, and where."""

    trial_id: str
    dataset: str
    split: str
    output: str
    epoch: int
    path: Path


def table_files(results: ExperimentResults, trial_ids: list[str] | None = None) -> list[TableFile]:
    """Every per-sample table of the trials (all, or ``trial_ids``) in their newest run folder, trial by trial in
    the record's order, each trial's in ``(dataset, split, output, epoch)`` order."""
    run_dirs = results.run_dirs()
    found = []
    for trial_id in trial_ids if trial_ids is not None else list(run_dirs):
        run_dir = run_dirs[trial_id]
        for dataset, split, output, epoch, path in layout.samples_files(run_dir) if run_dir else []:
            found.append(TableFile(trial_id, dataset, split, output, epoch, path))
    return found


def check_epoch(epoch) -> None:
    if not (epoch in EPOCH_CHOICES or (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1)):
        raise ValueError(f"epoch: expected 'last', 'all' or an integer >= 1; got {epoch!r}")


def check_recorded(files: list[TableFile], missing: str = "no per-sample table of", **wanted: str | None) -> None:
    """Raises ``KeyError`` naming the argument when a wanted ``split``/``dataset``/``output`` is in no table of
    ``files``: ``"<name>: <missing> <name> <value>; recorded: [...]"``."""
    for name, value in wanted.items():
        recorded = sorted({getattr(file, name) for file in files})
        if value is not None and value not in recorded:
            raise KeyError(f"{name}: {missing} {name} {value!r}; recorded: {recorded}")


def choose(files: list[TableFile], split: str | None = None, dataset: str | None = None, output: str | None = None,
           epoch: int | str = "last") -> list[TableFile]:
    """The tables of ``files`` a query takes: those of ``split``/``dataset``/``output`` (None: any) at ``epoch``:
    ``'last'`` each trial's last epoch of each dataset and split, ``'all'`` every epoch, or that epoch (1: the
    first). Order kept.

    Raises:
        ValueError: an ``epoch`` that is none of those.
        KeyError: an integer ``epoch`` no chosen table has (the recorded epochs are listed).
    """
    check_epoch(epoch)
    chosen = [f for f in files if (split is None or f.split == split) and (dataset is None or f.dataset == dataset)
              and (output is None or f.output == output)]
    if epoch == "last":
        last: dict[tuple[str, str, str], int] = {}
        for file in chosen:
            key = (file.trial_id, file.dataset, file.split)
            last[key] = max(last.get(key, 0), file.epoch)
        return [f for f in chosen if f.epoch == last[(f.trial_id, f.dataset, f.split)]]
    if epoch == "all":
        return chosen
    epochs = sorted({f.epoch for f in chosen})
    if epochs and epoch not in epochs:
        raise KeyError(f"epoch: no per-sample table of epoch {epoch}{' for split ' + repr(split) if split else ''}; "
                       f"recorded epochs: {epochs}")
    return [f for f in chosen if f.epoch == epoch]


def has_probabilities(path: Path) -> bool:
    """Whether the table is of a classification output (it holds the probability of the true class)."""
    import pyarrow.parquet as pq

    return "probability_truth" in pq.read_schema(path).names
