"""DARTS as Ray Tune trials: each trial trains one supernet (its own seed and settings) and returns the genotype it
derives; a second stage retrains the best genotypes from scratch with several seeds and ranks them.

Example (two NB-201 supernets on MNIST in parallel, then the best two cells retrained with three seeds each)::

    results = trw_ray.nas.darts_search('trw_ray.nas.inputs:mnist_inputs', space='nb201', num_samples=2, epochs=10,
                                       seed=0, settings={'width': 8}, retrain_top_k=2, retrain_seeds=3)
    print(results.trials()[['config/seed', 'result/genotype', 'last/loss']])
    print(results.ranking)       # genotype, mean and spread of the retrained test accuracy, seeds

Pieces usable alone: :func:`bilevel_split` (halves the training split), :func:`darts_optimizers_fn` (SGD with a
cosine schedule on the supernet's weights only), :func:`run_darts` (one supernet search with the Trainer, outside
any search), :func:`evaluate_darts` / :func:`evaluate_genotype` (the trainables), :func:`retrain` and
:func:`rank_retrained`. The registry algorithm ``darts`` gives trial ``i`` the seed ``seed + i`` and samples the other
searchable settings at random.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trw_ray import checks, layout
from trw_ray.hparams.searchers import SeedSweep  # noqa: F401  (its earlier home)
from trw_ray.hparams.space.params import DiscreteInteger, Param
from trw_ray.layout import TRAIN_SPLIT
from trw_ray.nas.bilevel import ARCH_SPLIT, ORDERS, bilevel_split  # noqa: F401  (ORDERS: its earlier home)
from trw_ray.nas.genotypes import get_space
from trw_ray.nas.inputs import dataset_shape, resolve_inputs, split_accuracy
from trw_ray.nas.retraining import (  # noqa: F401  (the retraining names: their earlier home)
    DEFAULT_RETRAIN_SETTINGS,
    MAX_SEED,
    check_settings,
    darts_optimizers_fn,
    declare_settings,
    evaluate_genotype,
    rank_retrained,
    retrain,
)
from trw_ray.results.experiment import ExperimentResults

#: the settings of one supernet search (``darts_search(settings=...)`` overrides them; a Param makes one searchable)
DEFAULT_SETTINGS: dict[str, Any] = {
    "width": 8, "depth": 1, "partial_channels": 1, "order": "first", "arch_learning_rate": 3e-4,
    "arch_weight_decay": 1e-3, "learning_rate": 0.025, "min_learning_rate": 1e-3, "momentum": 0.9,
    "weight_decay": 3e-4, "aux_skip": 0.0, "free_op_dropout": 0.0, "warmup_epochs": 0, "arch_fraction": 0.5,
}
__all__ = ["DEFAULT_RETRAIN_SETTINGS", "DEFAULT_SETTINGS", "DartsSearchResults", "SeedSweep", "bilevel_split",
           "darts_optimizers_fn", "darts_search", "evaluate_darts", "evaluate_genotype", "rank_retrained", "retrain",
           "run_darts"]


# ---------------------------------------------------------------------------------------------------- data

# ---------------------------------------------------------------------------------------------------- one search

def run_darts(inputs_fn: Callable | str, space: str = "nb201", epochs: int = 10, seed: int = 0,
              settings: Mapping[str, Any] | None = None, guard: bool = True, max_parameter_free: int | None = None,
              guard_start_epoch: int = 1, inputs_kwargs: Mapping[str, Any] | None = None,
              logging_directory: str | os.PathLike | None = None, device: str | None = None,
              run_prefix: str = "darts", callbacks: bool = False) -> dict[str, Any]:
    """One supernet search with the Trainer (inside a search trial, in the trial's folder); returns its result.

    Args:
        inputs_fn: ``() -> {dataset: {split: sequence}}`` (or ``'module:function'``, called with ``inputs_kwargs``);
            its ``train`` split is halved by :func:`bilevel_split` unless the datasets already hold an ``arch`` split.
        space: ``'nb201'`` or ``'darts'``.
        epochs: epochs of the supernet (a search's ``max_epochs`` overrides it inside a trial).
        seed: seeds the supernet's initialisation and the weights' batches (the split stays the same).
        settings: :data:`DEFAULT_SETTINGS` overrides (plain values).
        guard, max_parameter_free, guard_start_epoch: the collapse guard (:class:`~trw_ray.nas.guard.CollapseGuard`).
        callbacks: also write the Trainer's full reports (default: epoch summary, the architecture report, index).

    Returns:
        ``genotype`` (the string), ``loss`` and ``accuracy`` of the supernet on the first evaluated split,
        ``collapsed``, ``guard_stopped``, ``stopped_at_epoch``, ``epoch`` (of the chosen genotype),
        ``parameter_free``, ``epochs``, ``seconds_per_epoch``, ``run_dir``.
    """
    from trw_ray import train
    from trw_ray.nas.architect import ArchitectStep
    from trw_ray.nas.guard import CollapseGuard
    from trw_ray.nas.records import CallbackArchitecture
    from trw_ray.nas.supernet import Supernet

    cell_space = get_space(space)
    checks.positive_int(epochs, "epochs")
    settings = check_settings(settings, DEFAULT_SETTINGS, "settings")
    for name, value in settings.items():
        if isinstance(value, Param):
            raise TypeError(f"settings: {name!r} is a Param; run_darts takes plain values (darts_search searches)")
    # the architecture does not move during its warm-up: nothing to judge before it has trained one epoch
    collapse_guard = CollapseGuard(cell_space.name, max_parameter_free,
                                   max(guard_start_epoch, settings["warmup_epochs"] + 1), enabled=bool(guard))
    loader = resolve_inputs(inputs_fn, inputs_kwargs)
    datasets_holder: dict[str, Any] = {}

    def inputs():
        datasets = loader()
        if not all(ARCH_SPLIT in splits for splits in datasets.values()):
            datasets = bilevel_split(datasets, fraction=settings["arch_fraction"])
        datasets_holder["datasets"] = datasets
        return datasets

    options = train.create_default_options(num_epochs=epochs, device=device, progress_bar=False)
    options["training_parameters"]["seed"] = int(seed)
    options["workflow_options"]["console_log"] = False
    if logging_directory is not None:
        options["workflow_options"]["logging_directory"] = str(logging_directory)
    step = functools.partial(ArchitectStep, order=settings["order"], arch_learning_rate=settings["arch_learning_rate"],
                             arch_weight_decay=settings["arch_weight_decay"], aux_skip=settings["aux_skip"],
                             warmup_epochs=settings["warmup_epochs"])
    architecture = CallbackArchitecture(collapse_guard)

    def per_epoch():
        if callbacks:
            return [*train.callbacks.default_per_epoch_callbacks(), architecture]
        return [train.callbacks.CallbackEpochSummary(), architecture]

    def post_training():
        if callbacks:
            return [c for c in train.callbacks.default_post_training_callbacks()
                    if type(c).__name__ != "CallbackExportOnnx"]  # a supernet is searched, not deployed
        return [train.callbacks.CallbackBestHistory(), train.callbacks.CallbackReportIndex()]

    def model_fn(options):
        datasets = datasets_holder["datasets"]
        classes, channels = dataset_shape(datasets)
        net = Supernet(cell_space.name, num_classes=classes, in_channels=channels,
                       width=settings["width"], depth=settings["depth"], partial_channels=settings["partial_channels"])
        net.set_free_op_dropout(settings["free_op_dropout"])
        return net

    def optimizers_fn(datasets, model):
        return darts_optimizers_fn(datasets, model, settings["learning_rate"], settings["momentum"],
                                   settings["weight_decay"], options["training_parameters"]["num_epochs"],
                                   settings["min_learning_rate"])

    trainer = train.Trainer(callbacks_per_epoch_fn=per_epoch, callbacks_post_training_fn=post_training, step_fn=step)
    started = time.perf_counter()
    model, results = trainer.fit(options, inputs_fn=inputs, model_fn=model_fn, optimizers_fn=optimizers_fn,
                                 run_prefix=run_prefix)
    elapsed = time.perf_counter() - started
    history = results["history"]
    record = Path(results["run_dir"]) / layout.ARCHITECTURE_FOLDER / layout.ARCHITECTURE_HISTORY_FILE
    chosen = dict(json.loads(record.read_text(encoding="utf-8")).get("chosen") or {}) if record.is_file() else {}
    if not chosen:
        raise RuntimeError("run_darts: the architecture record is missing (CallbackArchitecture did not run)")
    loss, accuracy = _first_evaluated(history[-1] if history else {})
    from trw_ray.nas.cell_space import canonical_genotype

    return {"genotype": chosen["genotype"], "canonical": canonical_genotype(chosen["genotype"]), "loss": loss,
            "accuracy": accuracy, "collapsed": chosen["collapsed"],
            "guard_stopped": chosen["guard_stopped"], "stopped_at_epoch": chosen["stopped_at_epoch"],
            "epoch": chosen["epoch"], "parameter_free": chosen["parameter_free"],
            "final_genotype": chosen["final_genotype"], "epochs": len(history),
            "seconds_per_epoch": elapsed / max(1, len(history)), "run_dir": results["run_dir"], "space": cell_space.name}


def _first_evaluated(entry: Mapping[str, Any], skip: tuple[str, ...] = (TRAIN_SPLIT, ARCH_SPLIT)) -> tuple[float, float]:
    for splits in entry.values():
        for split, outputs in splits.items():
            if split in skip:
                continue
            loss = outputs.get("overall_loss", {}).get("loss")
            accuracy = split_accuracy(outputs)
            if loss is not None:
                return float(loss), float(accuracy)
    return math.nan, math.nan


# ---------------------------------------------------------------------------------------------------- trainables

def evaluate_darts(hparams, inputs_fn: Callable | str, space: str = "nb201", epochs: int = 10,
                   settings: Mapping[str, Any] | None = None, guard: bool = True,
                   max_parameter_free: int | None = None, guard_start_epoch: int = 1,
                   inputs_kwargs: Mapping[str, Any] | None = None, callbacks: bool = False):
    """The trainable of a DARTS trial: one :func:`run_darts` with the trial's ``seed`` and settings; returns the
    supernet's loss on the first evaluated split and the result (``genotype``...), which the results API shows as
    ``result/<name>`` columns."""
    seed = hparams.create("seed", DiscreteInteger(0, 0, MAX_SEED))
    chosen = declare_settings(hparams, check_settings(settings, DEFAULT_SETTINGS, "settings"))
    result = run_darts(inputs_fn, space=space, epochs=epochs, seed=seed, settings=chosen, guard=guard,
                       max_parameter_free=max_parameter_free, guard_start_epoch=guard_start_epoch,
                       inputs_kwargs=inputs_kwargs, callbacks=callbacks)
    loss = result["loss"]
    if not math.isfinite(loss):
        raise ValueError(f"run_darts: no evaluated split besides {TRAIN_SPLIT!r}/{ARCH_SPLIT!r} gave a loss; add a "
                         "'valid' split to the datasets")
    return loss, {key: value for key, value in result.items() if key != "loss"}


# ---------------------------------------------------------------------------------------------------- the seeds

# SeedSweep and the ``darts`` algorithm are registered with the built-in algorithms (trw_ray.hparams), so that
# ``trw-ray search --algorithm darts`` finds them without importing torch; imported here as before.


# ---------------------------------------------------------------------------------------------------- the driver

class DartsSearchResults(ExperimentResults):
    """What :func:`darts_search` returns: the supernet trials as :class:`trw_ray.results.ExperimentResults`
    (``trials()`` has ``result/genotype``, ``result/collapsed``, ``result/guard_stopped``...; ``history()``,
    ``best()`` and ``architectures()`` as for every search), with the retraining stage beside them.

    Attributes:
        retrain: the retraining trials (an ``ExperimentResults``; None without ``retrain_top_k``).
        ranking: one row per retrained genotype, best first: ``genotype``, ``accuracy_mean``, ``accuracy_std``,
            ``loss_mean``, ``loss_std``, ``seeds``, ``search_trials``, ``search_rank`` (None without retraining).
        search: the supernet trials: this object itself (the earlier attribute).
    """

    def __init__(self, search: ExperimentResults | str | os.PathLike, retrain: ExperimentResults | None = None,
                 ranking: Any = None):
        super().__init__(search.path if isinstance(search, ExperimentResults) else search)
        self.retrain = retrain
        self.ranking = ranking

    @property
    def search(self) -> DartsSearchResults:
        return self

    def __repr__(self) -> str:
        retrained = f", retrained={len(self.ranking)} genotypes" if self.ranking is not None else ""
        return f"DartsSearchResults({str(self.path)!r}{retrained})"

    def genotypes(self):
        """The search trials' derived genotypes with their seed, supernet loss and guard outcome."""
        trials = self.trials()
        columns = [c for c in trials.columns if c.startswith("result/") or c in ("trial_id", "status", "config/seed")
                   or c.startswith("last/")]
        return trials[columns]


def _search_order(trials, metric_column: str):
    """Distinct genotypes of completed search trials, best supernet loss first, with how many trials derived each."""
    if "result/genotype" not in trials:
        return []
    completed = trials[trials["completed"] & trials["result/genotype"].notna()]
    best = completed.groupby("result/genotype")[metric_column].agg(["min", "count"]).sort_values("min")
    return [(genotype, int(row["count"])) for genotype, row in best.iterrows()]


def darts_search(inputs_fn: Callable | str, space: str = "nb201", num_samples: int = 4, epochs: int = 10,
                 seed: int | None = 0, settings: Mapping[str, Any] | None = None, guard: bool = True,
                 max_parameter_free: int | None = None, guard_start_epoch: int = 1,
                 inputs_kwargs: Mapping[str, Any] | None = None, retrain_top_k: int = 0, retrain_seeds: int = 3,
                 retrain_epochs: int | None = None, retrain_settings: Mapping[str, Any] | None = None,
                 resources_per_trial: Mapping[str, Any] | None = None, storage_path: str | os.PathLike | None = None,
                 name: str | None = None, algorithm: str = "darts", algorithm_options: Mapping[str, Any] | None = None,
                 callbacks: bool = False, **search_options) -> DartsSearchResults:
    """DARTS supernets as Ray Tune trials, then (``retrain_top_k``) the best derived genotypes retrained and ranked.

    Args:
        inputs_fn: ``() -> datasets`` or ``'module:function'`` (e.g. ``'trw_ray.nas.inputs:fashion_mnist_inputs'``),
            called with ``inputs_kwargs`` in each trial; a ``train`` split (halved for the architect), a ``valid``
            split (the supernet's metric) and for retraining a ``test`` split.
        space: ``'nb201'`` or ``'darts'``.
        num_samples: supernet trials (each its own seed: ``seed + i`` with the ``darts`` algorithm).
        epochs: epochs of each supernet (the trial budget schedulers see as ``max_epochs``).
        seed: the search's seed (the seeds of the trials, and of every random setting).
        settings: overrides of :data:`DEFAULT_SETTINGS`; a Param (``DiscreteValue``, ``ContinuousPower``...) makes a
            setting searchable, e.g. ``{'arch_learning_rate': ContinuousPower(3e-4, -4, -2)}``.
        guard, max_parameter_free, guard_start_epoch: the collapse guard's early stop (on by default, see
            :mod:`trw_ray.nas.guard`); ``settings={'aux_skip': 1.0}`` adds DARTS-' auxiliary skip (off by default:
            measured, it drove the cells to pooling, see :mod:`trw_ray.nas.guard`).
        retrain_top_k: retrain the k best distinct genotypes (by the supernet's loss) from scratch; 0: none.
        retrain_seeds, retrain_epochs, retrain_settings: the retraining (seeds per genotype, epochs (default
            ``epochs``), overrides of :data:`DEFAULT_RETRAIN_SETTINGS`).
        resources_per_trial, storage_path, name, algorithm, algorithm_options, search_options: as
            :func:`trw_ray.hparams.search` (``max_concurrent``, ``address``, ``verbose``, ``max_failures``...). The
            retraining experiment is named ``<name>_retrain``.
        callbacks: every trial writes the Trainer's full reports.

    Returns:
        :class:`DartsSearchResults`.
    """
    from trw_ray.hparams.tuning.driver import search

    cell_space = get_space(space)
    checks.positive_int(num_samples, "num_samples")
    checks.positive_int(epochs, "epochs")
    checks.positive_int(retrain_top_k, "retrain_top_k", 0)
    checks.positive_int(retrain_seeds, "retrain_seeds")
    if retrain_epochs is not None:
        checks.positive_int(retrain_epochs, "retrain_epochs")
    if not isinstance(inputs_fn, str) and not callable(inputs_fn):
        raise TypeError(f"inputs_fn: expected a function () -> datasets or 'module:function'; got {inputs_fn!r}")
    merged = check_settings(settings, DEFAULT_SETTINGS, "settings")
    check_settings(retrain_settings, DEFAULT_RETRAIN_SETTINGS, "retrain_settings")
    searchable = {name: value for name, value in merged.items() if isinstance(value, Param)}
    parameters = {"seed": DiscreteInteger(0, 0, MAX_SEED), **searchable}
    trainable = functools.partial(evaluate_darts, inputs_fn=inputs_fn, space=cell_space.name, epochs=epochs,
                                  settings=merged, guard=guard, max_parameter_free=max_parameter_free,
                                  guard_start_epoch=guard_start_epoch, inputs_kwargs=inputs_kwargs,
                                  callbacks=callbacks)
    if name is None:
        name = f"darts_{cell_space.name}_{time.strftime('%Y%m%d-%H%M%S')}"
    searched = search(trainable, space=parameters, algorithm=algorithm, num_samples=num_samples, max_epochs=epochs,
                      seed=seed, resources_per_trial=resources_per_trial, storage_path=storage_path, name=name,
                      algorithm_options=algorithm_options, **search_options)
    if not retrain_top_k:
        return DartsSearchResults(searched)
    trials = searched.trials()
    order = _search_order(trials, f"last/{searched.metric}")
    if not order:
        raise RuntimeError(f"darts_search: no supernet trial of {searched.path} completed with a genotype; nothing "
                           "to retrain (see results.search.trials()['error'])")
    chosen = [genotype for genotype, _ in order[:retrain_top_k]]
    retrained, ranking = retrain(chosen, inputs_fn, seeds=retrain_seeds, epochs=retrain_epochs or epochs,
                                 settings=retrain_settings, inputs_kwargs=inputs_kwargs,
                                 resources_per_trial=resources_per_trial, seed=seed,
                                 storage_path=storage_path if storage_path is not None else Path(searched.path).parent,
                                 name=f"{name}_retrain", **search_options)
    positions = {genotype: index + 1 for index, (genotype, _) in enumerate(order)}
    counts = dict(order)
    ranking["search_rank"] = ranking["genotype"].map(positions)
    ranking["search_trials"] = ranking["genotype"].map(counts)
    return DartsSearchResults(searched, retrained, ranking)
