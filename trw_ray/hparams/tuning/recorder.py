"""The driver's record of a search: a Ray Tune callback that writes trw_ray's own experiment files.

Under the experiment folder (``storage_path/name``; names in :mod:`trw_ray.layout`), all JSON, written as results
arrive: ``trw_ray/history.jsonl`` (one line per reported result of any trial, appended, flushed) and
``trw_ray/trials/<trial_id>.json`` (per trial: status, config, folder, last result, error and traceback); the
driver writes ``trw_ray/search.json``. Tune's own files (some pickled) stay as Tune writes them;
:mod:`trw_ray.results` reads only trw_ray's.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.progress_reporter import TrialProgressCallback
from ray.tune.stopper import Stopper

from trw_ray.io import json_scalar, write_json_atomic, write_text_atomic
from trw_ray.layout import HISTORY_FILE as HISTORY_FILENAME
from trw_ray.layout import RECORD_FOLDER, TRIALS_FOLDER
from trw_ray.search_context import DEFAULTS_KEY, FINAL_KEY, REPLAYED_KEY

__all__ = ["FINAL_KEY", "FinalResultStopper", "QuietTrialProgress", "SearchRecorder", "finished_trial_result",
           "forget_trials_tune_lost", "result_row"]
SEARCH_ERROR_NAME = "MetricNotReportedError"  # a trial error that ends the search (trw_ray.train.tune_bridge)
_SKIPPED_RESULT_KEYS = {"config", "hostname", "node_ip", "pid", "date", "trial_id", "experiment_tag", "done",
                        "should_checkpoint", "checkpoint_dir_name"}


def result_row(trial_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """A reported result reduced to JSON scalars (no config, no host details)."""
    row = {"trial_id": trial_id}
    for key, value in result.items():
        if key in _SKIPPED_RESULT_KEYS:
            continue
        converted = json_scalar(value)
        if converted is not None or value is None:
            row[key] = converted
    return row


def tune_saved_trial_ids(experiment_dir: str | Path) -> set[str] | None:
    """The trial ids in Tune's newest saved experiment state (the one ``Tuner.restore`` resumes); None if none."""
    states = sorted(Path(experiment_dir).glob("experiment_state-*.json"))
    if not states:
        return None
    trial_data = json.loads(states[-1].read_text(encoding="utf-8")).get("trial_data", [])
    return {json.loads(entry[0])["trial_id"] for entry in trial_data}


def finished_trial_result(experiment_dir: str | Path, trial_id: str) -> dict[str, Any] | None:
    """The final result of a trial the record shows finished (its function returned), without the keys Tune fills
    in; None for any other trial.

    Tune resumes the trials its last saved state shows unfinished; a trial that finished after that save (Tune saves
    about once a second; a driver killed at once saves nothing more) would be trained again.
    :func:`trw_ray.hparams.tuning.trial.run_trial` sends this result again instead, marked ``REPLAYED_KEY``, which the
    recorder does not record a second time.
    """
    path = Path(experiment_dir) / RECORD_FOLDER / TRIALS_FOLDER / f"{trial_id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    last = record.get("last_result") or {}
    if not record.get("completed") or not last.get(FINAL_KEY):
        return None
    from ray.tune.result import AUTO_RESULT_KEYS

    tune_keys = {*AUTO_RESULT_KEYS, *_SKIPPED_RESULT_KEYS, "recorded_at"}
    return {key: value for key, value in last.items() if key not in tune_keys}


def forget_trials_tune_lost(experiment_dir: str | Path) -> list[str]:
    """Before a resume: drops the records of unfinished trials that Tune's saved state does not know.

    Tune saves its state about once a second; a trial started after the last save and still running when the
    driver died is unknown to the resumed experiment, which runs its configuration again under a new id. Its
    record (status RUNNING forever) and any partial history would otherwise stay in the results. Finished trials
    are always kept. Returns the ids dropped.
    """
    experiment_dir = Path(experiment_dir)
    known = tune_saved_trial_ids(experiment_dir)
    folder = experiment_dir / RECORD_FOLDER / TRIALS_FOLDER
    if known is None or not folder.is_dir():
        return []
    lost = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("trial_id") not in known and not record.get("completed"):
            lost.append(record.get("trial_id"))
            path.unlink()
    history = experiment_dir / RECORD_FOLDER / HISTORY_FILENAME
    if lost and history.is_file():
        kept = []
        for line in history.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                if json.loads(line).get("trial_id") in lost:
                    continue
            except json.JSONDecodeError:
                continue  # the line the dead driver was writing
            kept.append(line)
        write_text_atomic(history, "".join(kept))
    return lost


