"""One search experiment read from its folder (``trw_ray/`` files written by the search's recorder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trw_ray import checks, layout
from trw_ray.checks import is_finite_number

if TYPE_CHECKING:
    import pandas as pd

RECORD_FOLDER = layout.RECORD_FOLDER
SEARCH_FILENAME = layout.SEARCH_FILE
HISTORY_FILENAME = layout.HISTORY_FILE
TRIALS_FOLDER = layout.TRIALS_FOLDER
SCOPES = ("last", "best")
RETURNED_LOSS = "loss"  # what a number returned by a trial's function is reported as


def _returned_scalars(trial_dir: str | None) -> dict[str, Any]:
    """The scalar entries of the infos dict a trial's function returned (``<trial>/trw_ray_infos.json``)."""
    if not trial_dir:
        return {}
    path = Path(trial_dir) / layout.TRIAL_INFOS_FILE
    try:
        infos = json.loads(path.read_text(encoding="utf-8")).get("infos")
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}
    if not isinstance(infos, dict):
        return {}
    return {str(name): value for name, value in infos.items()
            if value is None or isinstance(value, (str, bool, int, float))}


def _epochs_trained(trial_history: pd.DataFrame, iterations: int) -> int:
    """The epochs a trial trained: its reports' ``epoch`` (the Trainer's and :func:`trw_ray.hparams.report`'s);
    for reports without one (``ray.tune.report``), those before the final result; else its iterations."""
    from trw_ray.search_context import FINAL_KEY

    if "epoch" in trial_history and trial_history["epoch"].notna().any():
        epochs = float(trial_history["epoch"].max())
        if is_finite_number(epochs):
            return int(epochs)
    if FINAL_KEY in trial_history:
        reports = int((trial_history[FINAL_KEY] != True).sum())  # noqa: E712 - NaN on the reports before the last
        if reports:
            return reports
    return iterations


def load(path: str | os.PathLike | ExperimentResults) -> ExperimentResults:
    """Opens an experiment folder (finished, interrupted or still running). No Ray needed."""
    if isinstance(path, ExperimentResults):
        return path
    return ExperimentResults(path)


