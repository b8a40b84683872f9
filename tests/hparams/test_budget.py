"""The total budget of a search: epochs counted per trial, a resumed search recounts from its record (no Ray); the
scheduler that applies it ending Tune's trials (the last test, on the session's local Ray)."""

from __future__ import annotations

import json

import pytest

from trw_ray import layout
from trw_ray.hparams.tuning.budget import SearchBudget


def test_the_budget_counts_each_trials_epochs_once_and_records_when_it_was_spent(tmp_path):
    budget = SearchBudget(5, tmp_path)
    budget.observe("a", {"training_iteration": 1})
    budget.observe("a", {"training_iteration": 2})
    budget.observe("b", {"training_iteration": 1})
    budget.observe("a", {"training_iteration": 2})  # a resumed trial reporting its epoch again
    assert budget.consumed == 3 and not budget.spent and budget.spent_at is None
    budget.observe("b", {"training_iteration": 2})
    budget.observe("c", {"training_iteration": 1})
    assert budget.spent and budget.consumed == 5
    saved = json.loads((tmp_path / layout.RECORD_FOLDER / layout.BUDGET_FILE).read_text())
    assert saved["spent"] and saved["consumed_epochs"] == 5 and saved["spent_at"] == budget.spent_at


def test_a_resumed_search_recounts_what_its_earlier_sessions_trained(tmp_path):
    import pickle

    history = tmp_path / layout.RECORD_FOLDER / layout.HISTORY_FILE
    history.parent.mkdir(parents=True)
    history.write_text("".join(json.dumps({"trial_id": t, "training_iteration": i}) + "\n"
                               for t, i in (("a", 1), ("a", 2), ("b", 1))) + "{not json\n")
    budget = pickle.loads(pickle.dumps(SearchBudget(4, tmp_path)))  # as Tune restores its scheduler
    assert budget.consumed == 3 and not budget.spent
    budget.observe("b", {"training_iteration": 2})
    assert budget.spent


def test_a_bad_budget_names_the_argument():
    with pytest.raises(ValueError, match="max_total_epochs: expected an integer >= 1; got 0"):
        SearchBudget(0)


def test_a_spent_budget_ends_a_trial_tune_never_scheduled_with_its_folder_named(ray_local, tmp_path):
    # a searcher's newest trial can still be PENDING, never given an actor, when the budget is spent: Tune's result
    # grid reads trial.path of every trial at the end of the fit, which raised for such a trial (TPE + HyperBand)
    from ray.train._internal.storage import StorageContext
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import FIFOScheduler

    from trw_ray.hparams.searchers.schedulers import BudgetScheduler

    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="budget")
    never_scheduled = Trial("trainable", config={}, storage=storage, stub=True)
    assert never_scheduled.storage.trial_dir_name is None

    class Controller:
        stopped = []

        def get_trials(self):
            return [never_scheduled]

        def stop_trial(self, trial):
            self.stopped.append(trial)
            trial.set_status(Trial.TERMINATED)

    budget = SearchBudget(3)
    budget.observe("other", {"training_iteration": 3})
    scheduler = BudgetScheduler(FIFOScheduler(), budget)
    assert scheduler.choose_trial_to_run(Controller()) is None
    assert Controller.stopped == [never_scheduled] and never_scheduled.status == Trial.TERMINATED
    assert never_scheduled.path.endswith(never_scheduled.storage.trial_dir_name)
