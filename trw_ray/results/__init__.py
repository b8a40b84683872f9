"""Reading search experiments without Ray: trials, histories, the best trial, checkpoints and models.

Example::

    results = trw_ray.results.load('~/trw_ray_logs/searches/evaluate_hparams_random_20261128-101500')
    results.trials()            # one row per trial: status, config/..., last/<metric>, best/<metric>, epochs, error
    results.history()           # every reported epoch of every trial
    results.best()              # {'trial_id', 'value', 'config', 'checkpoint', 'run_dir', ...}
    model, _ = results.load_model()
"""

from trw_ray.results.experiment import ExperimentResults, load

__all__ = ["ExperimentResults", "load"]