class ExperimentResults:
    """The trials of one search experiment.

    Args:
        path: the experiment folder (``storage_path/name``), as printed by ``trw-ray search``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().resolve()
        settings_path = self.path / RECORD_FOLDER / SEARCH_FILENAME
        if not settings_path.is_file():
            raise FileNotFoundError(f"path: {str(self.path)!r} is not a trw_ray search experiment "
                                    f"(no {RECORD_FOLDER}/{SEARCH_FILENAME})")
        self.settings: dict[str, Any] = json.loads(settings_path.read_text(encoding="utf-8"))
        self.metric: str = self.settings.get("metric", "loss")
        self.mode: str = self.settings.get("mode", "min")

    def __repr__(self) -> str:
        return f"ExperimentResults({str(self.path)!r}, algorithm={self.settings.get('algorithm')!r})"

    # ------------------------------------------------------------------ raw records

    def records(self) -> list[dict[str, Any]]:
        """The per-trial records, oldest first."""
        folder = self.path / RECORD_FOLDER / TRIALS_FOLDER
        records = []
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                records.append(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue  # being replaced right now: the next read sees it
        return sorted(records, key=lambda record: record.get("started", 0))

    def history(self, trial_id: str | None = None) -> pd.DataFrame:
        """Every reported result (one row per trial and iteration): ``trial_id``, ``training_iteration``,
        ``epoch``, the search metric and every ``dataset/split/output/metric``."""
        import pandas as pd

        rows = [row for row in self.history_rows() if trial_id is None or row.get("trial_id") == trial_id]
        if trial_id is not None and not rows and trial_id not in {r["trial_id"] for r in self.records()}:
            raise KeyError(f"trial_id: no trial {trial_id!r} in {self.path}; known: {self.trial_ids()}")
        table = pd.DataFrame(rows)
        if table.empty:
            return pd.DataFrame(columns=["trial_id", "training_iteration", self.metric])
        # a trial resumed from a checkpoint reports its later iterations again: keep the newest of each
        table = table.drop_duplicates(subset=["trial_id", "training_iteration"], keep="last")
        return table.sort_values(["trial_id", "training_iteration"]).reset_index(drop=True)

    def history_rows(self) -> list[dict[str, Any]]:
        """The reported results in the order the driver recorded them."""
        path = self.path / RECORD_FOLDER / HISTORY_FILENAME
        rows = []
        if path.is_file():
            with open(path, encoding="utf-8") as file:
                for line in file:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a line being written
        return rows

    def anytime(self, metric: str | None = None, by: str = "epochs", completed_only: bool = False,
                mode: str | None = None) -> pd.DataFrame:
        """The best value found as a function of the training consumed (best-so-far curve), from the record alone.

        One row per event, in the order the driver recorded them: ``by`` (the x axis), ``trial_id``, ``value`` (the
        value the event contributes; NaN when it contributes none) and ``best`` (the best ``value`` so far; NaN
        before the first).

        Args:
            metric: default the search's.
            by: ``'epochs'``: an event per reported result, x = epochs trained by all trials so far (a result at
                iteration i of a trial adds the iterations since its previous result; a trial resumed from a
                checkpoint does not count its epochs twice). ``'time'``: the same events, x = seconds since the
                search was created. ``'trials'``: an event per ended trial (by its end time), x = trials ended so
                far, value = its last value.
            completed_only: count only the values of trials trained to the end, at the event of their final result
                (what their function returned), leaving out the validation values of trials a scheduler stopped
                early: the curve of "best model trained to the end after this much training".
            mode: ``'min'`` or ``'max'`` (default: the search's for its metric, else ``'min'``).
        """
        from trw_ray.results.anytime import best_so_far

        return best_so_far(self, metric, by, completed_only, mode)

    def trial_ids(self) -> list[str]:
        return [record["trial_id"] for record in self.records()]

    # ------------------------------------------------------------------ tables

    def trials(self) -> pd.DataFrame:
        """One row per trial, best first (by ``last/<metric>``; trials without one last, in the order they
        started): ``trial_id``, ``status`` (TERMINATED, ERROR, RUNNING, PAUSED...), ``completed``
        (its function returned), ``config/<name>``, ``last/<metric>``, ``best/<metric>`` (and ``last/loss``, the
        number the function returned, when the metric is another), ``iterations``, ``epochs``,
        ``failures``, ``error``, ``trial_dir``, ``run_dir``, and ``result/<name>`` for every number, string or boolean
        of the dict the trial's function returned with its loss (e.g. an architecture search's
        ``result/genotype``)."""
        import pandas as pd

        history = self.history()
        metric = self.metric
        by_trial = dict(tuple(history.groupby("trial_id"))) if len(history) else {}
        rows = []
        for record in self.records():
            trial_history = by_trial.get(record["trial_id"], history.iloc[0:0])
            values = trial_history[metric].dropna() if metric in trial_history else pd.Series(dtype=float)
            last = (record.get("last_result") or {}).get(metric)
            best = (values.min() if self.mode == "min" else values.max()) if len(values) else None
            row = {"trial_id": record["trial_id"], "status": record.get("status"),
                   "completed": bool(record.get("completed", False))}
            for name, value in (record.get("config") or {}).items():
                row[f"config/{name}"] = value
            row[f"last/{metric}"] = last if is_finite_number(last) else None
            row[f"best/{metric}"] = float(best) if best is not None else None
            if metric != RETURNED_LOSS:  # the number the function returned, when the search optimises another metric
                returned = (record.get("last_result") or {}).get(RETURNED_LOSS)
                row[f"last/{RETURNED_LOSS}"] = returned if is_finite_number(returned) else None
            row["iterations"] = record.get("iterations") or 0
            row["epochs"] = _epochs_trained(trial_history, row["iterations"])
            row["failures"] = record.get("failures", 0)
            row["error"] = record.get("error")
            row["trial_dir"] = record.get("trial_dir")
            row["run_dir"] = (record.get("last_result") or {}).get("run_dir")
            for name, value in _returned_scalars(record.get("trial_dir")).items():
                row[f"result/{name}"] = value
            rows.append(row)
        table = pd.DataFrame(rows)
        if len(table):  # best first, as `trw-ray results` prints them; trials without a value last, oldest first
            table = table.sort_values(f"last/{metric}", ascending=self.mode == "min", na_position="last",
                                      kind="stable").reset_index(drop=True)
        return table

    def architectures(self, metric: str | None = None, completed_only: bool = True) -> pd.DataFrame:
        """One row per distinct architecture of an architecture search (trials that returned ``genotype``): its
        ``genotype`` (the first trial's), ``canonical`` key (isomorphic cells are one row), the metric's ``mean``,
        ``std`` and ``count`` over the trials (seeds, repeats), ``accuracy_mean``/``accuracy_std`` and
        ``parameters`` when the trials returned them, ``trial_ids``; best first (``rank`` 1).

        Raises:
            ValueError: no trial returned a genotype (not an architecture search).
        """
        import pandas as pd

        trials = self.trials()
        if "result/genotype" not in trials:
            raise ValueError(f"{self.path}: no trial returned a 'genotype'; architectures() reads architecture searches "
                             "(trw_ray.nas.darts_search, evolution_search)")
        metric = metric or self.metric
        column = f"last/{metric}"
        if column not in trials:
            raise KeyError(f"metric: {metric!r} is not a trial result; known: "
                           f"{sorted(c[5:] for c in trials.columns if c.startswith('last/'))}")
        chosen = trials[trials["result/genotype"].notna()]
        if completed_only:
            chosen = chosen[chosen["completed"]]
        key = "result/canonical" if "result/canonical" in chosen else "result/genotype"
        chosen = chosen.assign(_key=chosen[key].fillna(chosen["result/genotype"]))
        rows = []
        for canonical, group in chosen.groupby("_key", sort=False):
            values = pd.to_numeric(group[column], errors="coerce").dropna()
            row = {"genotype": group["result/genotype"].iloc[0], "canonical": canonical,
                   "mean": float(values.mean()) if len(values) else None,
                   "std": float(values.std()) if len(values) > 1 else None, "count": int(len(values))}
            if "result/accuracy" in group:
                accuracy = pd.to_numeric(group["result/accuracy"], errors="coerce").dropna()
                row["accuracy_mean"] = float(accuracy.mean()) if len(accuracy) else None
                row["accuracy_std"] = float(accuracy.std()) if len(accuracy) > 1 else None
            if "result/parameters" in group:
                row["parameters"] = group["result/parameters"].iloc[0]
            row["trial_ids"] = list(group["trial_id"])
            rows.append(row)
        table = pd.DataFrame(rows)
        if table.empty:
            return pd.DataFrame(columns=["rank", "genotype", "canonical", "mean", "std", "count", "trial_ids"])
        table = table.sort_values("mean", ascending=self.mode == "min" or metric != self.metric,
                                  na_position="last").reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
        return table

    def best(self, metric: str | None = None, mode: str | None = None, scope: str = "last",
             completed_only: bool = False) -> dict[str, Any] | None:
        """The best trial by ``metric`` (default: the search's) as a dict with ``trial_id``, ``value``, ``config``,
        ``status``, ``trial_dir``, ``checkpoint``, ``run_dir``; None when no trial reported the metric.

        Args:
            scope: ``'last'`` ranks trials by their last reported value (their result), ``'best'`` by the best
                value they ever reported.
            completed_only: rank only the trials whose function returned, leaving out those a scheduler
                (HyperBand, ASHA, PBT) stopped early. A stopped trial's last value is the metric of the epoch it
                stopped at (e.g. a validation loss after 3 epochs), where a completed trial's is what its function
                returned (e.g. the test loss after training): pass True to compare like with like.
        """
        metric = metric or self.metric
        mode = mode or (self.mode if metric == self.metric else "min")
        checks.mode(mode)
        if scope not in SCOPES:
            raise ValueError(f"scope: expected one of {list(SCOPES)}; got {scope!r}")
        if not isinstance(completed_only, bool):
            raise TypeError(f"completed_only: expected True or False; got {completed_only!r}")
        history = self.history()
        if metric not in history:
            known = sorted(c for c in history.columns if c not in ("trial_id",))
            raise KeyError(f"metric: {metric!r} was never reported; reported: {known}")
        completed = {record["trial_id"] for record in self.records() if record.get("completed")} if completed_only else None
        candidates = []
        for trial_id, rows in history.groupby("trial_id"):
            if completed is not None and trial_id not in completed:
                continue
            values = rows[metric].dropna()
            if not len(values):
                continue
            value = values.iloc[-1] if scope == "last" else (values.min() if mode == "min" else values.max())
            if is_finite_number(value):
                candidates.append((float(value), trial_id))
        if not candidates:
            return None
        value, trial_id = (min if mode == "min" else max)(candidates)
        trial = self.trial(trial_id)
        trial["value"] = value
        trial["metric"] = metric
        return trial

    def trial(self, trial_id: str) -> dict[str, Any]:
        """One trial: its record (``status``, ``config``, ``error``, ``traceback``...) plus ``checkpoint`` (newest
        checkpoint folder or None), ``run_dirs`` (Trainer run folders) and ``run_dir`` (the newest)."""
        for record in self.records():
            if record["trial_id"] == trial_id:
                return self._trial_of(record)
        raise KeyError(f"trial_id: no trial {trial_id!r} in {self.path}; known: {self.trial_ids()}")

    def run_dirs(self) -> dict[str, str | None]:
        """``{trial_id: its newest Trainer run folder}`` (None for a trial that has none yet), oldest trial first."""
        return {record["trial_id"]: self._trial_of(record)["run_dir"] for record in self.records()}

    @staticmethod
    def _trial_of(record: dict[str, Any]) -> dict[str, Any]:
        trial = dict(record)
        trial_dir = Path(record["trial_dir"]) if record.get("trial_dir") else None
        checkpoints = sorted(trial_dir.glob("checkpoint_*")) if trial_dir and trial_dir.is_dir() else []
        trial["checkpoint"] = str(checkpoints[-1]) if checkpoints else None
        runs = layout.trial_run_folders(trial_dir) if trial_dir else []
        trial["run_dirs"] = [str(run) for run in runs]
        trial["run_dir"] = (record.get("last_result") or {}).get("run_dir") or (str(runs[-1]) if runs else None)
        return trial

    def samples(self, split: str | None = None, trial_id: str | None = None, epoch: int | str = "last",
                dataset: str | None = None) -> pd.DataFrame:
        """The per-sample tables of the trials' runs as one long DataFrame (no Ray needed).

        One row per trial, split, epoch, sample and output: ``trial_id``, ``dataset``, ``split``, ``epoch``,
        ``sample_uid``, ``output``, ``loss``, ``prediction``, ``truth`` and, for classification,
        ``probability_truth``, ``probability_prediction`` and ``probabilities`` (see
        :mod:`trw_ray.train.callbacks.sample_tables`). The tables come from each trial's last run folder.

        Args:
            split: only this split (e.g. ``'valid'``, ``'train'``); None for every split.
            trial_id: only this trial; None for every trial.
            epoch: ``'last'`` (default) the last epoch each trial recorded for each split; an integer, that epoch
                (finished epochs, 1 for the first); ``'all'`` every epoch.
            dataset: only this dataset; None for every dataset.

        Raises:
            KeyError: an unknown ``trial_id``, or a ``split``/``dataset``/``epoch`` no trial recorded (naming those
                recorded).
        """
        from trw_ray.results import sample_tables

        if trial_id is not None and trial_id not in self.trial_ids():
            raise KeyError(f"trial_id: no trial {trial_id!r} in {self.path}; known: {self.trial_ids()}")
        return sample_tables.read_samples(self, split=split, trial_id=trial_id, epoch=epoch, dataset=dataset)

    def sample_errors(self, split: str | None = None, dataset: str | None = None, output: str | None = None,
                      best_k: int = 5, ranking: str | None = None) -> pd.DataFrame:
        """Label-issue candidates of the evaluated splits: per sample, how many trials (and of the ``best_k`` best)
        get it wrong, the class the ensemble gives it, its mean loss and cleanlab's scores, ranked by the trials'
        log margin weighted by their log loss on the split (``rank`` 1 first; ``ranking`` None is the default). See :mod:`trw_ray.results.sample_errors` for every column and the rankings."""
        from trw_ray.results.sample_errors import DEFAULT_RANKING, label_issues

        return label_issues(self, split=split, dataset=dataset, output=output, best_k=best_k,
                            ranking=ranking or DEFAULT_RANKING)

    def compare_trials(self, trial_a: str, trial_b: str, split: str | None = None, dataset: str | None = None,
                       output: str | None = None) -> dict[str, Any]:
        """Two trials compared sample by sample on one evaluated split: right/wrong counts, McNemar's exact test
        and the samples one gets right and the other wrong (:func:`trw_ray.results.trial_comparison.compare`)."""
        from trw_ray.results.trial_comparison import compare

        return compare(self, trial_a, trial_b, split=split, dataset=dataset, output=output)

    def load_model(self, trial_id: str | None = None, model=None, device: str = "cpu"):
        """The trained model of a trial (default: the best) as ``(model, metadata)``.

        Reads the ``last.model`` of the trial's run folder (simple-layers networks rebuild themselves; other
        classes need ``model=`` an instance of the same architecture).
        """
        from trw_ray.train.model_io import load_model

        if trial_id is None:
            best = self.best()
            if best is None:
                raise ValueError(f"trial_id: no trial of {self.path} reported {self.metric!r}; name one of "
                                 f"{self.trial_ids()}")
            trial_id = best["trial_id"]
        trial = self.trial(trial_id)
        if not trial["run_dir"] or not (Path(trial["run_dir"]) / layout.MODEL_FILE).is_file():
            raise FileNotFoundError(f"trial_id: trial {trial_id!r} has no last.model (its function did not train "
                                    "with trw_ray's Trainer, or no epoch finished)")
        return load_model(Path(trial["run_dir"]) / layout.MODEL_FILE, model=model, device=device)
