"""The search driver: runs ``evaluate_fn(hparams)`` as Ray Tune trials and returns queryable results.

Example (the seed's ``evaluate_hparams``, 40 random trials in parallel on the local machine)::

    results = trw.hparams.search(evaluate_hparams, algorithm='random', num_samples=40, seed=0)
    print(results.trials().sort_values('last/loss').head())
    trw.hparams.analyse(results, 'report')

The pieces: the trial (:mod:`trw_ray.hparams.tuning.trial`; what it reports: :mod:`trw_ray.train.tune_bridge`), its
resources (:mod:`trw_ray.hparams.tuning.resources`), the algorithms (:mod:`trw_ray.hparams.searchers`), the space
(:mod:`trw_ray.hparams.space`) and the record the driver writes (:mod:`trw_ray.hparams.tuning.recorder`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trw_ray import checks, layout
from trw_ray.hparams.searchers import AlgorithmRequest, create_algorithm, plan_search, validate_plan
from trw_ray.hparams.space import (
    SearchSpace,
    function_label,
    function_name,
    resolve_space,
    space_from_settings,
)
from trw_ray.hparams.space.params import Param
from trw_ray.hparams.tuning.resources import check_cluster_resources, trial_resources, trial_workers
from trw_ray.hparams.tuning.settings import resolve_settings
from trw_ray.hparams.tuning.trial import run_trial
from trw_ray.hparams.tuning.tune_run import (
    cached_trainable_lookups,
    environment_defaults,
    interruption_noticed,
    termination_ends_the_fit_gracefully,
    trial_actors_without_runtime_env,
    with_run_callbacks,
    without_missing_tune_metrics_warning,
)
from trw_ray.tracking import TensorBoardHParams, TrackingSync, resolve_trackers
from trw_ray.tracking.sync import tracking_finished

RESUME_CHOICES = ("auto", True, False)
PROGRESS_EVERY_S = 10.0
#: how long the end of a search waits for its trackers to log what they lack (one whose server fails: a few seconds)
TRACKING_TIMEOUT_S = 30.0
TUNER_STATE_FILENAME = layout.TUNER_STATE_FILE

__all__ = ["default_storage_path", "search"]


def default_storage_path() -> Path:
    """``$TRW_RAY_LOGGING_ROOT/searches`` (or ``~/trw_ray_logs/searches``)."""
    from trw_ray.io import default_logging_directory

    return Path(default_logging_directory()) / layout.DEFAULT_SEARCHES_FOLDER


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
    scheduler: str | None = None,
    scheduler_options: Mapping[str, Any] | None = None,
    max_total_epochs: int | None = None,
    tracking: Any = None,
):
    """Runs a hyper-parameter search on Ray Tune and returns its :class:`trw_ray.results.ExperimentResults`.

    Args:
        evaluate_fn: ``hparams -> loss | {name: value} | (either, infos)`` (the seed's ``evaluate_hparams``), or
            ``'module:function'``; None when ``space`` is a space file that names its trainable, or when resuming a
            search whose function can be imported (one defined in a script's ``__main__`` must be passed again).
            A returned number is reported as ``loss``, a dict under its keys. A function with its own training loop
            reports each epoch with :func:`trw_ray.hparams.report`.
        space: None discovers the space by running ``evaluate_fn`` with defaults until it is about to train
            (:func:`~trw_ray.hparams.space.discover_space`); or ``{name: spec}`` (a parameter the function declares
            that it does not name stays at its default in every trial; the search warns once, naming them); or a
            YAML path / :class:`SearchSpace`.
        algorithm: ``random`` (default), ``grid``, ``hyperband``, ``asha``, ``pbt``, ``evolution`` (regularized
            evolution), ``tpe`` (Optuna's TPE; needs optuna), ``bohb`` (TPE in HyperBand's brackets), or any name
            added with :func:`~trw_ray.hparams.searchers.register_algorithm`. ``hyperband``, ``asha`` and ``bohb``
            are single names for a searcher with a scheduler (random, random, TPE).
        num_samples: trials to run (default 40; a grid stops when exhausted). A resumed search keeps its own (a
            different value is a warning: Tune cannot extend a saved search).
        metric, mode: what is optimized and recorded (default ``loss``, ``min``). Every epoch a Trainer trial
            reports its metrics as ``dataset/split/output/metric`` (e.g. ``metric='mnist/valid/softmax/accuracy',
            mode='max'`` optimizes the last epoch's validation accuracy); ``loss`` is the ``overall_loss`` of the
            first split that is not ``train`` (MNIST: ``mnist/valid``) each epoch, then the number ``evaluate_fn``
            returns. A name no trial reports (misspelled, or ``'accuracy'`` for a function that returns a number)
            ends the search with :class:`~trw_ray.train.tune_bridge.MetricNotReportedError` listing what was
            reported.
        max_epochs: budget of one trial in epochs: the Trainer trains this long and schedulers use it as ``max_t``
            (required by hyperband, asha, pbt).
        resources_per_trial: ``{'cpu': 1, 'gpu': 0}``; ``gpu`` may be fractional (0.25: four trials per GPU) or
            whole (2: the trial sees two GPUs and the Trainer splits batches over them with DataParallel, see
            :mod:`trw_ray.train.data_parallel`); ``{'workers': 2, 'cpu_per_worker': 1, 'gpu_per_worker': 1}`` trains
            each trial data-parallel on Ray Train workers with DDP (:mod:`trw_ray.train.distributed`); ``pipeline_workers: N`` reserves N extra 1-CPU bundles for the trial's SequenceMap/reservoir
            workers. A request no node can satisfy raises at once.
        max_concurrent: at most this many trials at once (default: as many as resources allow).
        storage_path: where experiments go (default ``$TRW_RAY_LOGGING_ROOT/searches``). On a Ray cluster of several
            nodes: an absolute path every node mounts at the same place (checked before the search starts, see
            :func:`trw_ray.ray_session.check_shared_storage`).
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
        scheduler: how long each trial trains: ``fifo`` (to the end; default), ``hyperband``, ``asha`` (both need
            ``max_epochs``), combined with any searcher: ``search(..., algorithm='tpe', scheduler='asha')``. ``pbt``
            samples its own population: use ``algorithm='pbt'``. See :mod:`trw_ray.hparams.searchers`.
        scheduler_options: the scheduler's options (``grace_period``, ``reduction_factor``, ``brackets``...).
        max_total_epochs: a total budget: once the trials together have trained this many epochs, no trial starts
            (nor resumes from a pause); those running finish. Runs two algorithms at the same cost; what was
            consumed is in ``trw_ray/budget.json`` (:mod:`trw_ray.hparams.tuning.budget`).
        tune_loggers: also write Tune's per-trial ``progress.csv``, ``result.json`` and TensorBoard files of the
            reported metrics. Off by default: trw_ray's record (``trw_ray/history.jsonl``, read by
            :mod:`trw_ray.results`) holds every report, each Trainer run writes its own TensorBoard files, and
            Tune's loggers cost the driver about 10 ms per trial. ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``, when
            set, wins.
        tracking: where else the search is logged while it runs: ``'mlflow'`` (``$MLFLOW_TRACKING_URI``; one
            parent run, a nested run per trial), ``'wandb'`` (offline unless ``$WANDB_MODE`` says otherwise), a
            :class:`trw_ray.tracking.Tracker` (e.g. ``MLflowTracker(uri, experiment_name=...)``) or a list of them.
            The driver logs from its record in the background: a tracking server down or slow never slows or fails
            the search, and what could not be logged is reported once at the end (``trw-ray export`` logs it
            later). Every search also writes TensorBoard HParams sessions in ``<experiment>/tensorboard``. See
            :mod:`trw_ray.tracking`.

    Returns:
        :class:`trw_ray.results.ExperimentResults` of the experiment folder.

    Raises:
        KeyboardInterrupt: Ctrl+C ended the search (after Tune saved its state; the message says how to resume).
        MetricNotReportedError: ``metric`` is not among what the trials report.
    """
    import ray

    # Ray Tune takes a second or two to import: it loads while the arguments are checked, the space is
    # discovered and Ray starts (which mostly waits for its processes)
    tune_import = None if ray.is_initialized() else _import_in_background("ray.tune")

    from trw_ray.io import write_json_atomic
    from trw_ray.ray_session import check_shared_storage, ensure_ray

    if resume not in RESUME_CHOICES:
        raise ValueError(f"resume: expected one of {list(RESUME_CHOICES)}; got {resume!r}")
    if storage_path is not None and "://" in str(storage_path):
        raise ValueError(f"storage_path: expected a filesystem path (local, or shared by every node of a cluster); "
                         f"got the URI {str(storage_path)!r}")
    storage = Path(storage_path if storage_path is not None else default_storage_path()).expanduser().resolve()
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise ValueError(f"name: expected a folder name without '/'; got {name!r}")
    record_path = storage / str(name) / layout.RECORD_FOLDER / layout.SEARCH_FILE
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
    if exists and evaluate_fn is None and space is None:
        evaluate_fn, space = _recorded_trainable(previous, storage / name)
    if exists and space is None:
        space = SearchSpace(parameters=space_from_settings(previous))  # a resumed search keeps its space
    if exists and num_samples is not None and previous.get("num_samples") not in (None, num_samples):
        warnings.warn(f"num_samples: the resumed search {name!r} keeps its num_samples={previous['num_samples']} "
                      f"(Ray Tune cannot extend a saved search); got {num_samples}. For more trials, start a new "
                      "search (another name), e.g. with the best configurations as its first points", UserWarning,
                      stacklevel=2)
    evaluate_fn, resolved = resolve_space(evaluate_fn, space)
    settings = resolve_settings(
        {"algorithm": algorithm, "scheduler": scheduler, "scheduler_options": scheduler_options, "metric": metric,
         "mode": mode, "max_epochs": max_epochs, "num_samples": num_samples, "resources_per_trial": resources_per_trial,
         "max_total_epochs": max_total_epochs, "seed": seed}, previous, resolved)
    algorithm, scheduler, scheduler_options = settings["algorithm"], settings["scheduler"], settings["scheduler_options"]
    metric, mode, max_epochs, seed = settings["metric"], settings["mode"], settings["max_epochs"], settings["seed"]
    num_samples, max_total_epochs = settings["num_samples"], settings["max_total_epochs"]
    resources_per_trial = settings["resources_per_trial"]
    checks.mode(mode)
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric: expected a non-empty string; got {metric!r}")
    for argument, value in (("num_samples", num_samples), ("max_epochs", max_epochs), ("max_concurrent", max_concurrent),
                            ("max_total_epochs", max_total_epochs)):
        if value is not None:
            checks.positive_int(value, argument)
    checks.positive_int(max_failures, "max_failures", 0)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"seed: expected None or an integer; got {seed!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1 or 2; got {verbose!r}")
    if not isinstance(tune_loggers, bool):
        raise TypeError(f"tune_loggers: expected True or False; got {tune_loggers!r}")
    bundles, cpus = trial_resources(resources_per_trial)
    workers = trial_workers(resources_per_trial)
    trackers = resolve_trackers(tracking)
    plan = plan_search(algorithm, max_epochs, algorithm_options, scheduler, scheduler_options)
    validate_plan(plan, resolved, metric, mode, max_epochs, seed)  # every option checked before Ray starts

    if name is None:
        name = f"{function_name(evaluate_fn)}_{plan.label}_{time.strftime('%Y%m%d-%H%M%S')}"
    experiment_dir = storage / name

    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")  # finished trials reach the saved state within a second
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    ensure_ray(address)
    if tune_import is not None:
        tune_import.join()
    from ray import tune

    from trw_ray.hparams.tuning.recorder import (
        FinalResultStopper,
        QuietTrialProgress,
        SearchRecorder,
        forget_trials_tune_lost,
    )

    check_cluster_resources(bundles, workers)
    if workers is not None:
        import ray

        # Ray Train places each trial's workers itself: start no more trials than their workers fit at once, and
        # a stopped trial's actor ends with its workers (a reused actor would keep them training)
        total = ray.cluster_resources()
        fit = min(int(total.get(resource, 0) // (amount * workers.workers + 1e-12))
                  for resource, amount in (("CPU", workers.cpu_per_worker), ("GPU", workers.gpu_per_worker)) if amount)
        max_concurrent = min(max_concurrent or fit, max(1, fit))
        reuse_actors = False
    # a relative path is refused on a cluster of several nodes (resolved, it would name a folder of the driver's node)
    given = Path(storage_path).expanduser() if storage_path is not None else storage
    check_shared_storage(storage if given.is_absolute() else given)
    searcher, tune_scheduler = create_algorithm(plan, resolved, metric, mode, max_epochs, seed, max_concurrent)
    if max_total_epochs is not None:
        from ray.tune.search import Searcher

        from trw_ray.hparams.searchers.logic_searcher import BudgetLimiter
        from trw_ray.hparams.searchers.schedulers import BudgetScheduler
        from trw_ray.hparams.tuning.budget import SearchBudget

        budget = SearchBudget(max_total_epochs, experiment_dir)
        tune_scheduler = BudgetScheduler(tune_scheduler, budget)
        if isinstance(searcher, Searcher):
            searcher = BudgetLimiter(searcher, budget)
    if seed is not None:
        random.seed(seed)  # PBT's exploration draws from the random module

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, evaluate_fn=evaluate_fn, metric=metric, max_epochs=max_epochs, seed=seed,
                             cpus=cpus, experiment_dir=str(experiment_dir), space=resolved.parameters,
                             workers=workers),
        tune.PlacementGroupFactory(bundles))
    record_path = experiment_dir / layout.RECORD_FOLDER / layout.SEARCH_FILE
    recorder = SearchRecorder(experiment_dir, metric, mode, PROGRESS_EVERY_S if verbose == 1 else None)
    quiet = [] if verbose >= 2 else [QuietTrialProgress()]
    if exists:
        previous.setdefault("resumed", []).append(time.time())
        write_json_atomic(record_path, previous)
        forget_trials_tune_lost(experiment_dir)
        tuner = tune.Tuner.restore(str(experiment_dir), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
        # Tune restores the callbacks pickled when the search was created: this run's record keeper replaces them
        with_run_callbacks(tuner, [recorder, *quiet], FinalResultStopper(recorder))
    else:
        write_json_atomic(record_path, {
            "name": name, "algorithm": algorithm, "scheduler": scheduler, "search": plan.label, "metric": metric, "mode": mode, "num_samples": num_samples,
            "max_epochs": max_epochs, "seed": seed, "resources_per_trial": dict(resources_per_trial or {"cpu": 1}),
            "algorithm_options": dict(algorithm_options or {}), "scheduler_options": dict(scheduler_options or {}),
            "max_total_epochs": max_total_epochs, "space": resolved.describe(),
            "evaluate_fn": function_label(evaluate_fn),
            "space_file": resolved.source, "created": time.time(), "resumed": []})
        tuner = tune.Tuner(
            trainable,
            param_space=resolved.to_tune() if plan.tune_samples_space else None,
            tune_config=tune.TuneConfig(metric=metric, mode=mode, search_alg=searcher, scheduler=tune_scheduler,
                                        num_samples=num_samples, reuse_actors=reuse_actors),
            run_config=tune.RunConfig(
                name=name, storage_path=str(storage), verbose=1 if verbose >= 2 else 0, stop=FinalResultStopper(recorder),
                callbacks=[recorder, *quiet],
                failure_config=tune.FailureConfig(max_failures=max_failures),
                # PBT restores other trials' checkpoints: keep more of them than the schedulers that only resume
                checkpoint_config=tune.CheckpointConfig(num_to_keep=4 if plan.tune_samples_space else 2)))
    sync = TrackingSync([TensorBoardHParams(), *trackers], experiment_dir)
    sync.start(json.loads(record_path.read_text(encoding="utf-8")))
    if exists:
        sync.catch_up()
    recorder.tracking = sync
    # see Algorithm.trials_ahead. (Creating the trials a few at a time starts the first one sooner, but a driver
    # killed mid-search then came back with one trial too many: Tune's saved searcher count and trial list disagreed.)
    pending = plan.pending_trials(AlgorithmRequest(resolved, metric, mode, max_epochs, seed, max_concurrent,
                                                   plan.scheduler_options), num_samples)
    # below verbose=2 trw_ray prints the progress: Tune's legacy reporter at verbosity 0 prints nothing, where the
    # new one still prints its configuration box and a TensorBoard hint
    with environment_defaults({"TUNE_MAX_PENDING_TRIALS_PG": None if pending is None else str(pending),
                               "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": None if tune_loggers else "1",
                               "RAY_AIR_NEW_OUTPUT": None if verbose >= 2 else "0"}), \
            without_missing_tune_metrics_warning(), cached_trainable_lookups(), trial_actors_without_runtime_env(), \
            termination_ends_the_fit_gracefully(), interruption_noticed() as notice, \
            tracking_finished(sync, experiment_dir, TRACKING_TIMEOUT_S):
        tuner.fit()
    if recorder.search_error is not None:
        from trw_ray.train.tune_bridge import MetricNotReportedError

        raise MetricNotReportedError(recorder.search_error)
    if notice.interrupted:
        how = f"trw.hparams.search({function_name(evaluate_fn)}, name={name!r}, storage_path={str(storage)!r})"
        print(f"trw_ray: the search was interrupted; its finished trials are kept in {experiment_dir}. Resume it with "
              f"{how} or `trw-ray search ... --name {name}` (unfinished trials go on from their last checkpoint)",
              file=sys.stderr, flush=True)
        raise KeyboardInterrupt(f"search {name!r} interrupted")
    if max_total_epochs is not None:  # the final count, running trials' last epochs included
        from trw_ray.hparams.tuning.budget import SearchBudget

        SearchBudget(max_total_epochs, experiment_dir).save()
    from trw_ray.results import load

    return load(experiment_dir)


def _recorded_trainable(previous: Mapping[str, Any], experiment: Path) -> tuple[Callable | str | None, Any]:
    """``(evaluate_fn, space)`` a resumed search runs when none is given: its space file's trainable, or the
    function its record names when that can be imported (not one of a script's ``__main__``)."""
    source = previous.get("space_file")
    if source and Path(source).is_file():
        return None, source
    label = previous.get("evaluate_fn") or ""
    module, _, function = label.partition(":")
    if module and module != "__main__" and function.isidentifier():
        return label, None
    raise ValueError(f"evaluate_fn: resuming {str(experiment)!r} needs the function it ran (recorded as {label!r}); "
                     f"pass it again: search({function.split('(')[0] or 'evaluate_fn'}, name={experiment.name!r}, "
                     f"storage_path={str(experiment.parent)!r})")


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
