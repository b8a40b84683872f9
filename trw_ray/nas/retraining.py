"""The retraining stage every architecture search shares: a genotype trained from scratch (its network, the weights'
optimizers, the default settings and their checks), the top genotypes retrained with several seeds as Tune trials,
and their ranking. DARTS (:mod:`trw_ray.nas.darts`), evolution over cells (:mod:`trw_ray.nas.evolution`) and
:func:`trw_ray.nas.rank_architectures` all retrain through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from trw_ray import checks
from trw_ray.hparams.space.params import DiscreteInteger, DiscreteValue, Param
from trw_ray.layout import TEST_SPLIT, TRAIN_SPLIT, VALID_SPLIT
from trw_ray.nas.bilevel import ORDERS
from trw_ray.nas.cell_space import canonical_genotype
from trw_ray.nas.genotypes import Genotype, parse_genotype
from trw_ray.nas.inputs import dataset_shape, resolve_inputs, split_accuracy

MAX_SEED = 2**31 - 1
#: the settings of one retraining
DEFAULT_RETRAIN_SETTINGS: dict[str, Any] = {
    "width": 16, "depth": 1, "learning_rate": 0.05, "min_learning_rate": 0.0, "momentum": 0.9, "weight_decay": 3e-4,
}

__all__ = ["DEFAULT_RETRAIN_SETTINGS", "MAX_SEED", "check_settings", "darts_optimizers_fn", "declare_settings",
           "evaluate_genotype", "rank_retrained", "retrain", "train_genotype"]


def darts_optimizers_fn(datasets, model, learning_rate: float = 0.025, momentum: float = 0.9,
                        weight_decay: float = 3e-4, num_epochs: int = 10, min_learning_rate: float = 1e-3):
    """SGD on the supernet's weights (never its architecture parameters) with a cosine schedule over ``num_epochs``,
    DARTS' setting; the Trainer's ``optimizers_fn`` through ``functools.partial``."""
    import torch

    parameters = model.weight_parameters() if hasattr(model, "weight_parameters") else list(model.parameters())
    optimizer = torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, num_epochs),
                                                           eta_min=min_learning_rate)
    return ({name: optimizer for name, splits in datasets.items() if TRAIN_SPLIT in splits},
            {name: scheduler for name, splits in datasets.items() if TRAIN_SPLIT in splits})


def check_settings(settings: Mapping[str, Any], defaults: Mapping[str, Any], argument: str) -> dict[str, Any]:
    """``defaults`` with ``settings`` (plain values or Params) over them, each checked; the error names ``argument``."""
    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(f"{argument}: expected a dict {{name: value or Param}}; got {type(settings).__name__}")
    unknown = sorted(set(settings or {}) - set(defaults))
    if unknown:
        raise ValueError(f"{argument}: unknown settings {unknown}; known: {sorted(defaults)}")
    merged = {**defaults, **dict(settings or {})}
    for name, value in merged.items():
        values = value.choices if isinstance(value, Param) and value.choices is not None else [value]
        if isinstance(value, Param) and value.choices is None:
            continue
        for item in values:
            if name == "order" and item not in ORDERS:
                raise ValueError(f"{argument}: 'order' expects one of {list(ORDERS)}; got {item!r}")
            if name in ("width", "depth", "partial_channels"):
                checks.positive_int(item, f"{argument}: {name!r}")
            if name == "warmup_epochs":
                checks.positive_int(item, f"{argument}: {name!r}", 0)
            if name == "arch_fraction" and not (checks.is_finite_number(item) and 0 < item < 1):
                raise ValueError(f"{argument}: 'arch_fraction' expects a number in (0, 1); got {item!r}")
    return merged


def declare_settings(hparams, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with every Param replaced by the trial's value (``hparams.create``)."""
    return {name: hparams.create(name, value) if isinstance(value, Param) else value for name, value in settings.items()}


def train_genotype(genotype: Genotype | str, inputs_fn: Callable | str, seed: int = 0, epochs: int = 10,
                   settings: Mapping[str, Any] | None = None, inputs_kwargs: Mapping[str, Any] | None = None,
                   metric_split: str = TEST_SPLIT, callbacks: bool = False,
                   max_parameters: int | None = None) -> tuple[float, dict[str, Any]]:
    """Trains ``build_network(genotype)`` from scratch (SGD with a cosine schedule, ``seed``); returns the loss on
    ``metric_split`` and ``{genotype, canonical, accuracy, valid_accuracy, parameters, run_dir}``.

    Args:
        settings: overrides of :data:`DEFAULT_RETRAIN_SETTINGS` (width, depth, learning rate...).
        max_parameters: refuse (ValueError, before any training) a network with more parameters.
    """
    from trw_ray import train
    from trw_ray.nas.network import build_network

    text = str(parse_genotype(genotype))
    chosen = check_settings(settings, DEFAULT_RETRAIN_SETTINGS, "settings")
    loader = resolve_inputs(inputs_fn, inputs_kwargs)
    holder: dict[str, Any] = {}

    def inputs():
        holder["datasets"] = loader()
        return holder["datasets"]

    options = train.create_default_options(num_epochs=epochs, progress_bar=False)
    options["training_parameters"]["seed"] = int(seed)
    options["workflow_options"]["console_log"] = False

    def model_fn(options):
        classes, channels = dataset_shape(holder["datasets"])
        network = build_network(text, num_classes=classes, in_channels=channels, width=chosen["width"],
                                depth=chosen["depth"])
        parameters = sum(p.numel() for p in network.parameters())
        if max_parameters is not None and parameters > max_parameters:
            raise ValueError(f"max_parameters: the network of {text} has {parameters} parameters (> {max_parameters})")
        return network

    def optimizers_fn(datasets, model):
        return darts_optimizers_fn(datasets, model, chosen["learning_rate"], chosen["momentum"],
                                   chosen["weight_decay"], options["training_parameters"]["num_epochs"],
                                   chosen["min_learning_rate"])

    trainer = train.Trainer(
        callbacks_per_epoch_fn=None if callbacks else lambda: [train.callbacks.CallbackEpochSummary()],
        callbacks_post_training_fn=None if callbacks else lambda: [train.callbacks.CallbackBestHistory()])
    model, results = trainer.fit(options, inputs_fn=inputs, model_fn=model_fn, optimizers_fn=optimizers_fn,
                                 run_prefix="retrain")
    measured = {split: outputs for splits in results["history"][-1].values() for split, outputs in splits.items()}
    if metric_split not in measured:
        raise ValueError(f"metric_split: the datasets have no evaluated split {metric_split!r}; evaluated: "
                         f"{sorted(measured)}")
    outputs = measured[metric_split]
    return float(outputs["overall_loss"]["loss"]), {
        "genotype": text, "canonical": canonical_genotype(text), "accuracy": float(split_accuracy(outputs)),
        "valid_accuracy": float(split_accuracy(measured.get(VALID_SPLIT, {}))),
        "parameters": int(sum(p.numel() for p in model.parameters())), "run_dir": results["run_dir"]}


