"""Ray Tune's FIFO and ASHA schedulers, handing a freed trial actor the newest pending trial instead of the oldest.

With actor reuse, when a trial ends Tune gives its actor the trial its scheduler chooses next; FIFO (and ASHA,
which inherits FIFO's choice) choose the oldest pending trial. That trial is usually the one whose own actor got
resources first and is starting at that moment: Tune then stops that starting actor and starts another one for
the next trial, which is stopped in turn: with short trials the second actor never runs one and the search waits
at its end for an actor still starting (figures in benchmarks/README.md, part (c)). The newest pending trial
still waits for its resources, so choosing it only cancels its queued request.
"""

from __future__ import annotations

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler


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
