"""A Ray Tune ``Searcher`` driving one of the Ray-free :mod:`trw_ray.hparams.searchers` classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from trw_ray.checks import is_finite_number
from trw_ray.hparams.searchers.base import SearchLogic
from trw_ray.io import write_json_atomic


class LogicSearcher(Searcher):
    """Adapts a :class:`SearchLogic` to Tune: ``suggest`` / ``on_trial_complete``; state saved as JSON.

    Args:
        logic: the algorithm.
        metric, mode: given here because Tune passes them to a searcher only when ``param_space`` is not empty,
            and define-by-run searches have an empty one.
        max_concurrent: at most this many trials running at once (None: as many as resources allow).
    """

    def __init__(self, logic: SearchLogic, metric: str, mode: str, max_concurrent: int | None = None):
        super().__init__(metric=metric, mode=mode)
        self.logic = logic
        self.max_concurrent = max_concurrent
        self.live: set[str] = set()

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.max_concurrent and len(self.live) >= self.max_concurrent:
            return None
        config = self.logic.suggest(trial_id)
        if config is None:
            return Searcher.FINISHED
        self.live.add(trial_id)
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.live.discard(trial_id)
        value = None
        if result and not error:
            raw = result.get(self.metric)
            if is_finite_number(raw):
                value = float(raw)
        self.logic.observe(trial_id, value)

    def get_state(self) -> dict[str, Any]:
        return {"logic": self.logic.state_dict(), "live": sorted(self.live), "max_concurrent": self.max_concurrent}

    def set_state(self, state: dict[str, Any]) -> None:
        self.logic.load_state_dict(state["logic"])
        self.live = set(state["live"])
        self.max_concurrent = state["max_concurrent"]

    def save(self, checkpoint_path: str) -> None:
        write_json_atomic(Path(checkpoint_path), self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text(encoding="utf-8")))


class BudgetLimiter(Searcher):
    """Wraps a Tune searcher: once the search's budget is spent it proposes nothing more (the search ends when its
    running trials do); see :class:`trw_ray.hparams.tuning.budget.SearchBudget`."""

    def __init__(self, searcher: Searcher, budget):
        self.searcher = searcher
        self.budget = budget
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.budget.spent:
            return Searcher.FINISHED
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    # Tune saves a chain of wrappers as each wrapper's own state plus the innermost searcher's files (it follows
    # ``.searcher``); the budget recounts itself from the record on resume
    def get_state(self) -> dict:
        return {"max_total_epochs": self.budget.max_total_epochs}

    def set_state(self, state: dict) -> None:
        pass
