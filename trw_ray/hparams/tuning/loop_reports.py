"""Your own training loop inside a search: report each epoch, train for the trial's budget, resume from a pause.

The Trainer reports every epoch by itself (:mod:`trw_ray.train.tune_bridge`). A function with its own loop calls
:func:`report` once per epoch::

    def evaluate(hparams):
        lr = hparams.create('lr', trw.hparams.ContinuousPower(0.1, -4, 0))
        model, state = build(lr), trw.hparams.resume_state()       # None unless a scheduler paused this trial
        first = 0 if state is None else state['epoch']
        for epoch in range(first, trw.hparams.trial_epochs(default=10)):
            accuracy = train_one_epoch(model)
            trw.hparams.report({'accuracy': accuracy}, state={'epoch': epoch + 1, 'model': model.state_dict()})
        return {'accuracy': accuracy}

    trw.hparams.search(evaluate, metric='accuracy', mode='max', algorithm='asha', max_epochs=9)

What it does in a trial: the report goes to Ray Tune (schedulers such as ASHA and HyperBand decide on it) and into
the experiment's record, with ``epoch`` counted for you; the report of the last epoch of the budget
(``max_epochs``) is held back and sent with what the function returns, so a trial that trains its whole budget is
recorded as completed. The search's metric must be among the reported values (else
:class:`~trw_ray.train.tune_bridge.MetricNotReportedError` at the first report names what was reported). While the
space is discovered (no ``space=`` given) the function stops at its first report: only the code up to the first
epoch runs in the driver. Outside a search the calls do nothing (``report``), return ``default``
(``trial_epochs``) and None (``resume_state``), so the same function runs on its own.

``ray.tune.report`` works too (Tune's schedulers let a trial that reached ``max_epochs`` return); ``report`` adds
the epoch count, the metric check and the stop during discovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trw_ray import checks
from trw_ray.search_context import DiscoveryComplete, current

__all__ = ["DiscoveryAtFirstReport", "report", "resume_state", "trial_epochs"]

_LOOP_STATE_KEY = "own_loop"  # the checkpoint of an own loop: {'epoch': reported epochs, 'state': the user's}


class DiscoveryAtFirstReport(DiscoveryComplete):
    """Ends a discovery run at the loop's first report: every hyper-parameter it uses is declared by then."""


def trial_epochs(default: int) -> int:
    """How many epochs to train: the search's ``max_epochs`` inside a trial that has one, else ``default``."""
    checks.positive_int(default, "default")
    search = current()
    if search is None or search.mode != "trial" or search.max_epochs is None:
        return default
    return int(search.max_epochs)


def resume_state() -> Any:
    """The ``state`` of the last :func:`report` of this trial when it resumes (a scheduler paused it, PBT
    continues another trial, a retry after a failure), else None. The epochs counted continue from there."""
    search = current()
    if search is None or search.mode != "trial" or not search.checkpoint_state:
        return None
    saved = search.checkpoint_state.get(_LOOP_STATE_KEY)
    if saved is None:
        return None
    search.checkpoint_state = None
    search.loop_epoch = int(saved.get("epoch", 0))
    return saved.get("state")


def report(metrics: Mapping[str, Any], state: Mapping[str, Any] | None = None) -> None:
    """Reports one epoch of your own training loop to the search (see the module).

    Args:
        metrics: ``{name: number}`` of this epoch (tensors and numpy scalars are accepted).
        state: what to resume from (weights, optimizer state, your epoch...): tensors, numbers, strings, lists
            and dicts of them (saved with ``torch.save``, loaded with ``weights_only=True``). Given back by
            :func:`resume_state` when the trial resumes. None: the trial restarts from its first epoch if paused.

    Raises:
        ValueError: ``metrics`` is not a dict of finite numbers.
        MetricNotReportedError: the search's metric is not among ``metrics`` (a misspelled or missing name).
    """
    from trw_ray.hparams.tuning.trial import parse_returned

    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError(f"metrics: expected a non-empty dict {{name: number}}; got {metrics!r:.100}")
    values = parse_returned(dict(metrics), "metrics").values
    if state is not None and not isinstance(state, Mapping):
        raise ValueError(f"state: expected None or a dict (weights, optimizer state, epoch...); got "
                         f"{type(state).__name__}")
    search = current()
    if search is None:
        return
    if search.mode == "discovery":
        raise DiscoveryAtFirstReport("discovery: the loop reports its first epoch; every hyper-parameter is declared")
    from trw_ray.train.tune_bridge import DEFAULT_METRIC, check_metric_reported, flush_pending

    search.loop_epoch += 1
    values["epoch"] = search.loop_epoch
    if search.metric != DEFAULT_METRIC:
        check_metric_reported(search.metric, values, f"at epoch {search.loop_epoch}")
    checkpoint = None if state is None else {_LOOP_STATE_KEY: {"epoch": search.loop_epoch, "state": dict(state)}}
    flush_pending(search)
    search.pending = {"metrics": values, "state": checkpoint}
    last = search.max_epochs is not None and search.loop_epoch >= search.max_epochs
    if not last:
        flush_pending(search)
