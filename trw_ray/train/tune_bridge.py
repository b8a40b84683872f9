"""The Trainer inside a search: everything a trial reports to Ray Tune is decided here.

A search (``trw_ray.hparams.search``) activates a :class:`SearchContext` (``trw_ray.search_context``) around the
user's function; ``Trainer.fit`` asks :func:`attach_search` what to add, and trains as it would anywhere else:

- ``mode='trial'``: the run folder goes into the trial's directory (``<trial>/runs/``), training lasts the search's
  ``max_epochs`` when given, a checkpoint is restored before training (model, optimizers, schedulers, the training
  step's own state, history), the per-sample tables are written every epoch (added when the callbacks lack them),
  and :class:`CallbackTuneReport` reports every epoch. **A report** holds every metric of the epoch flattened as
  ``dataset/split/output/metric`` (see :func:`flatten_metrics`; a step's own metrics appear as
  ``dataset/train/step/<name>``), ``epoch`` (finished epochs) and, for the default metric ``loss``, the overall
  loss of the first evaluated split, with a checkpoint. The search's metric is what the user names: a key that is
  never reported is an error (:class:`MetricNotReportedError`) at the first epoch that evaluates. The last
  epoch's report is held back and sent by :func:`send_final_report` with what the user's function returns (a
  number as ``loss``, a dict under its keys), ``trw_final`` and the ``run_dir`` (so a scheduler cannot stop the
  trial between the two).
- ``mode='discovery'``: the Trainer builds datasets, model and optimizers in a temporary folder (so every
  ``hparams.create`` in ``model_fn``/``optimizers_fn`` runs), then stops with :class:`DiscoveryComplete`.

torch loads only when a checkpoint is written or read: a trial whose function never trains does not import it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from trw_ray import layout
from trw_ray.layout import TRAIN_SPLIT
from trw_ray.search_context import FINAL_KEY, DiscoveryComplete, SearchContext, activate, current
from trw_ray.train.callbacks.base import Callback, StopRun, TrainerContext

CHECKPOINT_FILENAME = layout.CHECKPOINT_STATE_FILE
DEFAULT_METRIC = "loss"  # what a number the function returns is reported as; the one metric with a stand-in
_BOOKKEEPING_KEYS = {"epoch", FINAL_KEY, "run_dir"}


class MetricNotReportedError(ValueError):
    """The search's ``metric`` is not among the values a trial reports (a misspelled or never reported name)."""


def check_metric_reported(metric: str, metrics: Mapping[str, Any], when: str) -> None:
    """Raises :class:`MetricNotReportedError` naming ``metric`` and the keys reported ``when`` unless it is one."""
    if metric in metrics:
        return
    keys = sorted(key for key in metrics if key not in _BOOKKEEPING_KEYS)
    raise MetricNotReportedError(
        f"metric: {metric!r} is not among the values the trial reports {when}: {keys}. Pass one of them as "
        f"search(metric=..., mode=...); a number the function returns is reported as {DEFAULT_METRIC!r}, a dict it "
        "returns under its keys")


def has_evaluation(entry: Mapping[str, Any]) -> bool:
    """Whether a history entry evaluated a split other than ``train`` (an epoch that only trained has not)."""
    return any(split != TRAIN_SPLIT for splits in entry.values() for split in splits)


def epoch_metrics(history: list[Mapping[str, Any]], metric: str, epoch: int) -> dict[str, Any]:
    """The report of the epoch that ends ``history``: its flattened metrics (:func:`flatten_metrics`), ``metric`` as
    of the last epoch that evaluated it when this one only trained, and ``epoch``."""
    metrics = flatten_metrics(history[-1], metric)
    if metric not in metrics:  # an epoch that only trained: repeat the last evaluated value
        last = evaluated_metric_value(history, metric)
        if last is not None:
            metrics[metric] = last
    metrics["epoch"] = epoch
    return metrics

__all__ = ["CHECKPOINT_FILENAME", "DEFAULT_METRIC", "CallbackResumeTrial", "CallbackTuneReport", "DiscoveryComplete",
           "MetricNotReportedError", "SearchAttachment", "SearchContext", "activate", "attach_search",
           "check_metric_reported", "current", "epoch_metrics", "evaluated_metric_value", "flatten_metrics",
           "flush_pending", "has_evaluation", "load_checkpoint_state", "restore_trainer_state", "send_final_report", "send_report",
           "trainer_state"]


