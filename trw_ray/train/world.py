"""What a data-parallel run looks like to the training loop: its :class:`World`.

The loop (:class:`~trw_ray.train.trainer.Trainer`) asks :func:`current_world` and calls the same methods whether it
runs alone or as one of N data-parallel workers. A single process is a world of one (rank 0 of 1: the datasets
whole, the model as built, the values of each split as they came); a worker of a data-parallel fit is a
:class:`~trw_ray.train.distributed.Rank`, which overrides each of these for DistributedDataParallel
(:mod:`trw_ray.train.distributed` enters it with :func:`entered`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any


class World:
    """A single process: rank 0 of a world of 1. Each method is what the loop does when it runs alone."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder and runs the callbacks."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return False

    def callbacks(self, pre_training: list, per_epoch: list, post_training_fn):
        """The run's callbacks on this process: all of them."""
        return pre_training, per_epoch, post_training_fn

    def shard_datasets(self, datasets: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
        """This process's share of every split: all of it."""
        return datasets

    def forward_module(self, model, device, data_parallel: Any = "auto"):
        """The module that trains: ``model`` itself, or split over the machine's GPUs (``data_parallel``, see
        :func:`~trw_ray.train.data_parallel.data_parallel_devices`)."""
        from trw_ray.train.data_parallel import DataParallelOutputs, data_parallel_devices

        devices = data_parallel_devices(device, data_parallel)
        return DataParallelOutputs(model, device_ids=devices) if devices else model

    def evaluation_module(self, model, forward):
        """The module that evaluates: the training one."""
        return forward

    def join(self, forward, train: bool) -> contextlib.AbstractContextManager:
        """Entered around a split's batches (DDP's ``join`` in a data-parallel worker)."""
        return contextlib.nullcontext()

    def gather_split(self, collectors: dict[str, dict[str, list]], sample_uids: list) -> tuple[dict, list]:
        """Every process's per-batch values of a split, in single-process order: here, this process's."""
        return collectors, sample_uids

    def describe(self, forward) -> str:
        """What the run log says of where the model trains, besides its device (``forward``: the training module)."""
        devices = getattr(forward, "device_ids", None)
        return f" (data parallel over GPUs {devices})" if devices else ""

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        return value

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order."""
        return [value]


SINGLE_PROCESS = World()
_CURRENT: World = SINGLE_PROCESS


def current_world() -> World:
    """The world of this process while it trains: a data-parallel worker's rank, else the world of one."""
    return _CURRENT


@contextlib.contextmanager
def entered(world: World) -> Iterator[World]:
    """``world`` is :func:`current_world` inside the block (what a data-parallel worker runs its fit in)."""
    global _CURRENT
    previous, _CURRENT = _CURRENT, world
    try:
        yield world
    finally:
        _CURRENT = previous
