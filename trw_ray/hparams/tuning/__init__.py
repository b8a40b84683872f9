"""The search driver on Ray Tune: :func:`search` and what it runs.

- :mod:`~.driver`: :func:`search`, from the arguments to Tune's run and back to the experiment's results;
  :mod:`~.settings` resolves each setting with one rule (the argument, else the experiment's previous record,
  else the space file, else the default);
- :mod:`~.resources`: what a trial asks of the cluster; :mod:`~.budget`: the total-epoch budget;
- :mod:`~.tune_run`: the Tune run itself; :mod:`~.recorder`: the Tune callback that records every trial's
  history; :mod:`~.trial`: the trainable that calls the user's function in the trial's process;
- :mod:`~.loop_reports`: what a user's own training loop calls (``report``, ``resume_state``, ``trial_epochs``);
- :mod:`~.legacy`: the seed's ``HyperParametersOptimizerRandomSearchLocal``.

Ray is imported when :func:`search` runs, never by importing this package.
"""

from trw_ray.hparams.tuning.driver import search
from trw_ray.hparams.tuning.legacy import HyperParametersOptimizerRandomSearchLocal
from trw_ray.hparams.tuning.loop_reports import report, resume_state, trial_epochs
from trw_ray.hparams.tuning.settings import resolve_settings

__all__ = ["HyperParametersOptimizerRandomSearchLocal", "report", "resolve_settings", "resume_state", "search",
           "trial_epochs"]
