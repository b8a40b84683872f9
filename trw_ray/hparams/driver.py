"""The search driver: runs ``evaluate_fn(hparams)`` as Ray Tune trials and returns queryable results.

Example (the seed's ``evaluate_hparams``, 40 random trials in parallel on the local machine)::

    results = trw.hparams.search(evaluate_hparams, algorithm='random', num_samples=40, seed=0)
    print(results.trials().sort_values('last/loss').head())
    trw.hparams.analyse(results, 'report')

Inside each trial: ``HyperParameters(config)`` is passed to ``evaluate_fn``; the Trainer writes its run folder
into the trial's directory (``<trial>/runs/``), reports every epoch to Tune and checkpoints (see
:mod:`trw_ray.train.tune_bridge`); the value the function returns is the trial's final result.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import math
import os
import random
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trw_ray.hparams.hyperparameters import HyperParameters
from trw_ray.hparams.params import Param
from trw_ray.hparams.searchers import GridSearch, RandomSearch, RegularizedEvolution
from trw_ray.hparams.space import (
    SearchSpace,
    discover_space,
    import_function,
    load_space,
    space_from_settings,
)

ALGORITHMS = ("random", "grid", "hyperband", "asha", "pbt", "evolution", "tpe")
RESOURCE_KEYS = ("cpu", "gpu", "memory", "pipeline_workers", "cpus_per_pipeline_worker")
RESUME_CHOICES = ("auto", True, False)
PROGRESS_EVERY_S = 10.0
INFOS_FILENAME = "trw_ray_infos.json"
TUNER_STATE_FILENAME = "tuner.pkl"  # what ray.tune.Tuner.can_restore looks for in an experiment folder


# ---------------------------------------------------------------------------------------------------- the trial

def parse_returned(returned: Any) -> tuple[float, Any]:
    """``loss`` or ``(loss, infos...)`` -> ``(loss, infos)``; ValueError for anything else or a non-finite loss."""
    infos = None
    value = returned
    if isinstance(returned, (tuple, list)) and returned:
        value, rest = returned[0], returned[1:]
        infos = rest[0] if len(rest) == 1 else (list(rest) if rest else None)
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # a one-element tensor or numpy value
        with contextlib.suppress(ValueError, RuntimeError):
            value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"evaluate_fn: expected it to return a number (the loss) or a tuple (loss, infos); "
                         f"got {type(returned).__name__} {returned!r:.100}")
    if not math.isfinite(value):
        raise ValueError(f"evaluate_fn: returned a non-finite loss ({value}); the trial counts as failed")
    return float(value), infos


def _json_infos(infos: Any) -> Any:
    try:
        return json.loads(json.dumps(infos, default=lambda v: v.tolist() if hasattr(v, "tolist") else repr(v)))
    except (TypeError, ValueError):
        return repr(infos)


def trial_seed(seed: int | None, config: Mapping[str, Any]) -> int:
    """The seed of one trial: the search seed mixed with the configuration (same seed and config, same trial)."""
    text = json.dumps(dict(config), sort_keys=True, default=repr)
    return (zlib.crc32(text.encode()) ^ (0 if seed is None else int(seed) * 2654435761)) % (2**31)


def run_trial(config: dict[str, Any], evaluate_fn: Callable, metric: str, max_epochs: int | None,
              seed: int | None, cpus: float, experiment_dir: str, space: Mapping[str, Param] | None = None) -> None:
    """The function trainable of every trw_ray search (runs inside a Tune trial actor).

    Nothing of a previous trial survives in a reused actor: the search context is set and removed around the
    call, torch's thread count is set to the trial's CPUs and restored, and torch/numpy/random are seeded from
    :func:`trial_seed`.
    """
    from ray import tune

    from trw_ray.hparams.recorder import FINAL_KEY
    from trw_ray.hparams.trial_process import trial_process_state
    from trw_ray.io import write_json_atomic
    from trw_ray.search_context import SearchContext, activate

    # Tune stages a trial's working files outside storage_path; trw_ray writes straight into the trial's folder of
    # the experiment (a local or shared filesystem), so run folders are where the results API looks
    trial_dir = Path(experiment_dir) / Path(tune.get_context().get_trial_dir()).name
    trial_dir.mkdir(parents=True, exist_ok=True)
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # only the Trainer writes checkpoints, so torch is needed anyway
        from trw_ray.train import tune_bridge

        with checkpoint.as_directory() as folder:
            state = tune_bridge.load_checkpoint_state(folder)
    search = SearchContext(mode="trial", metric=metric, run_root=trial_dir / "runs", max_epochs=max_epochs,
                           checkpoint_state=state)
    with trial_process_state(trial_seed(seed, config), threads=max(1, int(round(cpus)))):
        with activate(search):
            returned = evaluate_fn(HyperParameters(config, space))
        loss, infos = parse_returned(returned)
        pending = search.pending or {"metrics": {}, "state": None}
        search.pending = None
        metrics = dict(pending["metrics"])
        metrics[metric] = loss
        metrics[FINAL_KEY] = True
        if search.run_dirs:
            metrics["run_dir"] = search.run_dirs[-1]
        if infos is not None:
            write_json_atomic(trial_dir / INFOS_FILENAME, {"loss": loss, "infos": _json_infos(infos)})
        if pending["state"] is None:
            tune.report(metrics)
        else:
            from trw_ray.train import tune_bridge

            tune_bridge.send_report(metrics, pending["state"])


# ---------------------------------------------------------------------------------------------------- arguments

def _check_number(value: Any, name: str, minimum: float = 0.0) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"resources_per_trial: {name!r} expected a number >= {minimum}; got {value!r}")
    return float(value)


def trial_resources(resources: Mapping[str, Any] | None) -> tuple[list[dict[str, float]], float]:
    """``{'cpu': 1, 'gpu': 0.5, 'pipeline_workers': 2}`` -> the bundles of the trial's placement group, and its CPUs.

    The first bundle runs the trial (``cpu``, ``gpu``, ``memory`` bytes); ``pipeline_workers`` adds one bundle of
    ``cpus_per_pipeline_worker`` (default 1) CPUs per SequenceMap/SequenceAsyncReservoir worker, which the
    pipelines use automatically. ``gpu`` may be a fraction (0.25 packs four trials on one GPU) or a whole number.
    """
    resources = {"cpu": 1, "gpu": 0} if resources is None else resources
    if not isinstance(resources, Mapping):
        raise TypeError(f"resources_per_trial: expected a dict like {{'cpu': 1, 'gpu': 0}}; got {type(resources).__name__}")
    unknown = sorted(set(resources) - set(RESOURCE_KEYS))
    if unknown:
        raise ValueError(f"resources_per_trial: unknown key(s) {unknown}; allowed: {list(RESOURCE_KEYS)}")
    cpu = _check_number(resources.get("cpu", 1), "cpu")
    gpu = _check_number(resources.get("gpu", 0), "gpu")
    if gpu > 1 and gpu != int(gpu):
        raise ValueError(f"resources_per_trial: 'gpu' above 1 must be a whole number of GPUs; got {gpu}")
    if cpu == 0 and gpu == 0:
        raise ValueError("resources_per_trial: a trial needs some 'cpu' or 'gpu'; got 0 for both")
    workers = resources.get("pipeline_workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"resources_per_trial: 'pipeline_workers' expected an integer >= 0; got {workers!r}")
    worker_cpus = _check_number(resources.get("cpus_per_pipeline_worker", 1), "cpus_per_pipeline_worker")
    head = {"CPU": cpu}
    if gpu:
        head["GPU"] = gpu
    if resources.get("memory"):
        head["memory"] = _check_number(resources["memory"], "memory")
    bundles = [head] + [{"CPU": worker_cpus} for _ in range(workers)]
    return bundles, cpu


def check_cluster_resources(bundles: list[dict[str, float]]) -> None:
    """Raises at once when a trial's bundles can never be placed (Tune would leave the trials pending forever)."""
    import ray

    total = ray.cluster_resources()
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    head = bundles[0]
    for resource, amount in head.items():
        if amount and not any(node.get(resource, 0) >= amount for node in nodes):
            available = {key: total.get(key, 0) for key in ("CPU", "GPU")}
            raise ValueError(
                f"resources_per_trial: a trial asks for {amount:g} {resource} on one node, but no node of this Ray "
                f"cluster has that much (cluster: {available}); lower the request"
                + (" or run on a machine with a GPU" if resource == "GPU" else ""))
    for resource in {key for bundle in bundles for key in bundle}:
        needed = sum(bundle.get(resource, 0) for bundle in bundles)
        if needed > total.get(resource, 0) + 1e-9:
            raise ValueError(f"resources_per_trial: one trial needs {needed:g} {resource} in all (trial + pipeline "
                             f"workers) but the Ray cluster has {total.get(resource, 0):g}")


