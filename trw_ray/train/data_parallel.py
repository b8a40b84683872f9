"""Training one model on every GPU a process sees: ``torch.nn.DataParallel`` for models that return outputs.

A trial of a search given ``{'gpu': 2}`` sees two devices (Ray sets ``CUDA_VISIBLE_DEVICES``); the Trainer then
splits each batch across them with :class:`DataParallelOutputs` (``data_parallel='auto'``, the default). The model
keeps returning ``{name: Output}``; the replicas' outputs are concatenated back on the first device, so losses,
metrics and reports see the whole batch. Checkpoints, exports and ``context.model`` stay the plain module.

DataParallel (one process, one replica per GPU per step) keeps a trial one process that reports to Tune and owns
its pipeline: it starts no processes (Ray Train's workers take ~15 s to start on 2 cores) and it takes any input
pipeline, those that yield batches in completion order (``SequenceMap``, the reservoir) included. For more GPUs,
or nodes, train data-parallel with DistributedDataParallel instead: ``Trainer(workers=N)`` or
``resources_per_trial={'workers': N, ...}`` (:mod:`trw_ray.train.distributed`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

DATA_PARALLEL_CHOICES = ("auto", True, False)


def data_parallel_devices(device: torch.device, data_parallel: str | bool = "auto") -> list[int] | None:
    """The CUDA device ids to split batches over, or None to train on ``device`` alone.

    ``'auto'``: every visible GPU when ``device`` is ``cuda`` without an index and more than one GPU is visible.
    True: the same, but fewer than two GPUs is an error. False: never.
    """
    if data_parallel not in DATA_PARALLEL_CHOICES:
        raise ValueError(f"data_parallel: expected one of {list(DATA_PARALLEL_CHOICES)}; got {data_parallel!r}")
    if data_parallel is False:
        return None
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    usable = device.type == "cuda" and device.index is None and count > 1
    if data_parallel is True and not usable:
        raise ValueError(f"data_parallel: True needs the device 'cuda' and at least two visible GPUs; the device is "
                         f"{str(device)!r} and {count} GPU(s) are visible")
    return list(range(count)) if usable else None


def _gather_value(values: Sequence[Any], device: torch.device | int) -> Any:
    first = values[0]
    if isinstance(first, torch.Tensor):
        if first.dim() == 0:  # e.g. a scalar a replica computed: the mean over replicas
            return torch.stack([value.to(device) for value in values]).mean()
        return torch.cat([value.to(device) for value in values], dim=0)
    if isinstance(first, Mapping):
        return type(first)((key, _gather_value([value[key] for value in values], device)) for key in first)
    if hasattr(first, "__dict__") and not isinstance(first, type):  # an Output: gather its batch-first tensors
        gathered = copy.copy(first)
        for name, attribute in vars(first).items():
            if isinstance(attribute, torch.Tensor) and attribute.dim() > 0:
                setattr(gathered, name, torch.cat([getattr(value, name).to(device) for value in values], dim=0))
        return gathered
    return first


class DataParallelOutputs(torch.nn.DataParallel):
    """``torch.nn.DataParallel`` whose model may return ``{name: Output}``: each output's batch-first tensors
    (``output``, per-sample ``weights``...) are concatenated over the replicas on the output device; other
    attributes (target names, criteria) are taken from the first replica."""

    def gather(self, outputs: Sequence[Any], output_device: Any) -> Any:
        device = torch.device("cuda", output_device) if isinstance(output_device, int) else output_device
        return _gather_value(list(outputs), device)
