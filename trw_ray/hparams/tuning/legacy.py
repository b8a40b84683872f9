"""The seed's search API (TRW's ``HyperParametersOptimizerRandomSearchLocal``), kept working on Ray Tune."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trw_ray import checks
from trw_ray.hparams.tuning.driver import search

__all__ = ["HyperParametersOptimizerRandomSearchLocal"]


class HyperParametersOptimizerRandomSearchLocal:
    """The seed's random search, as a random search on Ray Tune (local Ray unless ``RAY_ADDRESS`` is set).

    Args:
        evaluate_hparams_fn: ``hparams -> loss | (loss, infos)``.
        repeat: number of trials.
        seed: seeds the configurations.
        resources_per_trial: as :func:`search`.

    Example (seed section 1.3.3)::

        random_search = trw.hparams.HyperParametersOptimizerRandomSearchLocal(evaluate_hparams, repeat=40)
        results = random_search.optimize(hparams_root)
    """

    def __init__(self, evaluate_hparams_fn: Callable, repeat: int = 40, seed: int | None = None,
                 resources_per_trial: Mapping[str, Any] | None = None, log_string: Callable | None = None):
        if not callable(evaluate_hparams_fn):
            raise TypeError(f"evaluate_hparams_fn: expected a function hparams -> loss; got {evaluate_hparams_fn!r}")
        checks.positive_int(repeat, "repeat")
        self.evaluate_hparams_fn = evaluate_hparams_fn
        self.repeat = repeat
        self.seed = seed
        self.resources_per_trial = resources_per_trial
        self.log_string = log_string or print

    def optimize(self, result_path: str | os.PathLike | None = None):
        """Runs the trials; their results go to ``result_path`` (an experiment folder; resumed if it exists)."""
        if result_path is None:
            storage, name = None, None
        else:
            result_path = Path(result_path).expanduser().resolve()
            storage, name = result_path.parent, result_path.name
        results = search(self.evaluate_hparams_fn, algorithm="random", num_samples=self.repeat, seed=self.seed,
                         resources_per_trial=self.resources_per_trial, storage_path=storage, name=name,
                         resume="auto", verbose=0)
        best = results.best()
        if best is not None:
            self.log_string(f"best trial {best['trial_id']}: loss={best['value']:.6g} config={best['config']}")
        return results
