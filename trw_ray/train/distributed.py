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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trw_ray import checks
from trw_ray.train.callbacks.base import Callback

WORKER_KEYS = ("workers", "cpu_per_worker", "gpu_per_worker", "max_failures")
RESULT_FILE = "trw_ray_distributed_result.pt"

__all__ = ["Rank", "WorkersConfig", "current_rank", "fit_on_workers", "workers_config"]


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


@dataclass
class Rank:
    """This process's place in a data-parallel run (set while a worker trains).

    ``relay`` (a ``ray.util.queue.Queue``) carries rank 0's per-epoch reports to the search trial that started the
    workers, with the search's ``metric``; ``initial_state`` is the trial's checkpoint to start from.
    """

    rank: int
    world_size: int
    relay: Any = None
    metric: str = "loss"
    initial_state: dict[str, Any] | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def callbacks(self, pre_training, per_epoch, post_training_fn):
        """The run's callbacks on this rank: rank 0 runs the user's (and, inside a trial, the per-sample tables and
        the relay to the trial); every rank restores and reports to Ray Train."""
        pre = [CallbackRestoreFromTrain(), *((pre_training or []) if self.is_main else [])]
        per = list(per_epoch or []) if self.is_main else []
        if self.is_main and self.relay is not None:
            from trw_ray.train.callbacks.sample_tables import CallbackSampleTables

            if not any(isinstance(callback, CallbackSampleTables) for callback in per):
                per.append(CallbackSampleTables())
            per.append(CallbackRelayReport())
        per.append(CallbackTrainReport())
        return pre, per, post_training_fn if self.is_main else list

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (``torch.distributed.broadcast_object_list``)."""
        import torch.distributed as dist

        holder = [value if self.is_main else None]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order (``torch.distributed.all_gather_object``)."""
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered


_CURRENT: Rank | None = None


def current_rank() -> Rank | None:
    """The rank of this process while it trains as a worker of a data-parallel fit, else None."""
    return _CURRENT


@contextlib.contextmanager
def _as_rank(rank: Rank) -> Iterator[Rank]:
    from trw_ray.ray_session import set_training_worker

    global _CURRENT
    previous, _CURRENT = _CURRENT, rank
    previous_mark = set_training_worker(True)
    try:
        yield rank
    finally:
        _CURRENT = previous
        set_training_worker(previous_mark)


def worker_pipeline(sequence: Any):
    """The pipeline with Ray workers in ``sequence``'s chain (a ``SequenceMap`` or reservoir, whose batches come
    in completion order), or None."""
    from trw_ray.data.sequence_async_reservoir import SequenceAsyncReservoir
    from trw_ray.data.sequence_map import SequenceMap

    seen = 0
    while sequence is not None and seen < 32:
        if isinstance(sequence, (SequenceMap, SequenceAsyncReservoir)) and getattr(sequence, "nb_workers", 0):
            return sequence
        sequence, seen = getattr(sequence, "source", None), seen + 1
    return None


def merge_rank_batches(per_rank: list[list[Any]]) -> list[Any]:
    """Per-batch values of every rank, in the order of a single process: rank r's j-th batch is the global batch
    ``j * world_size + r``."""
    merged = []
    for index in range(max((len(values) for values in per_rank), default=0)):
        merged.extend(values[index] for values in per_rank if index < len(values))
    return merged


# ---------------------------------------------------------------------------------------------- in the workers

def _worker_loop(config: Mapping[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch

    context = ray.train.get_context()
    rank = Rank(context.get_world_rank(), context.get_world_size(), config.get("relay"), config.get("metric", "loss"),
                config.get("initial_state"))
    trainer, options = config["trainer"], config["options"]
    workflow = options["workflow_options"]
    workflow["device"] = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    torch.set_num_threads(max(1, int(config["cpu_per_worker"])))
    scratch = None
    if rank.is_main:
        run_dir = Path(config["run_dir"])
    else:
        scratch = tempfile.mkdtemp(prefix=f"trw_ray_rank{rank.rank}_")
        run_dir = Path(scratch)
        workflow["console_log"], workflow["progress_bar"] = False, False
    try:
        with _as_rank(rank):
            model, results = trainer.fit_in_run_folder(
                run_dir, options, config["inputs_fn"], config["model_fn"], config["optimizers_fn"],
                run_prefix=config["run_prefix"], eval_every_X_epoch=config["eval_every_X_epoch"])
        if rank.is_main:
            torch.save({"results": results, "model": {k: v.cpu() for k, v in model.state_dict().items()}},
                       Path(config["result_dir"]) / RESULT_FILE)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


class CallbackRestoreFromTrain(Callback):
    """Pre-training, every rank: the state of Ray Train's last checkpoint when the group was restarted."""

    def __init__(self):
        super().__init__(strict=True)  # a rank that failed here would leave the others waiting

    def __call__(self, context) -> None:
        import ray.train

        from trw_ray.train.tune_bridge import load_checkpoint_state, restore_trainer_state

        checkpoint = ray.train.get_checkpoint()
        rank = current_rank()
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:
                state = load_checkpoint_state(folder)
            where = "the data-parallel checkpoint"
        else:
            state, where = (rank.initial_state if rank is not None else None), "the trial's checkpoint"
        if state is not None:
            restore_trainer_state(context, state)
            context.logger.info("resumed from %s at epoch %d", where, context.epoch)


def _to_cpu(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value


class CallbackRelayReport(Callback):
    """Rank 0 inside a search trial: the epoch's report and state, to the trial (which reports them to Tune as a
    one-process trial would, see :class:`trw_ray.train.tune_bridge.CallbackTuneReport`). The relay holds one
    report: the next epoch starts once the trial took this one."""

    def __init__(self):
        super().__init__(strict=True)

    def __call__(self, context) -> None:
        from trw_ray.train.tune_bridge import epoch_metrics, trainer_state

        rank = current_rank()
        if not context.history or rank is None or rank.relay is None:
            return
        metrics = epoch_metrics(context.history, rank.metric, context.epoch)
        rank.relay.put({"metrics": metrics, "state": _to_cpu(trainer_state(context)), "last": context.is_last_epoch})


class CallbackTrainReport(Callback):
    """After every epoch, every rank: ``ray.train.report``, with rank 0's state as the checkpoint."""

    def __init__(self):
        super().__init__(strict=True)

    def __call__(self, context) -> None:
        import ray.train
        import torch

        from trw_ray.train.tune_bridge import CHECKPOINT_FILENAME, flatten_metrics, trainer_state

        metrics = {"epoch": context.epoch, **(flatten_metrics(context.history[-1], "loss") if context.history else {})}
        rank = current_rank()
        if rank is None or not rank.is_main:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="trw_ray_ddp_ckpt_") as folder:
            torch.save(trainer_state(context), Path(folder) / CHECKPOINT_FILENAME)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


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
        _worker_loop, train_loop_config=config,
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