def flatten_metrics(entry: Mapping[str, Any], metric: str) -> dict[str, float]:
    """One history entry as flat Tune metrics.

    Every value becomes ``dataset/split/output/metric`` (e.g. ``mnist/valid/softmax/accuracy`` or
    ``mnist/valid/overall_loss/loss``). When ``metric`` is ``'loss'`` (:data:`DEFAULT_METRIC`) it is added too: the
    ``overall_loss`` of the first evaluated split that is not ``train`` (for the MNIST datasets: ``mnist/valid``),
    or of ``train`` when nothing else was evaluated. Any other name is never made up: it is one of the keys or it is
    missing (see :func:`check_metric_reported`).
    """
    flat: dict[str, float] = {}
    for dataset, splits in entry.items():
        for split, outputs in splits.items():
            for output, metrics in outputs.items():
                for name, value in metrics.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        flat[f"{dataset}/{split}/{output}/{name}"] = float(value)
    if metric in flat or metric != DEFAULT_METRIC:
        return flat
    source = None
    for dataset, splits in entry.items():
        for split in splits:
            if split != TRAIN_SPLIT:
                source = f"{dataset}/{split}/overall_loss/loss"
                break
        if source:
            break
    if source is None and entry:
        dataset = next(iter(entry))
        source = f"{dataset}/{TRAIN_SPLIT}/overall_loss/loss"
    if source in flat:
        flat[metric] = flat[source]
    return flat


def evaluated_metric_value(history: list[Mapping[str, Any]], metric: str) -> float | None:
    """The metric of the last epoch that evaluated a non-train split (None when no epoch has)."""
    for entry in reversed(history):
        value = flatten_metrics(entry, metric).get(metric)
        if value is not None:
            return value
    return None


def trainer_state(context: TrainerContext) -> dict[str, Any]:
    """What a checkpoint holds: model, optimizers, schedulers, epoch, history, the step's state and the callbacks'
    ``callback_state`` (``weights_only``-loadable)."""
    return {
        "model": context.model.state_dict(),
        "optimizers": {name: optimizer.state_dict() for name, optimizer in context.optimizers.items()},
        "schedulers": {name: scheduler.state_dict() for name, scheduler in context.schedulers.items()
                       if hasattr(scheduler, "state_dict")},
        "epoch": context.epoch,
        "history": context.history,
        "learning_rates": context.learning_rates,
        "step": context.step.state_dict() if context.step is not None else {},
        "callback_state": dict(context.callback_state),
    }


def restore_trainer_state(context: TrainerContext, state: Mapping[str, Any]) -> None:
    """Loads a checkpoint into the context's model and optimizers.

    The optimizers keep this trial's hyper-parameters (learning rate, momentum...): a PBT trial that exploits
    another trial takes its weights and optimizer buffers, not its old learning rate.
    """
    try:
        context.model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise RuntimeError(
            "the checkpoint's model does not fit the model this trial built (architecture hyper-parameters differ "
            "from the checkpoint's — PBT must only mutate training hyper-parameters such as the learning rate): "
            f"{error}") from error
    for name, optimizer in context.optimizers.items():
        saved = state.get("optimizers", {}).get(name)
        if saved is None:
            continue
        own = [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]
        optimizer.load_state_dict(saved)
        for group, settings in zip(optimizer.param_groups, own, strict=True):
            group.update(settings)
    for name, scheduler in context.schedulers.items():
        saved = state.get("schedulers", {}).get(name)
        if saved is not None and hasattr(scheduler, "load_state_dict"):
            scheduler.load_state_dict(saved)
    if context.step is not None and state.get("step"):
        context.step.load_state_dict(state["step"])
    context.callback_state = dict(state.get("callback_state") or {})
    context.epoch = int(state.get("epoch", 0))
    context.history = list(state.get("history", []))
    context.learning_rates = list(state.get("learning_rates", []))


def load_checkpoint_state(checkpoint_dir: str | Path) -> dict[str, Any] | None:
    """The trainer state in a Tune checkpoint folder, or None when it holds none."""
    import torch

    path = Path(checkpoint_dir) / CHECKPOINT_FILENAME
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def send_report(metrics: Mapping[str, Any], state: Mapping[str, Any] | None) -> None:
    """``tune.report`` with a checkpoint folder holding ``state`` (when given). Without a state, torch is not
    imported: a trial whose function never uses torch does not pay its import (about 2 s per actor on 2 cores)."""
    from ray import tune

    if state is None:
        tune.report(dict(metrics))
        return
    import torch

    with tempfile.TemporaryDirectory(prefix="trw_ray_ckpt_") as folder:
        torch.save(dict(state), Path(folder) / CHECKPOINT_FILENAME)
        tune.report(dict(metrics), checkpoint=tune.Checkpoint.from_directory(folder))


def flush_pending(search: SearchContext) -> None:
    """Sends the held-back report of a finished ``fit`` (when a function trains more than once)."""
    if search.pending is not None:
        pending, search.pending = search.pending, None
        send_report(pending["metrics"], pending["state"])
        search.reports += 1


