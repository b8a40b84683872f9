"""Data-parallel training: one ``Trainer.fit`` on N workers with DistributedDataParallel, run by Ray Train.

    trainer = trw.train.Trainer(workers=2)      # or {'workers': 2, 'cpu_per_worker': 1, 'gpu_per_worker': 1}
    model, results = trainer.fit(options, inputs_fn, model_fn, optimizers_fn)

How it runs: the driver creates the run folder and starts N Ray Train workers (Ray Train V2's ``TorchTrainer``;
the gloo back-end on CPU, NCCL on GPUs). Every worker builds the datasets, the model and the optimizers as a
single-process fit would (the same seed gives the same initial weights; DDP broadcasts rank 0's anyway) and trains
on its share of each split, :class:`~trw_ray.data.sequence_ops.SequenceShard`: batches ``rank, rank + N, ...``.
So the split's batch size is the batch of one worker, the global batch is N of them (N x the batch size, as a
single-process fit with an N times larger batch), and the workers together see every sample once per epoch.
DDP averages the gradients; a worker with one batch fewer than the others joins (DDP's ``join``).

Evaluation: every worker evaluates its share with the plain module, then the per-sample values of all workers are
gathered in the order a single process would have produced them, so every metric (and the per-sample tables)
equals a single-process evaluation of the same model. The training split's metrics are gathered the same way;
a step's own metrics (``add_metric``) are rank 0's.

Rank 0 writes the run folder and runs the callbacks (reports, exports); the other ranks run none and keep no
files. Every epoch ends with ``ray.train.report`` and a checkpoint of rank 0's state (model, optimizers,
schedulers, history); when a worker dies, Ray Train restarts the group (``max_failures`` times) and every worker
resumes from that checkpoint, in the same run folder. ``fit`` returns the trained model (built with ``model_fn``
in the calling process, with rank 0's weights) and rank 0's results.

Pipelines: a ``SequenceMap`` with ``backend='ray_data'`` is ONE pipeline for all workers, its stream split across
them (:meth:`~trw_ray.data.SequenceMap.split_across`, ``streaming_split``); a reservoir becomes one per worker over
its share of the samples (:meth:`~trw_ray.data.SequenceAsyncReservoir.split_across`); a ``SequenceMap`` on plain
actors, whose batches come in completion order to one process, is refused. Inside a worker, pipelines take the
cluster's CPUs, not the worker group's placement group (:func:`trw_ray.ray_session.current_placement_group`).

Requirements: the logging directory must be seen by the node that runs rank 0 (on a cluster: a shared folder),
and the cluster must hold the N workers' CPUs (and GPUs) at once.

Inside a search, ``resources_per_trial={'workers': N, ...}`` trains every trial this way: rank 0 relays each
epoch's report and state to the trial (:class:`CallbackRelayReport`), which reports them to Tune.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trw_ray import checks
from trw_ray.train.distributed_worker import (
    RESULT_FILE,
    Rank,
    current_rank,
    merge_rank_batches,
    worker_loop,
    worker_pipeline,
)

WORKER_KEYS = ("workers", "cpu_per_worker", "gpu_per_worker", "max_failures")

__all__ = ["Rank", "WorkersConfig", "current_rank", "fit_on_workers", "merge_rank_batches", "worker_pipeline",
           "workers_config"]


@dataclass(frozen=True)
class WorkersConfig:
    """``workers`` training processes of ``cpu_per_worker`` CPUs and ``gpu_per_worker`` GPUs each; a dead worker
    restarts the group from the last epoch's checkpoint up to ``max_failures`` times."""

    workers: int
    cpu_per_worker: float = 1.0
    gpu_per_worker: float = 0.0
    max_failures: int = 0


