"""Feeding trackers from the driver without ever slowing or failing the search.

Each tracker has a thread of its own. The search's recorder hands :meth:`TrackingSync.trial_changed` every trial
update (it only stores it: the recorder never waits on a tracker); the thread passes what is pending to the
tracker. When a call fails (a tracking server down or slow), the data stays pending and the call is retried
with growing pauses (up to ``RETRY_MAX_S``); nothing is dropped while the search runs. At the end
:meth:`TrackingSync.finish` gives each tracker ``timeout_s`` to catch up and returns one message per tracker that
could not: the search's record is complete anyway, and ``trw-ray export`` logs the rest later.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from trw_ray import layout
from trw_ray.tracking.base import Tracker

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
#: at the end, a tracker whose last call failed gets this long (at most) to recover
FAILING_GRACE_S = 3.0


class _Pending:
    """What one tracker has not logged yet: per trial, its newest record and the results since the last success."""

    def __init__(self):
        self.records: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.started: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None


class _TrackerThread:
    def __init__(self, tracker: Tracker, experiment_dir: Path):
        self.tracker, self.experiment_dir = tracker, experiment_dir
        self.pending = _Pending()
        self.lock = threading.Condition()
        self.closing = False
        self.deadline = float("inf")
        self.started_ok = False
        self.failures = 0
        self.last_failed = False
        self.first_error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"trw_ray-tracking-{tracker.name}", daemon=True)
        concurrency = int(getattr(tracker, "concurrency", 1) or 1)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"trw_ray-tracking-{tracker.name}") \
            if concurrency > 1 else None

    def _note_failure(self, error: BaseException) -> None:
        self.failures += 1
        self.last_failed = True
        if self.first_error is None:
            self.first_error = f"{type(error).__name__}: {str(error)[:300]}"

    def _work(self) -> bool:
        """One pass over what is pending; False when a call failed."""
        ok = self._pass()
        if ok:
            self.last_failed = False
        return ok

    def _pass(self) -> bool:
        with self.lock:
            settings = self.pending.started
        if not self.started_ok and settings is not None:
            try:
                self.tracker.start_search(self.experiment_dir, settings)
                self.started_ok = True
            except Exception as error:  # noqa: BLE001 - retried; the search goes on
                self._note_failure(error)
                return False
        if not self.started_ok:
            return True
        with self.lock:
            trial_ids = list(self.pending.records)
        if self.pool is None or len(trial_ids) == 1:
            if not all(self._log(trial_id) for trial_id in trial_ids):  # stops at the first failure
                return False
        elif not all(list(self.pool.map(self._log, trial_ids))):
            return False
        with self.lock:
            summary, done = self.pending.summary, not self.pending.records
        if summary is not None and done:
            try:
                self.tracker.end_search(summary)
                with self.lock:
                    self.pending.summary = None
            except Exception as error:  # noqa: BLE001 - retried until finish's deadline
                self._note_failure(error)
                return False
        return True

    def _log(self, trial_id: str) -> bool:
        """Hands one trial's pending update to the tracker; on failure puts it back (False)."""
        with self.lock:
            record = self.pending.records.pop(trial_id, None)
            rows = self.pending.rows.pop(trial_id, [])
        if record is None:
            return True
        try:
            self.tracker.log_trial(record, rows)
            return True
        except Exception as error:  # noqa: BLE001 - kept pending and retried
            with self.lock:
                self.pending.records.setdefault(trial_id, record)
                self.pending.rows[trial_id] = rows + self.pending.rows.get(trial_id, [])
                self._note_failure(error)
            return False

    def idle_locked(self) -> bool:
        """Everything logged (called with the lock held)."""
        return self.started_ok and not self.pending.records and self.pending.summary is None

    def _run(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            ok = self._work()
            with self.lock:
                if self.closing and (self.idle_locked() or time.monotonic() >= self.deadline):
                    return
                if not ok:
                    left = self.deadline - time.monotonic() if self.closing else pause
                    self.lock.wait(timeout=max(0.0, min(pause, left)))
                    pause = min(pause * 2, RETRY_MAX_S)
                    continue
                pause = RETRY_FIRST_S
                if not self.started_ok or (not self.pending.records and self.pending.summary is None):
                    self.lock.wait(timeout=5.0)  # woken by the next update


class TrackingSync:
    """Passes a search's record to ``trackers`` in the background (see the module doc)."""

    def __init__(self, trackers: list[Tracker], experiment_dir: str | Path):
        self.experiment_dir = Path(experiment_dir)
        self.threads = [_TrackerThread(tracker, self.experiment_dir) for tracker in trackers]
        for worker in self.threads:
            worker.thread.start()

    def start(self, settings: dict[str, Any]) -> None:
        for worker in self.threads:
            with worker.lock:
                worker.pending.started = dict(settings)
                worker.lock.notify()

    def catch_up(self) -> None:
        """Hands the trackers every trial already on the record with all its results (a resumed search: what the
        killed driver's trackers had not logged yet; each tracker skips what it has)."""
        from trw_ray.results import load

        results = load(self.experiment_dir)
        rows_of: dict[str, list[dict[str, Any]]] = {}
        for row in results.history_rows():
            rows_of.setdefault(row.get("trial_id"), []).append(row)
        for record in results.records():
            for row in rows_of.get(record["trial_id"], []) or [None]:
                self.trial_changed(record, row)

    def trial_changed(self, record: dict[str, Any], row: dict[str, Any] | None = None) -> None:
        """A trial's record changed (``row``: the result it just reported). Never blocks on a tracker."""
        trial_id = record["trial_id"]
        snapshot = {**record, "retries": list(record.get("retries") or [])}
        for worker in self.threads:
            with worker.lock:
                worker.pending.records[trial_id] = snapshot
                if row is not None:
                    worker.pending.rows.setdefault(trial_id, []).append(dict(row))
                worker.lock.notify()

    def finish(self, summary: dict[str, Any], timeout_s: float = 30.0) -> list[str]:
        """Ends the search for every tracker, waiting at most ``timeout_s`` for them to catch up; returns one message
        per tracker that could not log everything (empty: all logged)."""
        deadline = time.monotonic() + timeout_s
        for worker in self.threads:
            with worker.lock:
                worker.pending.summary = dict(summary)
                worker.closing = True
                worker.deadline = min(deadline, time.monotonic() + FAILING_GRACE_S) if worker.last_failed else deadline
                worker.lock.notify()
        problems = []
        for worker in self.threads:
            worker.thread.join(timeout=max(0.0, worker.deadline - time.monotonic()) + 1.0)
            with worker.lock:
                left = len(worker.pending.records)
                complete = worker.idle_locked()
                worker.closing, worker.deadline = True, 0.0  # a thread still retrying stops at its next pass
            if not complete:
                problems.append(f"{worker.tracker.name}: {left} trial(s) not fully logged"
                                + (f" ({worker.failures} failed call(s); first: {worker.first_error})"
                                   if worker.first_error else "")
                                + f"; the record is complete: `trw-ray export {worker.tracker.name} "
                                  f"{self.experiment_dir}` logs the rest")
            elif worker.failures:
                problems.append(f"{worker.tracker.name}: {worker.failures} call(s) failed and were retried "
                                f"successfully (first: {worker.first_error})")
            try:
                worker.tracker.close()
            except Exception:  # noqa: BLE001 - closing never fails the search
                pass
            if worker.pool is not None:
                worker.pool.shutdown(wait=False, cancel_futures=True)
        return problems


@contextlib.contextmanager
def tracking_finished(sync: TrackingSync, experiment_dir: Path, timeout_s: float = 30.0):
    """After the fit (also when it fails): the trackers get the search's end and what they lack, within
    ``timeout_s``; what they could not log is said once, here and in ``search.json``."""
    try:
        yield
    finally:
        from trw_ray.results import load

        try:
            best = load(experiment_dir).best()
        except Exception:  # noqa: BLE001 - a record without a result still ends the trackers
            best = None
        problems = sync.finish({"best": best, "report": None}, timeout_s)
        if problems:
            from trw_ray.io import write_json_atomic

            path = experiment_dir / layout.RECORD_FOLDER / layout.SEARCH_FILE
            settings = json.loads(path.read_text(encoding="utf-8"))
            settings.setdefault("tracking_problems", []).extend(problems)
            write_json_atomic(path, settings)
            warnings.warn("tracking: " + "; ".join(problems), UserWarning, stacklevel=3)
