"""Optuna's TPE as a Tune searcher that tells Optuna which trials a scheduler stopped early.

Ray Tune's ``OptunaSearch`` tells every trial that ends with a result as *complete* with its last value. Under a
scheduler (ASHA, HyperBand) a trial stopped after 1 epoch then counts as a finished trial whose objective is a
1-epoch validation loss, next to trials trained to the end. :class:`PruningAwareOptunaSearch` tells such a trial as
*pruned* instead, at the last epoch it reported: Optuna's TPE then ranks it the way it ranks trials its own pruners
stop (behind the complete ones, deeper trials first) — the semantics of Optuna's TPE with its Hyperband pruner.

A space of Tune domains (``tune.loguniform``, ...) is converted to Optuna's distributions here, as ``OptunaSearch``
would, without its warning that such a space should go to ``tune.Tuner(param_space=...)``: trw_ray builds the
space itself, the warning told users of ``search(algorithm='tpe')`` to change code they never wrote.
"""

from __future__ import annotations

import logging

from optuna.distributions import BaseDistribution
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from trw_ray.search_context import FINAL_KEY

logger = logging.getLogger(__name__)


class PruningAwareOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that tells a trial ending without its function's final report as pruned (see the module)."""

    def __init__(self, space=None, *args, **kwargs):
        if isinstance(space, dict) and space and not all(isinstance(value, BaseDistribution)
                                                         for value in space.values()):
            space = self.convert_search_space(space) or None
        super().__init__(space, *args, **kwargs)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        stopped_early = bool(result) and not error and not result.get(FINAL_KEY)
        if not stopped_early or trial_id in self._completed_trials or trial_id not in self._ot_trials:
            super().on_trial_complete(trial_id, result=result, error=error)
            return
        try:  # the last intermediate value (reported every epoch by on_trial_result) becomes its value
            self._ot_study.tell(self._ot_trials[trial_id], None, state=TrialState.PRUNED)
        except Exception as exc:  # noqa: BLE001 - as OptunaSearch: a refused tell must not end the search
            logger.warning("optuna refused the pruned trial %s: %s", trial_id, exc)
        self._completed_trials.add(trial_id)
