"""The per-sample tables of an experiment's trials: which there are, and which a query takes.

The one reader behind :meth:`ExperimentResults.samples() <trw_ray.results.ExperimentResults.samples>` and the
error report's scores (:mod:`trw_ray.results.sample_errors`). A trial's tables are the Parquet files its newest run
folder holds (``samples/<dataset>/<split>/<output>/epoch_<N>.parquet``, written by
:class:`~trw_ray.train.callbacks.sample_tables.CallbackSampleTables`); "the last epoch" is, per trial, the last
epoch at which that trial evaluated the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trw_ray import layout
from trw_ray.layout import TRAIN_SPLIT

if TYPE_CHECKING:
    import pandas as pd

    from trw_ray.results.experiment import ExperimentResults

EPOCH_CHOICES = ("last", "all")
#: the columns the error report reads of a classification table
COLUMNS = ["sample_uid", "loss", "prediction", "truth", "probability_truth"]


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



def select(results: ExperimentResults, split: str | None, dataset: str | None, output: str | None,
           last_epoch: bool = True, exclude_train: bool = False) -> dict[tuple[str, str, str], list[TableFile]]:
    """The classification tables grouped by ``(dataset, split, output)``: each trial's last epoch (or every epoch).

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


def read_table(path: Path, probabilities: bool) -> dict[str, np.ndarray]:
    """The :data:`COLUMNS` of a classification table as arrays (with ``probabilities``, samples x classes)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path).names
    columns = COLUMNS + (["probabilities"] if probabilities and "probabilities" in schema else [])
    table = pq.read_table(path, columns=columns)
    arrays = {name: table.column(name).to_numpy() for name in COLUMNS}
    if "probabilities" in columns:
        column = table.column("probabilities").combine_chunks()
        arrays["probabilities"] = column.flatten().to_numpy().reshape(len(column), column.type.list_size)
    return arrays


def sample_index(files: Sequence[TableFile]) -> np.ndarray:
    """Every sample uid of these tables, sorted, once each."""
    import pyarrow.parquet as pq

    uids = [pq.read_table(f.path, columns=["sample_uid"]).column(0).to_numpy() for f in files]
    return np.unique(np.concatenate(uids)) if uids else np.zeros(0, dtype=np.int64)


def read_samples(results: ExperimentResults, split: str | None = None, trial_id: str | None = None,
                 epoch: int | str = "last", dataset: str | None = None) -> pd.DataFrame:
    """The chosen tables as one long DataFrame with ``trial_id``, ``dataset`` and ``split`` columns: what
    :meth:`ExperimentResults.samples() <trw_ray.results.ExperimentResults.samples>` returns (its arguments)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_epoch(epoch)
    files = table_files(results, [trial_id] if trial_id is not None else None)
    check_recorded(files, "no trial recorded per-sample tables of", split=split, dataset=dataset)
    tables = []
    for file in choose(files, split=split, dataset=dataset, epoch=epoch):
        table = pq.read_table(file.path)
        count = table.num_rows
        table = table.append_column("trial_id", pa.array([file.trial_id] * count, pa.string()))
        table = table.append_column("dataset", pa.array([file.dataset] * count, pa.string()))
        table = table.append_column("split", pa.array([file.split] * count, pa.string()))
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["trial_id", "dataset", "split", "epoch", "sample_uid", "output", "loss"])
    try:
        frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # outputs of several kinds: class indices and value lists
        frame = pd.concat([table.to_pandas() for table in tables], ignore_index=True)
    frame["output"] = frame["output"].astype(str)
    leading = ["trial_id", "dataset", "split", "epoch", "sample_uid", "output"]
    return frame[leading + [c for c in frame.columns if c not in leading]]
