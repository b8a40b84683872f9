"""The worker side of a data-parallel fit (:mod:`trw_ray.train.distributed` has the whole story): each worker's
:class:`Rank` (its :class:`~trw_ray.train.world.World`), the loop every Ray Train worker runs, and the callbacks
that restore, relay and report each epoch."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trw_ray.train import world as worlds
from trw_ray.train.callbacks.base import Callback

RESULT_FILE = "trw_ray_distributed_result.pt"


@dataclass
class Rank(worlds.World):
    """This process's place in a data-parallel run (:func:`trw_ray.train.world.current_world` while a worker trains):
    what the loop does differently on N workers.

    ``relay`` (a ``ray.util.queue.Queue``) carries rank 0's per-epoch reports to the search trial that started the
    workers, with the search's ``metric``; ``initial_state`` is the trial's checkpoint to start from.
    """

    rank: int
    world_size: int
    relay: Any = None
    metric: str = "loss"
    initial_state: dict[str, Any] | None = None

    @property
    def is_distributed(self) -> bool:
        return True

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

    def shard_datasets(self, datasets):
        """Each split as this rank's share: an in-order sequence sharded by batch (``SequenceShard``); a Ray Data
        ``SequenceMap`` split across the workers (one pipeline, ``streaming_split``); a reservoir of this rank's
        samples."""
        from trw_ray.data.sequence_async_reservoir import SequenceAsyncReservoir
        from trw_ray.data.sequence_ops import SequenceShard

        shared: dict[str, dict[str, Any]] = {}
        for dataset_name, splits in datasets.items():
            for split_name, split in splits.items():
                pipeline = worker_pipeline(split)
                if pipeline is None:
                    shared.setdefault(dataset_name, {})[split_name] = SequenceShard(split, self.rank, self.world_size)
                elif isinstance(pipeline, SequenceAsyncReservoir) or pipeline.backend == "ray_data":
                    pipeline.split_across(self.rank, self.world_size, self.broadcast)
                    shared.setdefault(dataset_name, {})[split_name] = split
                else:
                    raise ValueError(f"workers: {dataset_name}/{split_name} is a {pipeline.describe()}, whose batches "
                                     "come in completion order, so the workers cannot share its batches out; give "
                                     "the data-parallel fit a SequenceMap with backend='ray_data' (one pipeline "
                                     "split across the workers), a reservoir, an in-order sequence (a "
                                     "SequenceArray, its chains), or the pipeline with nb_workers=0")
        return shared

    def forward_module(self, model, device, data_parallel: Any = "auto"):
        import torch

        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" and device.index is not None else None)

    def evaluation_module(self, model, forward):
        """The plain model: evaluation runs on each rank's share alone, with no collective in its forward."""
        return model

    def join(self, forward, train: bool):
        """DDP's ``join`` while training: ranks may have one batch fewer than the others."""
        return forward.join() if train else contextlib.nullcontext()

    def gather_split(self, collectors, sample_uids):
        """Every rank's per-sample values of the split, in single-process order."""
        if self.world_size == 1:
            return collectors, sample_uids
        local = ({name: {key: [value.detach().cpu() for value in values] for key, values in store.items()}
                  for name, store in collectors.items()}, [uid.cpu() for uid in sample_uids])
        gathered = self.gather(local)
        merged = {name: {key: merge_rank_batches([g[0][name][key] for g in gathered]) for key in store}
                  for name, store in local[0].items()}
        return merged, merge_rank_batches([g[1] for g in gathered])

    def describe(self, forward) -> str:
        return f" (rank {self.rank} of {self.world_size} data-parallel workers)"


def current_rank() -> Rank | None:
    """The rank of this process while it trains as a worker of a data-parallel fit, else None."""
    world = worlds.current_world()
    return world if isinstance(world, Rank) else None


@contextlib.contextmanager
def _as_rank(rank: Rank) -> Iterator[Rank]:
    from trw_ray.ray_session import set_training_worker

    previous_mark = set_training_worker(True)
    try:
        with worlds.entered(rank):
            yield rank
    finally:
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

def worker_loop(config: Mapping[str, Any]) -> None:
    """What each Ray Train worker runs: the trainer's fit on its share, in its world; rank 0 saves the results."""
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
