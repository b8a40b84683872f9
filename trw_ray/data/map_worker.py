"""What runs inside a pipeline worker (a Ray actor or Ray Data actor of ``SequenceMap``, a reservoir actor): rebuild
a batch from the source arrays, apply the user's function, check the result; and how the plain Ray actors are
started and stopped.

This module imports neither torch nor Ray: a worker whose function is numpy-only (the transforms of
``trw_ray.data.transforms`` on numpy batches) starts without loading torch, about 2 s and a few hundred MB less
per worker; torch, if the function brings it, runs on one thread.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from trw_ray.data.batch_utils import batch_length
from trw_ray.data.sequence import epoch_permutation
from trw_ray.lazy_import import is_tensor, when_imported

EPOCH_COLUMN = "__trw_ray_epoch"
ERROR_COLUMN = "__trw_ray_error"
BATCH_COLUMN = "__trw_ray_batch"


# A job whose worker process dies is retried this many times on the restarted worker: a worker killed once (OOM
# killer, node lost) costs one retry, while a function that crashes its process on some samples fails the epoch
# with an error instead of restarting the worker forever.
JOB_RETRIES = 3


class SequenceMapError(RuntimeError):
    """``function_to_run`` failed (or returned something that is not a batch) on some samples."""


def accepts_epoch(function: Callable) -> bool:
    """Whether ``function`` takes an ``epoch`` keyword (a pipeline passes the epoch only to those that do)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "epoch" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def describe_uids(batch: Mapping[str, Any]) -> str:
    """The batch's first sample uids, for an error message."""
    uids = batch.get("sample_uid")
    if uids is None:
        return "samples without sample_uid"
    uids = np.asarray(uids).reshape(-1).tolist()
    return f"sample_uid {uids[:8]}{' ...' if len(uids) > 8 else ''}"


def apply_function(function: Callable, batch: dict[str, Any], epoch: int, with_epoch: bool) -> dict[str, Any]:
    """Runs ``function`` on ``batch`` and checks its result; errors name the samples."""
    try:
        result = function(batch, epoch=epoch) if with_epoch else function(batch)
    except Exception as error:
        raise SequenceMapError(f"function_to_run raised {type(error).__name__} on {describe_uids(batch)} "
                               f"(epoch {epoch}):\n{traceback.format_exc()}") from error
    if not isinstance(result, Mapping):
        raise SequenceMapError(f"function_to_run must return a dict batch; got {type(result).__name__} "
                               f"on {describe_uids(batch)}")
    try:
        batch_length(result, "function_to_run's result")
    except (TypeError, ValueError) as error:
        raise SequenceMapError(f"{error} (on {describe_uids(batch)})") from None
    return dict(result)


def _to_numpy_columns(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    columns = {}
    for name, value in batch.items():
        if is_tensor(value):
            value = value.detach().cpu().numpy()
        elif isinstance(value, (list, tuple)):
            array = np.empty(len(value), dtype=object)
            array[:] = list(value)
            value = array
        columns[name] = np.asarray(value)
    return columns


class MapWorker:
    """The worker: rebuilds the batches of a job from the source arrays and applies the function.

    ``arrays`` is the source's dict of arrays, or an ObjectRef of it (a Ray Data actor), or None when every call
    brings the arrays (the plain Ray actors of :func:`create_worker_actors`: an actor that Ray restarts re-runs
    its constructor, and Ray cannot guarantee object-store arguments of a constructor to outlive the actor, so it
    warns for each one).
    """

    def __init__(self, arrays, function, batch_size: int, shuffle: bool, seed: int):
        if arrays is not None and not isinstance(arrays, dict):
            import ray

            arrays = ray.get(arrays)
        self.arrays = arrays
        self.function, self.accepts_epoch = function, accepts_epoch(function)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.orders: dict[int, np.ndarray] = {}
        when_imported("torch", lambda torch: torch.set_num_threads(1))

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self.orders:
            num_samples = len(next(iter(self.arrays.values())))
            self.orders = {epoch: epoch_permutation(num_samples, self.seed, epoch, self.shuffle)}
        return self.orders[epoch]

    def __call__(self, jobs: dict[str, np.ndarray], arrays: dict | None = None) -> dict[str, np.ndarray]:
        """Processes batches ``index .. index + count - 1`` of ``epoch`` (of ``arrays`` when given); one output
        block for all of them, its rows tagged with their epoch and batch (larger jobs amortize the cost per call)."""
        if arrays is not None:
            self.arrays = arrays
        epoch, first = int(jobs["epoch"][0]), int(jobs["index"][0])
        count = int(jobs["count"][0]) if "count" in jobs else 1
        results = []
        for index in range(first, first + count):
            rows = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
            batch = {name: values[rows] if isinstance(values, np.ndarray) else [values[r] for r in rows]
                     for name, values in self.arrays.items()}
            try:
                result = _to_numpy_columns(apply_function(self.function, batch, epoch, self.accepts_epoch))
            except SequenceMapError as error:
                # returned, not raised: a failed Ray Data execution leaves its actors alive, a closed one does not
                message = np.empty(1, dtype=object)
                message[0] = str(error)
                return {ERROR_COLUMN: message, EPOCH_COLUMN: np.array([epoch], dtype=np.int64)}
            size = len(next(iter(result.values())))
            result[EPOCH_COLUMN] = np.full(size, epoch, dtype=np.int64)
            result[BATCH_COLUMN] = np.full(size, index, dtype=np.int64)
            results.append(result)
        if len(results) == 1:
            return results[0]
        return {name: np.concatenate([r[name] for r in results]) for name in results[0]}


def put_source_arrays(source):
    """An ObjectRef of the arrays of ``source`` (an in-RAM ``SequenceArray``), put once in Ray's object store
    and shared by every worker without a copy."""
    import ray

    return ray.put({name: np.asarray(values) if isinstance(values, np.ndarray) else values
                    for name, values in source.split.items()})


def create_worker_actors(source, function: Callable, nb_workers: int, num_cpus_per_worker: float):
    """``nb_workers`` plain Ray actors running :class:`MapWorker` for ``source`` (an in-RAM ``SequenceArray``),
    restarted by Ray when they die and their calls retried (``JOB_RETRIES`` times); inside a Ray Tune trial they
    take the trial's placement group. Returns ``(actors, arrays_ref)``: the source's arrays, put once in the object store, to pass
    with every call (``actor.__call__.remote(job, arrays_ref)``; Ray maps them without a copy)."""
    from trw_ray.ray_session import current_placement_group_strategy, ensure_ray

    ray = ensure_ray()
    arrays_ref = put_source_arrays(source)
    options = {"num_cpus": num_cpus_per_worker, "max_restarts": -1, "max_task_retries": JOB_RETRIES}
    strategy = current_placement_group_strategy()
    if strategy is not None:  # inside a Tune trial: the actors take the trial's bundles
        options["scheduling_strategy"] = strategy
    worker_class = ray.remote(**options)(MapWorker)
    actors = [worker_class.remote(None, function, source.batch_size, source.shuffle, source.seed)
              for _ in range(nb_workers)]
    return actors, arrays_ref


def stop_worker_actors(actors: list, in_flight: list, timeout_s: float = 2.0) -> None:
    """Cancels the queued calls ``in_flight``, lets the running ones finish for up to ``timeout_s`` (Ray would
    retry the calls of a killed actor, warning for each), then kills ``actors`` for good."""
    import ray

    for reference in in_flight:
        ray.cancel(reference)
    if in_flight:
        ray.wait(in_flight, num_returns=len(in_flight), timeout=timeout_s)
    for actor in actors:
        ray.kill(actor, no_restart=True)