def _resolve_space(evaluate_fn, space) -> tuple[Callable, SearchSpace]:
    if isinstance(space, (str, os.PathLike)):
        space = load_space(space)
    if isinstance(space, SearchSpace):
        if evaluate_fn is None:
            if space.trainable is None:
                raise ValueError(f"evaluate_fn: none given and the space {space.source or ''} names no trainable")
            evaluate_fn = space.resolve_trainable()
        return evaluate_fn, space
    if isinstance(evaluate_fn, str):
        evaluate_fn = import_function(evaluate_fn, "evaluate_fn")
    if not callable(evaluate_fn):
        raise TypeError(f"evaluate_fn: expected a function hparams -> loss | (loss, infos) or 'module:function'; "
                        f"got {evaluate_fn!r}")
    if space is None:
        return evaluate_fn, SearchSpace(parameters=discover_space(evaluate_fn))
    if isinstance(space, Mapping):
        for name, spec in space.items():
            if not isinstance(spec, Param):
                raise TypeError(f"space: {name!r} must be a parameter spec (ContinuousUniform, ...); "
                                f"got {type(spec).__name__}")
        if not space:
            raise ValueError("space: expected a non-empty dict {name: spec}")
        return evaluate_fn, SearchSpace(parameters=dict(space))
    raise TypeError(f"space: expected None (define-by-run), a dict {{name: spec}}, a SearchSpace or a YAML path; "
                    f"got {type(space).__name__}")