def workers_config(value: Any) -> WorkersConfig | None:
    """``None`` or 1 (one process), an integer N >= 2, or a dict of :data:`WORKER_KEYS`, checked."""
    if value is None:
        return None
    if isinstance(value, WorkersConfig):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(WORKER_KEYS))
        if unknown:
            raise ValueError(f"workers: unknown key(s) {unknown}; allowed: {list(WORKER_KEYS)}")
        if "workers" not in value:
            raise ValueError(f"workers: expected a dict with 'workers' (the number of processes); got {dict(value)!r}")
        settings = dict(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        settings = {"workers": value}
    else:
        raise TypeError(f"workers: expected None, a number of worker processes or a dict like {{'workers': 2, "
                        f"'cpu_per_worker': 1, 'gpu_per_worker': 0}}; got {value!r}")
    count = checks.positive_int(settings["workers"], "workers")
    cpu = checks.number(settings.get("cpu_per_worker", 1.0), "workers: 'cpu_per_worker'")
    gpu = checks.number(settings.get("gpu_per_worker", 0.0), "workers: 'gpu_per_worker'")
    if cpu <= 0 and gpu <= 0:
        raise ValueError("workers: a worker needs some 'cpu_per_worker' or 'gpu_per_worker'; got 0 for both")
    failures = checks.positive_int(settings.get("max_failures", 0), "workers: 'max_failures'", 0)
    return None if count == 1 else WorkersConfig(count, float(cpu), float(gpu), failures)


# ---------------------------------------------------------------------------------------------- the driver

def check_worker_resources(workers: WorkersConfig, argument: str = "workers") -> None:
    """Raises at once when the Ray cluster cannot hold the workers together (Ray Train would wait forever)."""
    import ray

    total = ray.cluster_resources()
    for resource, amount in (("CPU", workers.cpu_per_worker), ("GPU", workers.gpu_per_worker)):
        needed = amount * workers.workers
        if needed > total.get(resource, 0.0) + 1e-9:
            raise ValueError(f"{argument}: {workers.workers} workers x {amount:g} {resource} need {needed:g} "
                             f"{resource} at once, but the Ray cluster has {total.get(resource, 0.0):g} (Ray Train "
                             "would wait for them forever); lower 'workers' or the per-worker resources")


def fit_on_workers(trainer, workers: WorkersConfig, options, inputs_fn, model_fn, optimizers_fn, run_prefix,
                   eval_every_X_epoch, search=None):
    """``trainer.fit`` on ``workers`` Ray Train workers; returns ``(model, results)`` as ``fit`` does.

    Inside a search trial (``search``: its context), rank 0 relays every epoch's report and state to this process,
    which reports them to Tune; the trial's checkpoint, if any, is where the workers start.
    """
    import torch

    from trw_ray.ray_session import ensure_ray
    from trw_ray.train.run_folder import create_run_directory

    ensure_ray()
    check_worker_resources(workers)
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    run_dir = create_run_directory(options["workflow_options"]["logging_directory"], run_prefix)
    storage = run_dir / ".ray_train"
    result_dir = Path(tempfile.mkdtemp(prefix="trw_ray_ddp_", dir=run_dir))
    use_gpu = workers.gpu_per_worker > 0
    resources = {"CPU": workers.cpu_per_worker} | ({"GPU": workers.gpu_per_worker} if use_gpu else {})
    worker_options = {**options, "workflow_options": {**options["workflow_options"], "device": None}}
    config = {"trainer": trainer, "options": worker_options, "inputs_fn": inputs_fn, "model_fn": model_fn,
              "optimizers_fn": optimizers_fn, "run_prefix": run_prefix, "eval_every_X_epoch": eval_every_X_epoch,
              "run_dir": str(run_dir), "result_dir": str(result_dir), "use_gpu": use_gpu,
              "cpu_per_worker": workers.cpu_per_worker}
    relay = None
    if search is not None:
        from ray.util.queue import Queue

        search.run_dirs.append(str(run_dir))
        relay = Queue(maxsize=1, actor_options={"num_cpus": 0})
        config.update(relay=relay, metric=search.metric, initial_state=search.checkpoint_state)
        search.checkpoint_state = None
    torch_trainer = TorchTrainer(
        worker_loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers.workers, use_gpu=use_gpu, resources_per_worker=resources),
        run_config=RunConfig(name=f"{run_prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
                             storage_path=str(storage),
                             failure_config=FailureConfig(max_failures=workers.max_failures)))
    try:
        with _quiet_train_logs():
            if relay is None:
                torch_trainer.fit()
            else:
                _fit_relaying(torch_trainer, relay, search)
    except Exception as error:
        raise _training_error(error) from error
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if relay is not None:
            relay.shutdown()
    try:
        saved = torch.load(result_dir / RESULT_FILE, map_location="cpu", weights_only=False)
    finally:
        shutil.rmtree(result_dir, ignore_errors=True)
    model = model_fn(options)
    model.load_state_dict(saved["model"])
    return model.to(options["workflow_options"]["device"]), saved["results"]


def _fit_relaying(torch_trainer, relay, search) -> None:
    """Runs ``torch_trainer.fit()`` in a thread while this (the trial's) thread reports what rank 0 relays: the
    last epoch's report is held back for the trial's final report, as in a one-process trial."""
    import threading
    from queue import Empty

    from trw_ray.train.tune_bridge import flush_pending

    failures: list[BaseException] = []

    def fit() -> None:
        try:
            torch_trainer.fit()
        except BaseException as error:  # noqa: BLE001 - raised in the trial's thread below
            failures.append(error)

    thread = threading.Thread(target=fit, name="trw_ray-data-parallel-fit", daemon=True)
    thread.start()
    while thread.is_alive() or not relay.empty():
        try:
            item = relay.get(timeout=0.5)
        except Empty:
            continue
        flush_pending(search)
        search.pending = {"metrics": item["metrics"], "state": item["state"]}
        if not item["last"]:
            flush_pending(search)
    thread.join()
    if failures:
        raise failures[0]


def _training_error(error: BaseException) -> BaseException:
    """The worker's own exception (a diverged loss, the user's error) rather than Ray Train's wrapper."""
    from trw_ray.train.step import TrainingDivergedError

    seen, cause = 0, error
    while cause is not None and seen < 16:
        for candidate in (cause, *getattr(cause, "worker_failures", {}).values()):
            if isinstance(candidate, TrainingDivergedError):
                return TrainingDivergedError(str(candidate))
        cause, seen = getattr(cause, "cause", None) or cause.__cause__, seen + 1
    return RuntimeError(f"workers: the data-parallel training failed: {error}")


@contextlib.contextmanager
def _quiet_train_logs():
    """Ray Train prints its controller's progress at INFO; trw_ray's run folder has the training log."""
    import logging

    loggers = [logging.getLogger(name) for name in ("ray.train", "ray.train.v2")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
