"""A search's total budget: the epochs all its trials may train together (``search(max_total_epochs=...)``).

Counted as Tune counts training: every report of a trial is one training iteration, one epoch for a Trainer trial
(a function that reports nothing counts one). Once the epochs reported by all trials reach the budget, the search
starts no trial and resumes no paused one; trials running at that moment train to their end (their work is not
thrown away), so a search consumes at most the budget plus what its running trials still had to train. No Ray here:
:mod:`trw_ray.hparams.searchers.schedulers` and :mod:`trw_ray.hparams.searchers.logic_searcher` apply it to Tune.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from trw_ray import checks, layout

__all__ = ["SearchBudget"]


class SearchBudget:
    """Epochs consumed by the trials of one search, against ``max_total_epochs``.

    Args:
        max_total_epochs: the budget (sum over trials of the epochs they train).
        experiment_dir: where the record lives: a resumed search counts what its earlier sessions trained (from
            ``trw_ray/history.jsonl``) and the budget's state is written to ``trw_ray/budget.json``.
    """

    def __init__(self, max_total_epochs: int, experiment_dir: str | Path | None = None):
        self.max_total_epochs = checks.positive_int(max_total_epochs, "max_total_epochs")
        self.experiment_dir = Path(experiment_dir) if experiment_dir is not None else None
        self.epochs_by_trial: dict[str, int] = {}
        self.spent_at: float | None = None
        self._loaded = False

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its scheduler: a restored one recounts from the record
        state = dict(self.__dict__)
        state.update(epochs_by_trial={}, spent_at=None, _loaded=False)
        return state

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.experiment_dir is None:
            return
        history = self.experiment_dir / layout.RECORD_FOLDER / layout.HISTORY_FILE
        if history.is_file():
            for line in history.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self._count(str(row.get("trial_id")), row.get("training_iteration"))
        saved = self.experiment_dir / layout.RECORD_FOLDER / layout.BUDGET_FILE
        if saved.is_file():
            self.spent_at = json.loads(saved.read_text(encoding="utf-8")).get("spent_at")

    def _count(self, trial_id: str, iteration: Any) -> None:
        if isinstance(iteration, (int, float)) and not isinstance(iteration, bool):
            self.epochs_by_trial[trial_id] = max(self.epochs_by_trial.get(trial_id, 0), int(iteration))

    @property
    def consumed(self) -> int:
        """Epochs reported by all trials so far."""
        self._load()
        return sum(self.epochs_by_trial.values())

    @property
    def spent(self) -> bool:
        self._load()
        return self.consumed >= self.max_total_epochs

    def observe(self, trial_id: str, result: dict[str, Any]) -> None:
        """Counts one reported result (its ``training_iteration``)."""
        self._load()
        was_spent = self.spent
        self._count(trial_id, result.get("training_iteration"))
        if self.spent and not was_spent:
            self.spent_at = time.time()
        if self.spent:
            self.save()

    def state(self) -> dict[str, Any]:
        return {"max_total_epochs": self.max_total_epochs, "consumed_epochs": self.consumed,
                "spent": self.spent, "spent_at": self.spent_at, "trials": len(self.epochs_by_trial)}

    def save(self) -> None:
        if self.experiment_dir is not None:
            from trw_ray.io import write_json_atomic

            write_json_atomic(self.experiment_dir / layout.RECORD_FOLDER / layout.BUDGET_FILE, self.state())