def _clip_to_space(parameters: Mapping[str, Param]) -> Callable[[dict], dict]:
    def explore(config: dict) -> dict:
        for name, spec in parameters.items():
            if name not in config:
                continue
            if spec.choices is not None:
                if config[name] not in spec.choices:
                    config[name] = spec.default
            else:
                config[name] = spec.from_unit(float(np.clip(spec.to_unit(config[name]), 0.0, 1.0)))
        return config

    return explore


def check_algorithm(algorithm: str, max_epochs: int | None, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Raises for an unknown algorithm, options it does not take, or a scheduler without ``max_epochs``; returns
    the options as a dict."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {list(ALGORITHMS)}; got {algorithm!r}")
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"algorithm_options: expected a dict such as {{'grace_period': 3}}; got {type(options).__name__}")
    options = dict(options or {})
    allowed = {"grid": {"grid_points"}, "evolution": {"population_size", "sample_size", "avoid_duplicates"},
               "hyperband": {"reduction_factor"}, "asha": {"reduction_factor", "grace_period", "brackets"},
               "pbt": {"perturbation_interval", "mutations", "quantile_fraction", "resample_probability"}}
    unknown = sorted(set(options) - allowed.get(algorithm, set()))
    if unknown:
        raise TypeError(f"algorithm_options: unknown for {algorithm!r}: {unknown}; allowed: "
                        f"{sorted(allowed.get(algorithm, set()))}")
    for name, minimum in (("grace_period", 1), ("reduction_factor", 2), ("brackets", 1)):  # asha, hyperband
        value = options.get(name, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"algorithm_options: {name!r} of {algorithm!r} expects an integer >= {minimum}; "
                             f"got {value!r}")
    if algorithm in ("hyperband", "asha", "pbt") and max_epochs is None:
        raise ValueError(f"max_epochs: {algorithm!r} schedules trials by epochs; give the budget of one trial "
                         "(e.g. max_epochs=9)")
    if algorithm == "tpe" and importlib.util.find_spec("optuna") is None:
        raise ValueError("algorithm: 'tpe' uses Optuna's TPE sampler; install it with `pip install optuna`")
    return options