def evaluate_genotype(hparams, inputs_fn: Callable | str, epochs: int = 10, settings: Mapping[str, Any] | None = None,
                      inputs_kwargs: Mapping[str, Any] | None = None, metric_split: str = TEST_SPLIT,
                      callbacks: bool = False):
    """The trainable of a retraining trial: ``build_network(genotype)`` trained from scratch with the trial's
    ``genotype`` and ``seed`` (:func:`train_genotype`); returns the loss on ``metric_split`` and
    ``{genotype, canonical, accuracy, valid_accuracy, parameters, run_dir}``."""
    given = hparams.values.get("genotype")
    if given is None:
        raise ValueError("evaluate_genotype: the trial's configuration has no 'genotype' (retrain() sets it)")
    genotype = str(parse_genotype(hparams.create("genotype", hparams.space.get("genotype") or
                                                 DiscreteValue(given, [given]))))
    seed = hparams.create("seed", DiscreteInteger(0, 0, MAX_SEED))
    chosen = declare_settings(hparams, check_settings(settings, DEFAULT_RETRAIN_SETTINGS, "settings"))
    return train_genotype(genotype, inputs_fn, seed=seed, epochs=epochs, settings=chosen, inputs_kwargs=inputs_kwargs,
                          metric_split=metric_split, callbacks=callbacks)


def retrain(genotypes: list[str], inputs_fn: Callable | str, seeds: int = 3, epochs: int = 10,
            settings: Mapping[str, Any] | None = None, inputs_kwargs: Mapping[str, Any] | None = None,
            metric_split: str = TEST_SPLIT, **search_options):
    """Trains every genotype from scratch with ``seeds`` seeds as Tune trials (a grid over genotype x seed); returns
    ``(results, ranking)`` (see :func:`rank_retrained`). ``search_options`` go to :func:`trw_ray.hparams.search`."""
    from trw_ray.hparams.tuning.driver import search

    if not isinstance(genotypes, (list, tuple)) or not genotypes:
        raise ValueError(f"genotypes: expected a non-empty list of genotype strings; got {genotypes!r}")
    texts = list(dict.fromkeys(str(parse_genotype(g)) for g in genotypes))
    checks.positive_int(seeds, "seeds")
    checks.positive_int(epochs, "epochs")
    check_settings(settings, DEFAULT_RETRAIN_SETTINGS, "retrain_settings")
    space = {"genotype": DiscreteValue(texts[0], texts), "seed": DiscreteValue(0, list(range(seeds)))}
    trainable = functools.partial(evaluate_genotype, inputs_fn=inputs_fn, epochs=epochs, settings=settings,
                                  inputs_kwargs=inputs_kwargs, metric_split=metric_split)
    results = search(trainable, space=space, algorithm="grid", num_samples=len(texts) * seeds, max_epochs=epochs,
                     **search_options)
    return results, rank_retrained(results)


def rank_retrained(results, metric: str = "accuracy"):
    """One row per genotype of a retraining experiment, best first: ``accuracy_mean``/``_std``, ``loss_mean``/``_std``
    (the search's metric) and ``seeds`` (completed trials)."""
    import pandas as pd

    trials = results.trials()
    loss_column = f"last/{results.metric}"
    column = f"result/{metric}"
    if trials.empty or column not in trials:
        return pd.DataFrame(columns=["genotype", f"{metric}_mean", f"{metric}_std", "loss_mean", "loss_std", "seeds"])
    done = trials[trials["completed"]]
    grouped = done.groupby("result/genotype").agg(**{
        f"{metric}_mean": (column, "mean"), f"{metric}_std": (column, "std"),
        "loss_mean": (loss_column, "mean"), "loss_std": (loss_column, "std"), "seeds": (column, "count")})
    grouped = grouped.sort_values(f"{metric}_mean", ascending=False).reset_index()
    return grouped.rename(columns={"result/genotype": "genotype"})
