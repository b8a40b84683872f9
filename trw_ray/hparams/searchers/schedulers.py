"""Ray Tune's FIFO and ASHA schedulers, handing a freed trial actor the newest pending trial instead of the oldest;
and :class:`BudgetScheduler`, any scheduler under a search's total budget of epochs.

With actor reuse, when a trial ends Tune gives its actor the trial its scheduler chooses next; FIFO (and ASHA,
which inherits FIFO's choice) choose the oldest pending trial. That trial is usually the one whose own actor got
resources first and is starting at that moment: Tune then stops that starting actor and starts another one for
the next trial, which is stopped in turn: with short trials the second actor never runs one and the search waits
at its end for an actor still starting (figures in benchmarks/README.md, part (c)). The newest pending trial
still waits for its resources, so choosing it only cancels its queued request.
"""

from __future__ import annotations

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler


def newest_pending_first(trials: list[Trial]) -> Trial | None:
    """The newest PENDING trial, else the oldest PAUSED one (FIFO's rule for paused trials), else None."""
    for trial in reversed(trials):
        if trial.status == Trial.PENDING:
            return trial
    for trial in trials:
        if trial.status == Trial.PAUSED:
            return trial
    return None


class _NewestPendingFirst:
    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        return newest_pending_first(tune_controller.get_trials())


class FIFOKeepingStartingActors(_NewestPendingFirst, FIFOScheduler):
    """Tune's FIFO scheduler (no early stopping) choosing the newest pending trial (see the module)."""


class ASHAKeepingStartingActors(_NewestPendingFirst, AsyncHyperBandScheduler):
    """Tune's ASHA scheduler choosing the newest pending trial (see the module); stopping rules unchanged."""


class BudgetScheduler(TrialScheduler):
    """Any Tune scheduler with a total budget (:class:`trw_ray.hparams.tuning.budget.SearchBudget`).

    Every result is counted; once the budget is spent, the trials that have not started and the paused ones are
    ended (a paused trial keeps the record of what it trained, as one a scheduler stopped; one never scheduled gets
    its trial folder name first, as Tune gives it when it schedules a trial), and nothing more is chosen to run.
    The decisions of the wrapped scheduler are unchanged.
    """

    def __init__(self, scheduler: TrialScheduler, budget):
        super().__init__()
        self.scheduler = scheduler
        self.budget = budget

    @property
    def metric(self):
        return self.scheduler.metric

    @property
    def supports_buffered_results(self) -> bool:
        return self.scheduler.supports_buffered_results

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return self.scheduler.set_search_properties(metric, mode, **spec)

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        self.scheduler.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self.scheduler.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        self.budget.observe(trial.trial_id, result)
        return self.scheduler.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        if result:  # a trial's final report reaches the stopper only, not on_trial_result
            self.budget.observe(trial.trial_id, result)
        self.scheduler.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self.scheduler.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        if not self.budget.spent:
            return self.scheduler.choose_trial_to_run(tune_controller)
        for trial in list(tune_controller.get_trials()):
            if trial.status in (Trial.PENDING, Trial.PAUSED):
                if not trial.storage.trial_dir_name:
                    # never scheduled (a searcher's newest): Tune's result grid reads every trial's folder, and
                    # without a name it raises once the fit has ended, after all the work is done
                    trial.init_local_path()
                tune_controller.stop_trial(trial)
        return None

    def debug_string(self) -> str:
        return f"{self.scheduler.debug_string()} | budget {self.budget.consumed}/{self.budget.max_total_epochs} epochs"

    def save(self, checkpoint_path: str) -> None:
        self.scheduler.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.scheduler.restore(checkpoint_path)
