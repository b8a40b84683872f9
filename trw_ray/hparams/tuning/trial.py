"""What runs inside one Tune trial: the user's function with its hyper-parameters, seeded, in its own folder.

:func:`run_trial` is the function trainable of every trw_ray search. The reports it sends — one per epoch while the
Trainer trains, then the final one carrying the value the function returned — are decided in
:mod:`trw_ray.train.tune_bridge`.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from trw_ray import layout
from trw_ray.hparams.space.hyperparameters import HyperParameters
from trw_ray.hparams.space.params import Param
from trw_ray.lazy_import import when_imported

INFOS_FILENAME = layout.TRIAL_INFOS_FILE

__all__ = ["INFOS_FILENAME", "Returned", "parse_returned", "run_trial", "trial_process_state", "trial_seed"]


@dataclass(frozen=True)
class Returned:
    """What a trial's function returned: ``loss`` (a number; reported as ``'loss'``) or ``values`` (a dict of
    numbers, reported under its keys), and ``infos`` (anything JSON can hold, kept in the trial's folder)."""

    loss: float | None
    values: dict[str, float] | None
    infos: Any


def _number(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # a one-element tensor or numpy value
        with contextlib.suppress(ValueError, RuntimeError):
            value = value.item()
    return value


def parse_returned(returned: Any, argument: str = "evaluate_fn") -> Returned:
    """``loss``, ``{name: value}``, or either followed by infos (``(loss, infos)``) -> :class:`Returned`.

    Raises:
        ValueError: anything else, or a non-finite value (the trial counts as failed).
    """
    infos = None
    value = returned
    if isinstance(returned, (tuple, list)) and returned:
        value, rest = returned[0], returned[1:]
        infos = rest[0] if len(rest) == 1 else (list(rest) if rest else None)
    if isinstance(value, Mapping):
        values = {}
        for name, item in value.items():
            item = _number(item)
            if not isinstance(name, str) or not isinstance(item, (int, float)) or isinstance(item, bool):
                raise ValueError(f"{argument}: a dict of metrics must map names to numbers; got {name!r}: {item!r:.100}")
            if not math.isfinite(item):
                raise ValueError(f"{argument}: a non-finite {name!r} ({item}); the trial counts as failed")
            values[name] = float(item)
        if not values:
            raise ValueError("evaluate_fn: returned an empty dict; return {'name': value, ...} or a number (the loss)")
        return Returned(None, values, infos)
    value = _number(value)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"evaluate_fn: expected it to return a number (the loss), a dict {{name: value}} or either "
                         f"followed by infos, e.g. (loss, infos); got {type(returned).__name__} {returned!r:.100}")
    if not math.isfinite(value):
        raise ValueError(f"evaluate_fn: returned a non-finite loss ({value}); the trial counts as failed")
    return Returned(float(value), None, infos)


def trial_seed(seed: int | None, config: Mapping[str, Any]) -> int:
    """The seed of one trial: the search seed mixed with the configuration (same seed and config, same trial)."""
    text = json.dumps(dict(config), sort_keys=True, default=repr)
    return (zlib.crc32(text.encode()) ^ (0 if seed is None else int(seed) * 2654435761)) % (2**31)


@contextlib.contextmanager
def trial_process_state(seed: int, threads: int) -> Iterator[None]:
    """Seeds ``random``, numpy and torch with ``seed`` and runs torch on ``threads`` threads inside the block.

    torch is set up now if it is loaded, else the moment the trial imports it: a trial whose function never uses
    torch does not pay its import (about 2 s per actor on 2 cores), and one that imports it late still starts
    from the trial's seed. torch's thread count is restored afterwards (the actor may run another trial).
    """
    random.seed(seed)
    np.random.seed(seed)
    restore: list[tuple[ModuleType, int]] = []

    def set_up_torch(torch: ModuleType) -> None:
        restore.append((torch, torch.get_num_threads()))
        torch.manual_seed(seed)
        torch.set_num_threads(threads)

    hook = when_imported("torch", set_up_torch)
    try:
        yield
    finally:
        if hook is not None:
            hook.remove()
        for torch, previous in restore:
            torch.set_num_threads(previous)


def run_trial(config: dict[str, Any], evaluate_fn: Callable, metric: str, max_epochs: int | None,
              seed: int | None, cpus: float, experiment_dir: str, space: Mapping[str, Param] | None = None,
              workers: Any = None) -> None:
    """The function trainable of every trw_ray search (runs inside a Tune trial actor).

    Nothing of a previous trial survives in a reused actor: the search context is set and removed around the
    call, torch's thread count is set to the trial's CPUs and restored, and torch/numpy/random are seeded from
    :func:`trial_seed`.
    """
    from ray import tune

    from trw_ray.hparams.tuning.recorder import finished_trial_result
    from trw_ray.io import to_json, write_json_atomic
    from trw_ray.search_context import DEFAULTS_KEY, REPLAYED_KEY, SearchContext, activate
    from trw_ray.train import tune_bridge

    # Tune stages a trial's working files outside storage_path; trw_ray writes straight into the trial's folder of
    # the experiment (a local or shared filesystem), so run folders are where the results API looks
    context = tune.get_context()
    trial_dir = Path(experiment_dir) / Path(context.get_trial_dir()).name
    trial_dir.mkdir(parents=True, exist_ok=True)
    finished = finished_trial_result(experiment_dir, context.get_trial_id())
    if finished is not None:  # finished after Tune last saved its state: never trained twice
        tune_bridge.send_report({**finished, REPLAYED_KEY: True}, None)
        return
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = tune_bridge.load_checkpoint_state(folder)
    search = SearchContext(mode="trial", metric=metric, run_root=trial_dir / layout.TRIAL_RUNS_FOLDER,
                           max_epochs=max_epochs, checkpoint_state=state, workers=workers)
    with trial_process_state(trial_seed(seed, config), threads=max(1, int(round(cpus)))):
        hparams = HyperParameters(config, space)
        with activate(search):
            returned = evaluate_fn(hparams)
        outcome = parse_returned(returned)
        if outcome.infos is not None:
            try:
                infos = to_json(outcome.infos)
            except (TypeError, ValueError):  # e.g. a structure that refers to itself
                infos = repr(outcome.infos)
            loss = outcome.loss if outcome.loss is not None else outcome.values.get(metric)
            write_json_atomic(trial_dir / INFOS_FILENAME, {"loss": loss, "infos": infos})
        fixed = sorted(set(hparams.specs) - set(config))  # declared with hparams.create, not in the space
        tune_bridge.send_final_report(search, outcome.loss, outcome.values,
                                      {DEFAULTS_KEY: ", ".join(fixed)} if fixed else None)