def create_algorithm(algorithm: str, space: SearchSpace, metric: str, mode: str, max_epochs: int | None,
                     seed: int | None, max_concurrent: int | None, options: Mapping[str, Any]):
    """``(searcher, scheduler)`` of an algorithm name (see :data:`ALGORITHMS`)."""
    from ray.tune.schedulers import HyperBandScheduler, PopulationBasedTraining
    from ray.tune.search import BasicVariantGenerator

    from trw_ray.hparams.tune_schedulers import ASHAKeepingStartingActors, FIFOKeepingStartingActors
    from trw_ray.hparams.tune_searcher import LogicSearcher

    options = check_algorithm(algorithm, max_epochs, options)
    params = space.parameters
    if algorithm == "tpe":
        try:
            import optuna  # noqa: F401
            from ray.tune.search import ConcurrencyLimiter
            from ray.tune.search.optuna import OptunaSearch
        except ImportError as error:
            raise ValueError("algorithm: 'tpe' uses Optuna's TPE sampler; install it with `pip install optuna` "
                             f"({error})") from error
        searcher = OptunaSearch(space=space.to_tune(), metric=metric, mode=mode, seed=seed)
        return (ConcurrencyLimiter(searcher, max_concurrent) if max_concurrent else searcher), FIFOKeepingStartingActors()
    if algorithm == "grid":
        logic = GridSearch(params, mode, seed, **options)
    elif algorithm == "evolution":
        logic = RegularizedEvolution(params, mode, seed, **options)
    else:
        logic = RandomSearch(params, mode, seed)
    searcher = LogicSearcher(logic, metric, mode, max_concurrent)
    scheduler = FIFOKeepingStartingActors()
    if algorithm == "hyperband":
        scheduler = HyperBandScheduler(time_attr="training_iteration", max_t=max_epochs,
                                       reduction_factor=options.get("reduction_factor", 3))
    elif algorithm == "asha":
        if options.get("brackets", 1) > 1 and seed is not None:
            np.random.seed(seed)  # Tune's ASHA draws each trial's bracket from numpy's global state
        scheduler = ASHAKeepingStartingActors(time_attr="training_iteration", max_t=max_epochs,
                                              grace_period=options.get("grace_period", 1),
                                              reduction_factor=options.get("reduction_factor", 3),
                                              brackets=options.get("brackets", 1))
    elif algorithm == "pbt":
        names = options.get("mutations") or [name for name, spec in params.items() if spec.choices is None
                                              and type(spec).__name__.startswith("Continuous")]
        unknown_names = sorted(set(names) - set(params))
        if not names or unknown_names:
            raise ValueError(f"algorithm_options: 'mutations' must name continuous parameters of the space "
                             f"{list(params)}; got {names!r}")
        rng = np.random.default_rng(seed)
        mutations = {name: (lambda spec=params[name]: spec.sample(rng)) for name in names}
        # PBT refuses searchers: its initial population comes from Tune's own sampler over the converted space
        searcher = BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0)
        scheduler = PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=options.get("perturbation_interval", max(1, max_epochs // 4)),
            hyperparam_mutations=mutations, custom_explore_fn=_clip_to_space(params),
            quantile_fraction=options.get("quantile_fraction", 0.25),
            resample_probability=options.get("resample_probability", 0.25))
    return searcher, scheduler


def _function_name(evaluate_fn: Any) -> str:
    target = getattr(evaluate_fn, "func", evaluate_fn)
    return getattr(target, "__name__", type(target).__name__).strip("<>") or "search"


def default_storage_path() -> Path:
    """``$TRW_RAY_LOGGING_ROOT/searches`` (or ``~/trw_ray_logs/searches``)."""
    from trw_ray.io import default_logging_directory

    return Path(default_logging_directory()) / "searches"


# ---------------------------------------------------------------------------------------------------- the driver

def search(
    evaluate_fn: Callable | str | None = None,
    space: Mapping[str, Param] | SearchSpace | str | os.PathLike | None = None,
    algorithm: str | None = None,
    num_samples: int | None = None,
    metric: str | None = None,
    mode: str | None = None,
    max_epochs: int | None = None,
    resources_per_trial: Mapping[str, Any] | None = None,
    max_concurrent: int | None = None,
    storage_path: str | os.PathLike | None = None,
    name: str | None = None,
    seed: int | None = None,
    resume: str | bool = "auto",
    address: str | None = None,
    max_failures: int = 0,
    reuse_actors: bool = True,
    algorithm_options: Mapping[str, Any] | None = None,
    verbose: int = 1,
    tune_loggers: bool = False,
):
    """Runs a hyper-parameter search on Ray Tune and returns its :class:`trw_ray.results.ExperimentResults`.

    Args:
        evaluate_fn: ``hparams -> loss | (loss, infos)`` (the seed's ``evaluate_hparams``), or ``'module:function'``;
            None when ``space`` is a space file that names its trainable.
        space: None discovers the space by running ``evaluate_fn`` with defaults until it is about to train
            (:func:`~trw_ray.hparams.space.discover_space`); or ``{name: spec}``; or a YAML path / :class:`SearchSpace`.
        algorithm: ``random`` (default), ``grid``, ``hyperband``, ``asha``, ``pbt``, ``evolution`` (regularized
            evolution) or ``tpe`` (Optuna's TPE; needs optuna).
        num_samples: trials to run (default 40; a grid stops when exhausted).
        metric, mode: what is optimized (default ``loss``, ``min``). Every epoch a trial reports its metrics as
            ``dataset/split/output/metric`` and ``metric`` itself: a key of that form when ``metric`` is one, else
            the ``overall_loss`` of the first split that is not ``train`` (MNIST: ``mnist/valid``). The last
            report carries the value ``evaluate_fn`` returns.
        max_epochs: budget of one trial in epochs: the Trainer trains this long and schedulers use it as ``max_t``
            (required by hyperband, asha, pbt).
        resources_per_trial: ``{'cpu': 1, 'gpu': 0}``; ``gpu`` may be fractional (0.25: four trials per GPU) or
            whole (2: the trial sees two GPUs and the Trainer splits batches over them with DataParallel, see
            :mod:`trw_ray.train.data_parallel`); ``pipeline_workers: N`` reserves N extra 1-CPU bundles for the trial's SequenceMap/reservoir
            workers. A request no node can satisfy raises at once.
        max_concurrent: at most this many trials at once (default: as many as resources allow).
        storage_path: where experiments go (default ``$TRW_RAY_LOGGING_ROOT/searches``).
        name: the experiment's folder name (default ``<function>_<algorithm>_<time>``). Naming an existing
            experiment resumes it when ``resume`` is ``'auto'`` or True.
        seed: seeds the algorithm (same seed, same configurations) and each trial (see :func:`trial_seed`).
        resume: ``'auto'`` continues an existing experiment of the same name (finished trials are kept, unfinished
            ones resume from their last checkpoint) and starts a new one otherwise; True requires one to exist;
            False refuses to reuse a name.
        address: a Ray cluster address (default ``$RAY_ADDRESS``; none: an embedded local Ray).
        max_failures: retries of a failed trial, each from its last checkpoint.
        reuse_actors: reuse trial actors between trials (start-up dominates small trials).
        algorithm_options: ``grid_points`` (grid), ``population_size``/``sample_size`` (evolution),
            ``reduction_factor`` (asha, hyperband), ``grace_period`` and ``brackets`` (asha: with ``brackets=n`` each
            trial joins one of n brackets whose first rungs are at ``grace_period * reduction_factor**k``, Li et al.'s
            asynchronous HyperBand; the most aggressive bracket is the likeliest), ``perturbation_interval``/``mutations`` (pbt).
        verbose: 0 silent; 1 (default) one summary line every 10 s (trials by status, best value and its
            configuration) and a line per failed trial; 2 Tune's own output (a table per finished trial).
        tune_loggers: also write Tune's per-trial ``progress.csv``, ``result.json`` and TensorBoard files of the
            reported metrics. Off by default: trw_ray's record (``trw_ray/history.jsonl``, read by
            :mod:`trw_ray.results`) holds every report, each Trainer run writes its own TensorBoard files, and
            Tune's loggers cost the driver about 10 ms per trial. ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``, when
            set, wins.

    Returns:
        :class:`trw_ray.results.ExperimentResults` of the experiment folder.
    """
    import ray

    # Ray Tune takes a second or two to import: it loads while the arguments are checked, the space is
    # discovered and Ray starts (which mostly waits for its processes)
    tune_import = None if ray.is_initialized() else _import_in_background("ray.tune")

    from trw_ray.data.ray_session import ensure_ray
    from trw_ray.io import write_json_atomic
    from trw_ray.results.experiment import RECORD_FOLDER, SEARCH_FILENAME

    if resume not in RESUME_CHOICES:
        raise ValueError(f"resume: expected one of {list(RESUME_CHOICES)}; got {resume!r}")
    if storage_path is not None and "://" in str(storage_path):
        raise ValueError(f"storage_path: expected a filesystem path (local, or shared by every node of a cluster); "
                         f"got the URI {str(storage_path)!r}")
    storage = Path(storage_path if storage_path is not None else default_storage_path()).expanduser().resolve()
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise ValueError(f"name: expected a folder name without '/'; got {name!r}")
    record_path = storage / str(name) / RECORD_FOLDER / SEARCH_FILENAME
    exists = name is not None and (storage / name / TUNER_STATE_FILENAME).is_file()
    if exists and resume is False:
        raise ValueError(f"name: the experiment {str(storage / name)!r} exists; pass resume=True to continue it "
                         "or choose another name")
    if not exists and resume is True:
        raise ValueError(f"resume: there is no experiment to resume at {str(storage / str(name))!r}")
    if not exists and name is not None and record_path.is_file():
        raise ValueError(f"name: {str(storage / name)!r} holds an experiment Tune cannot resume (its driver stopped "
                         "before Tune saved any state); choose another name")
    previous: dict[str, Any] = (json.loads(record_path.read_text(encoding="utf-8"))
                                if exists and record_path.is_file() else {})
    if exists and space is None:
        space = SearchSpace(parameters=space_from_settings(previous))  # a resumed search keeps its space
    evaluate_fn, resolved = _resolve_space(evaluate_fn, space)
    algorithm = algorithm or previous.get("algorithm") or resolved.algorithm or "random"
    metric = metric or previous.get("metric") or resolved.metric
    mode = mode or previous.get("mode") or resolved.mode
    max_epochs = max_epochs if max_epochs is not None else previous.get("max_epochs", resolved.max_epochs)
    seed = seed if seed is not None else previous.get("seed")
    num_samples = num_samples if num_samples is not None else (previous.get("num_samples") or resolved.num_samples or 40)
    if resources_per_trial is None:
        resources_per_trial = previous.get("resources_per_trial") or resolved.resources_per_trial
    if mode not in ("min", "max"):
        raise ValueError(f"mode: expected 'min' or 'max'; got {mode!r}")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric: expected a non-empty string; got {metric!r}")
    for argument, value in (("num_samples", num_samples), ("max_epochs", max_epochs), ("max_concurrent", max_concurrent)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{argument}: expected an integer >= 1; got {value!r}")
    if not isinstance(max_failures, int) or max_failures < 0:
        raise ValueError(f"max_failures: expected an integer >= 0; got {max_failures!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"seed: expected None or an integer; got {seed!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1 or 2; got {verbose!r}")
    if not isinstance(tune_loggers, bool):
        raise TypeError(f"tune_loggers: expected True or False; got {tune_loggers!r}")
    bundles, cpus = trial_resources(resources_per_trial)
    check_algorithm(algorithm, max_epochs, algorithm_options)

    if name is None:
        name = f"{_function_name(evaluate_fn)}_{algorithm}_{time.strftime('%Y%m%d-%H%M%S')}"
    experiment_dir = storage / name

    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")  # finished trials reach the saved state within a second
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    ensure_ray(address)
    if tune_import is not None:
        tune_import.join()
    from ray import tune

    from trw_ray.hparams.recorder import FinalResultStopper, SearchRecorder, forget_trials_tune_lost

    check_cluster_resources(bundles)
    searcher, scheduler = create_algorithm(algorithm, resolved, metric, mode, max_epochs, seed, max_concurrent,
                                           algorithm_options or {})
    if seed is not None:
        random.seed(seed)  # PBT's exploration draws from the random module

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, evaluate_fn=evaluate_fn, metric=metric, max_epochs=max_epochs, seed=seed,
                             cpus=cpus, experiment_dir=str(experiment_dir), space=resolved.parameters),
        tune.PlacementGroupFactory(bundles))
    record_path = experiment_dir / RECORD_FOLDER / SEARCH_FILENAME
    if exists:
        previous.setdefault("resumed", []).append(time.time())
        write_json_atomic(record_path, previous)
        forget_trials_tune_lost(experiment_dir)
        tuner = tune.Tuner.restore(str(experiment_dir), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
    else:
        write_json_atomic(record_path, {
            "name": name, "algorithm": algorithm, "metric": metric, "mode": mode, "num_samples": num_samples,
            "max_epochs": max_epochs, "seed": seed, "resources_per_trial": dict(resources_per_trial or {"cpu": 1}),
            "algorithm_options": dict(algorithm_options or {}), "space": resolved.describe(),
            "evaluate_fn": f"{getattr(evaluate_fn, '__module__', '?')}:{_function_name(evaluate_fn)}",
            "space_file": resolved.source, "created": time.time(), "resumed": []})
        tuner = tune.Tuner(
            trainable,
            param_space=resolved.to_tune() if algorithm == "pbt" else None,
            tune_config=tune.TuneConfig(metric=metric, mode=mode, search_alg=searcher, scheduler=scheduler,
                                        num_samples=num_samples, reuse_actors=reuse_actors),
            run_config=tune.RunConfig(
                name=name, storage_path=str(storage), verbose=1 if verbose >= 2 else 0, stop=FinalResultStopper(),
                callbacks=[SearchRecorder(experiment_dir, metric, mode, PROGRESS_EVERY_S if verbose == 1 else None)],
                failure_config=tune.FailureConfig(max_failures=max_failures),
                # PBT restores other trials' checkpoints: keep more of them than the schedulers that only resume
                checkpoint_config=tune.CheckpointConfig(num_to_keep=4 if algorithm == "pbt" else 2)))
    # Tune keeps a single pending trial for custom searchers (so they learn from every result); HyperBand only
    # forms its brackets when their trials exist together, and sampling without feedback gains nothing from
    # waiting. (Creating the trials a few at a time starts the first one sooner, but a driver killed mid-search
    # then came back with one trial too many: Tune's saved searcher count and trial list disagreed.)
    pending = min(num_samples, 256) if algorithm in ("random", "grid", "hyperband", "asha") else None
    # below verbose=2 trw_ray prints the progress: Tune's legacy reporter at verbosity 0 prints nothing, where the
    # new one still prints its configuration box and a TensorBoard hint
    with _environment_defaults({"TUNE_MAX_PENDING_TRIALS_PG": None if pending is None else str(pending),
                                "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": None if tune_loggers else "1",
                                "RAY_AIR_NEW_OUTPUT": None if verbose >= 2 else "0"}), \
            _without_missing_tune_metrics_warning():
        tuner.fit()
    from trw_ray.results import load

    return load(experiment_dir)


def _import_in_background(module: str) -> threading.Thread:
    def run() -> None:
        # the import only fills the CPU time Ray's starting processes leave free: on a small machine they are
        # the critical path (Linux sets the niceness of this thread alone)
        if sys.platform.startswith("linux"):  # elsewhere the id of a thread is not a valid PRIO_PROCESS target
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        with contextlib.suppress(Exception):  # an import error resurfaces where the module is used
            importlib.import_module(module)

    thread = threading.Thread(target=run, name=f"trw_ray-import-{module}", daemon=True)
    thread.start()
    return thread


class _MissingTuneMetricsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics")


@contextlib.contextmanager
def _without_missing_tune_metrics_warning():
    """Without Tune's loggers, Tune's result grid warns once per trial that it found no ``result.json``;
    trw_ray's results come from its own record, so the warning only buries the output."""
    tune_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    quiet = _MissingTuneMetricsFilter()
    tune_logger.addFilter(quiet)
    try:
        yield
    finally:
        tune_logger.removeFilter(quiet)


@contextlib.contextmanager
def _environment_defaults(values: Mapping[str, str | None]):
    """Sets the environment variables the user has not set (None: leave alone) for the duration of the block."""
    added = [name for name, value in values.items() if value is not None and name not in os.environ]
    for name in added:
        os.environ[name] = str(values[name])
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


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
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ValueError(f"repeat: expected an integer >= 1; got {repeat!r}")
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


__all__ = ["ALGORITHMS", "HyperParametersOptimizerRandomSearchLocal", "search", "run_trial", "trial_resources",
           "check_algorithm", "create_algorithm", "check_cluster_resources", "parse_returned", "trial_seed"]