class FinalResultStopper(Stopper):
    """Ends a trial at its final report (the value its function returned), before any scheduler sees it: PBT must
    not exploit, nor HyperBand pause, a trial whose function has already returned. Ends the whole search once the
    ``recorder`` saw a mistake every trial would make (:attr:`SearchRecorder.search_error`)."""

    def __init__(self, recorder: SearchRecorder | None = None):
        self.recorder = recorder

    def __call__(self, trial_id: str, result: dict) -> bool:
        return bool(result.get(FINAL_KEY))

    def stop_all(self) -> bool:
        recorder = getattr(self, "recorder", None)  # one pickled by an earlier version has none
        return recorder is not None and getattr(recorder, "search_error", None) is not None


class QuietTrialProgress(TrialProgressCallback):
    """Stands in for Tune's per-trial progress lines below ``verbose=2`` (Tune prints "Trial ... completed" even at
    verbosity 0, once for every pending trial a spent budget ends); trw_ray's recorder prints the progress."""

    def on_trial_result(self, *args, **kwargs) -> None:
        pass

    def on_trial_error(self, *args, **kwargs) -> None:
        pass

    def on_trial_complete(self, *args, **kwargs) -> None:
        pass


class SearchRecorder(Callback):
    """Writes ``trw_ray/history.jsonl`` and ``trw_ray/trials/*.json`` while Tune runs (see the module doc).

    Args:
        experiment_dir: the experiment folder.
        metric, mode: for the progress line's best value.
        progress_every_s: print a one-line summary (trials by status, best value and its configuration) at most
            this often, a line per failed trial and a last summary; None prints nothing.
        tracking: a :class:`~trw_ray.tracking.TrackingSync` told of every record it writes (never pickled with the
            recorder: Tune saves its callbacks).
    """

    def __init__(self, experiment_dir: str | Path, metric: str = "loss", mode: str = "min",
                 progress_every_s: float | None = None, tracking=None):
        self.experiment_dir = Path(experiment_dir)
        self.tracking = tracking
        self.records: dict[str, dict[str, Any]] = {}
        self.metric, self.mode = metric, mode
        self.progress_every_s = progress_every_s
        self._started = time.time()
        self._last_progress = 0.0
        self.search_error: str | None = None
        self._told_defaults = False

    @property
    def folder(self) -> Path:
        return self.experiment_dir / RECORD_FOLDER

    def __getstate__(self):
        return {**self.__dict__, "tracking": None}

    def setup(self, **info):
        """At the start of each fit (a resumed search too): the clock starts now, and the trials already on the
        record count for the progress line's best."""
        self._started = time.time()
        for path in sorted((self.folder / TRIALS_FOLDER).glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            self.records.setdefault(record.get("trial_id", path.stem), record)

    def _record(self, trial) -> dict[str, Any]:
        record = self.records.get(trial.trial_id)
        if record is None:
            path = self.folder / TRIALS_FOLDER / f"{trial.trial_id}.json"
            record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            record.setdefault("trial_id", trial.trial_id)
            record.setdefault("started", time.time())
            record.setdefault("failures", 0)
            record.setdefault("retries", [])
            self.records[trial.trial_id] = record
        record["config"] = {key: json_scalar(value) if not isinstance(value, (list, dict)) else value
                            for key, value in (trial.config or {}).items()}
        record["trial_dir"] = trial.path or trial.local_path
        return record

    def _write(self, record: dict[str, Any], row: dict[str, Any] | None = None) -> None:
        record["updated"] = time.time()
        write_json_atomic(self.folder / TRIALS_FOLDER / f"{record['trial_id']}.json", record)
        if getattr(self, "tracking", None) is not None:  # a recorder unpickled from an earlier version has none
            self.tracking.trial_changed(record, row)

    def _note_failures(self, trial, record: dict[str, Any], final: bool = False) -> None:
        """Every retry Tune made is on the record, whatever path told Tune (the trial's own exception calls
        ``on_trial_recover``; a lost actor or node may only show in ``trial.num_failures`` when it starts again).
        ``final``: the last failure ended the trial (it is counted, not retried)."""
        failures = int(getattr(trial, "num_failures", 0) or 0)
        while len(record["retries"]) < failures - (1 if final else 0):
            record["retries"].append({"failure": len(record["retries"]) + 1, "at": time.time(),
                                      "error": _last_line(self._error_text(trial)), "resumed_from_epoch": None})
        record["failures"] = max(int(record.get("failures", 0)), failures, len(record["retries"]))

    def on_trial_start(self, iteration, trials, trial, **info):
        record = self._record(trial)
        self._note_failures(trial, record)
        record["status"] = "RUNNING"
        self._write(record)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get(REPLAYED_KEY):  # a finished trial's final result, on the record already
            return
        if result.get(DEFAULTS_KEY) and not self._told_defaults:
            self._told_defaults = True
            warnings.warn(f"space: the trials declare {result[DEFAULTS_KEY]} with hparams.create, which the space does "
                          "not name: they stay at their defaults in every trial. Add them to space= to search them "
                          "too (space=None discovers every parameter)", UserWarning, stacklevel=2)
        record = self._record(trial)
        row = result_row(trial.trial_id, result)
        row["recorded_at"] = time.time()  # when the driver saw it: the clock of results.anytime(by='time')
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / HISTORY_FILENAME, "a", encoding="utf-8") as file:
            file.write(json.dumps(row) + "\n")
            file.flush()
        retries = record.get("retries") or []
        if retries and retries[-1].get("resumed_from_epoch") is None and "training_iteration" in row:
            # the first report after a retry: iterations continue from the checkpoint it resumed
            retries[-1]["resumed_from_epoch"] = max(0, int(row["training_iteration"]) - 1)
        record["status"] = "RUNNING"
        record["last_result"] = row
        record["iterations"] = row.get("training_iteration")
        self._write(record, row)

    def _never_started(self, trial) -> bool:
        """A trial ended before it ran (a spent budget ends the pending ones): it leaves no record."""
        return (trial.trial_id not in self.records
                and not (self.folder / TRIALS_FOLDER / f"{trial.trial_id}.json").is_file())

    def on_trial_complete(self, iteration, trials, trial, **info):
        if self._never_started(trial):
            return
        record = self._record(trial)
        if record.get("completed") and record.get("ended"):  # a finished trial Tune resumed: it replayed its result
            record["status"] = "TERMINATED"
            self._write(record)
            return
        finished = bool((record.get("last_result") or {}).get(FINAL_KEY))
        record["status"] = "TERMINATED"
        record["completed"] = finished
        record["stopped_early"] = not finished
        record["ended"] = time.time()
        self._write(record)

    def on_trial_recover(self, iteration, trials, trial, **info):
        record = self._record(trial)
        self._note_failures(trial, record)
        record["status"] = "RETRYING"
        record["last_error"] = self._error_text(trial)
        self._write(record)
        self._note_search_error(record["last_error"])

    def _note_search_error(self, text: str) -> None:
        """A trial failed on a mistake of the search's settings (a metric never reported): every other trial
        would fail the same way, so the search ends (see :class:`FinalResultStopper`) and the driver raises it."""
        if self.search_error is None and SEARCH_ERROR_NAME in text:
            line = next((line for line in reversed(text.splitlines()) if SEARCH_ERROR_NAME in line), "")
            self.search_error = line.split(f"{SEARCH_ERROR_NAME}: ", 1)[-1].strip() or _last_line(text)

    def on_trial_error(self, iteration, trials, trial, **info):
        record = self._record(trial)
        self._note_failures(trial, record, final=True)
        record["failures"] = max(int(record.get("failures", 0)), len(record["retries"]) + 1)
        record["status"] = "ERROR"
        text = self._error_text(trial)
        record["error"] = _last_line(text)
        record["traceback"] = text
        record["ended"] = time.time()
        self._write(record)
        self._note_search_error(text)
        if self.progress_every_s is not None and self.search_error is None:
            print(f"trial {trial.trial_id} failed: {record['error']}", flush=True)

    def on_experiment_end(self, trials, **info):
        for trial in trials:
            if self._never_started(trial):
                continue
            record = self._record(trial)
            if record.get("status") not in ("TERMINATED", "ERROR"):
                record["status"] = str(trial.status)
                self._write(record)
        self._print_progress(trials, final=True)

    def on_step_end(self, iteration, trials, **info):
        if self.progress_every_s is not None and time.time() - self._last_progress >= self.progress_every_s:
            self._print_progress(trials)

    def progress_line(self, trials) -> str:
        """``[12 s] 8 trials: 2 RUNNING, 5 TERMINATED, 1 ERROR | best loss 0.356 (trial ab12: lr=0.27, ...)``."""
        counts: dict[str, int] = {}
        for trial in trials:
            counts[str(trial.status)] = counts.get(str(trial.status), 0) + 1
        best = None
        for record in self.records.values():
            value = (record.get("last_result") or {}).get(self.metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                if best is None or (value < best[0] if self.mode == "min" else value > best[0]):
                    best = (value, record)
        line = (f"[{time.time() - self._started:.0f} s] {len(trials)} trials: "
                + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())))
        if best is not None:
            config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in best[1].get("config", {}).items())
            line += f" | best {self.metric} {best[0]:.4g} (trial {best[1]['trial_id']}: {config})"
        return line

    def _print_progress(self, trials, final: bool = False) -> None:
        if self.progress_every_s is None:
            return
        self._last_progress = time.time()
        print(("done " if final else "") + self.progress_line(trials), flush=True)

    @staticmethod
    def _error_text(trial) -> str:
        try:
            error_file = trial.error_file
            if error_file and Path(error_file).is_file():
                return Path(error_file).read_text(encoding="utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - the record must be written whatever Tune's error file holds
            pass
        return str(getattr(trial, "error_msg", "") or "unknown error (Tune wrote no error file)")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line.strip()
    return lines[-1].strip() if lines else ""