class CallbackTuneReport(Callback):
    """Per-epoch callback added by the Trainer inside a trial: reports metrics and a checkpoint to Ray Tune.

    The last epoch's report is held back in the search context; the search sends it with the function's result.
    """

    def __init__(self, search: SearchContext):
        super().__init__(strict=True)
        self.search = search

    def __call__(self, context: TrainerContext) -> None:
        if not context.history:
            return
        metrics = epoch_metrics(context.history, self.search.metric, context.epoch)
        if has_evaluation(context.history[-1]) and self.search.metric != DEFAULT_METRIC:
            check_metric_reported(self.search.metric, metrics, f"at epoch {context.epoch}")
        flush_pending(self.search)  # the held-back report of an earlier fit in the same trial
        self.search.pending = {"metrics": metrics, "state": trainer_state(context)}
        if not context.is_last_epoch:
            flush_pending(self.search)


class CallbackResumeTrial(Callback):
    """Pre-training callback of a trial: notes the run folder and restores the trial's checkpoint (consumed once)."""

    def __init__(self, search: SearchContext):
        super().__init__(strict=True)
        self.search = search

    def __call__(self, context: TrainerContext) -> None:
        self.search.run_dirs.append(str(context.run_dir))
        if self.search.checkpoint_state is not None:
            state, self.search.checkpoint_state = self.search.checkpoint_state, None
            restore_trainer_state(context, state)
            context.logger.info("resumed from the trial's checkpoint at epoch %d", context.epoch)


class DiscoveryStop(StopRun, DiscoveryComplete):
    """Ends a discovery run once model and optimizers exist."""


class CallbackEndDiscovery(Callback):
    def __init__(self):
        super().__init__(strict=True)

    def __call__(self, context: TrainerContext) -> None:
        raise DiscoveryStop("discovery: the model and optimizers exist, every hyper-parameter is declared")


class SearchAttachment:
    """What a search adds to one ``fit``: callbacks before training and after every epoch."""

    def __init__(self, search: SearchContext):
        self.search = search

    def pre_training_callbacks(self) -> list[Callback]:
        if self.search.mode == "discovery":
            return [CallbackEndDiscovery()]
        return [CallbackResumeTrial(self.search)]

    def per_epoch_callbacks(self, callbacks: list) -> list:
        """The run's per-epoch callbacks, then the per-sample tables (when missing) and the Tune report."""
        from trw_ray.train.callbacks.sample_tables import CallbackSampleTables

        if self.search.mode == "discovery":
            return list(callbacks)
        tables = [] if any(isinstance(c, CallbackSampleTables) for c in callbacks) else [CallbackSampleTables()]
        return [*callbacks, *tables, CallbackTuneReport(self.search)]


@contextlib.contextmanager
def attach_search(options: dict[str, Any]) -> Iterator[SearchAttachment | None]:
    """Inside a search, points ``options`` at the trial's folder (discovery: a temporary one, removed after) and
    its epoch budget, and yields what the search attaches to the run; outside a search yields None."""
    search = current()
    if search is None:
        yield None
        return
    workflow = options["workflow_options"]
    if search.mode == "discovery":
        previous = workflow.get("logging_directory"), workflow.get("console_log", True)
        with tempfile.TemporaryDirectory(prefix="trw_ray_discovery_") as folder:
            workflow["logging_directory"], workflow["console_log"] = folder, False
            try:
                yield SearchAttachment(search)
            finally:
                workflow["logging_directory"], workflow["console_log"] = previous
        return
    workflow["logging_directory"] = str(search.run_root)
    if search.max_epochs is not None:
        options["training_parameters"]["num_epochs"] = search.max_epochs
    yield SearchAttachment(search)


def send_final_report(search: SearchContext, value: float | None, values: Mapping[str, float] | None = None,
                      notes: Mapping[str, Any] | None = None) -> None:
    """The trial's last report: the held-back report of its last epoch (with its checkpoint), ``FINAL_KEY`` and the
    trial's last ``run_dir``, with what the function returned: a number ``value`` as ``'loss'``
    (:data:`DEFAULT_METRIC`), a dict as ``values`` under its own keys (which replace the epoch's values of the same
    names). The search's metric keeps the last epoch's value unless the function returned it. ``notes``: what the
    trial tells the search besides (e.g. ``trw_defaults``, the parameters it left at their defaults).

    Raises:
        MetricNotReportedError: the search's metric is in neither.
    """
    pending = search.pending or {"metrics": {}, "state": None}
    search.pending = None
    metrics = dict(pending["metrics"])
    if value is not None:
        metrics[DEFAULT_METRIC] = value
    metrics.update(values or {})
    check_metric_reported(search.metric, metrics, "when its function returned")
    metrics.update(notes or {})
    metrics[FINAL_KEY] = True
    if search.run_dirs:
        metrics["run_dir"] = search.run_dirs[-1]
    send_report(metrics, pending["state"])
