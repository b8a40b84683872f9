"""``SequenceMap``: applies a function (loading, augmentation) to the batches of a source sequence in a pool
of Ray actors, streaming the results to the training loop.

Two back-ends run the same worker (:class:`~trw_ray.data.map_worker.MapWorker`) on the same jobs, ``(epoch,
first batch, batch count)``: each worker holds the source's arrays (shared through the object store) and
rebuilds the batches itself, so batches never travel from the driver.

- ``backend="actors"`` (default): plain Ray actors created once per sequence and fed by the training process,
  which keeps ``max_jobs_at_once`` jobs in flight, running ahead into the next epoch. Ray restarts an actor
  that dies and retries its calls.
- ``backend="ray_data"``: a Ray Data ``map_batches`` actor pool (``ActorPoolStrategy``) whose execution spans
  ``epochs_per_execution`` epochs. Ray Data restarts dead actors and retries their jobs. Each execution starts
  its own actors, and Ray's first execution also starts Ray Data's helper actors: measured on 2 cores, 6-7 s to
  the first batch against under 1 s for the actors back-end, and less than half its throughput over 5 epochs
  with a cheap function (``benchmarks/pipeline_throughput.py``).

In a data-parallel fit (``Trainer(workers=N)``) a Ray Data ``SequenceMap`` feeds all N training workers from one
pipeline (:meth:`SequenceMap.split_across`: rank 0's stream split with ``streaming_split``).

A pool never waits forever for CPUs another pipeline holds: it shrinks, or shares them, with a warning
(:mod:`trw_ray.data.worker_pool`). An epoch yields every batch of that epoch exactly once, in completion order. An exception raised by the function
stops the epoch with a ``SequenceMapError`` naming the samples and carrying the original traceback.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from trw_ray.data.batch_utils import to_tensors
from trw_ray.data.map_worker import (
    BATCH_COLUMN,
    EPOCH_COLUMN,
    ERROR_COLUMN,
    JOB_RETRIES,
    SequenceMapError,
    accepts_epoch,
    apply_function,
    create_worker_actors,
    describe_uids,
    put_source_arrays,
    stop_worker_actors,
)
from trw_ray.data.ray_data_jobs import end_failed_execution_actors
from trw_ray.data.sequence import Batch, Sequence, positive_int
from trw_ray.data.worker_pool import PipelinePlacementError, PoolSize, check_placed, release_pool, size_pool


def split_job_block(block: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The batches of one job's output block (rows grouped by their batch column, which is dropped)."""
    batch_ids = block[BATCH_COLUMN]
    boundaries = np.flatnonzero(np.diff(batch_ids)) + 1
    starts, stops = np.concatenate([[0], boundaries]), np.concatenate([boundaries, [len(batch_ids)]])
    columns = {name: values for name, values in block.items() if name != BATCH_COLUMN}
    return [{name: values[start:stop] for name, values in columns.items()} for start, stop in zip(starts, stops, strict=False)]


BACKENDS = ("actors", "ray_data")
# the samples of one job by default when one Ray Data pipeline feeds several training workers: blocks of 128
# samples left 2 workers waiting 41% of the time for a cheap augmentation, of 1,024 6% (benchmarks/distributed.py)
SPLIT_JOB_SAMPLES = 1024


@dataclass(frozen=True)
class WorkerSplit:
    """This training worker's place among ``world_size`` data-parallel workers that share one pipeline;
    ``broadcast(value)`` returns rank 0's ``value`` on every rank (a collective: every rank calls it)."""

    rank: int
    world_size: int
    broadcast: Callable[[Any], Any]


class SequenceMap(Sequence):
    """Applies ``function_to_run`` to every batch of ``source``, in ``nb_workers`` Ray actors.

    Args:
        source: an in-RAM sequence (:class:`SequenceArray`, whose arrays are shared with the workers).
        function_to_run: ``batch -> batch`` (or ``(batch, epoch) -> batch``, e.g. a
            :class:`~trw_ray.data.transforms.TransformBatch`); must be picklable.
        nb_workers: actors in the pool; 0 runs the function inline in the training process (for debugging);
            with ``backend="ray_data"``, ``(min, max)`` makes an autoscaling pool.
        max_jobs_at_once: jobs prefetched ahead of the training loop (default ``2 * nb_workers``).
        batches_per_job: batches one worker call processes (default: enough for about 256 samples); a call
            costs a few milliseconds (tens with Ray Data on 2 cores), which larger jobs amortize.
        num_cpus_per_worker: CPUs each actor reserves.
        backend: ``"actors"`` (plain Ray actors fed by the training process) or ``"ray_data"`` (a Ray Data
            ``map_batches`` actor pool); see the module's documentation for what each costs.
        epochs_per_execution: with ``backend="ray_data"``, epochs one Ray Data execution (one set of actors) serves.

    Examples:
        >>> augmented = SequenceArray(split, batch_size=64).map(TransformBatch(RandomCropPad(2)), nb_workers=2)
    """

    def __init__(self, source: Sequence, function_to_run: Callable, nb_workers: int = 2,
                 max_jobs_at_once: int | None = None, num_cpus_per_worker: float = 1.0,
                 epochs_per_execution: int = 10, batches_per_job: int | None = None, backend: str = "actors"):
        if not callable(function_to_run):
            raise TypeError(f"function_to_run: expected a callable batch -> batch; got {function_to_run!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
        pool_size = nb_workers
        if isinstance(nb_workers, tuple):
            if (backend != "ray_data" or len(nb_workers) != 2 or not all(isinstance(n, int) for n in nb_workers)
                    or not 1 <= nb_workers[0] <= nb_workers[1]):
                raise ValueError(f"nb_workers: an autoscaling pool is (min, max) with 1 <= min <= max, and needs "
                                 f"backend='ray_data'; got {nb_workers!r} with backend={backend!r}")
            nb_workers = nb_workers[1]
        if not isinstance(nb_workers, int) or isinstance(nb_workers, bool) or nb_workers < 0:
            raise ValueError(f"nb_workers: expected an integer >= 0 (or (min, max) with backend='ray_data'); "
                             f"got {nb_workers!r}")
        if max_jobs_at_once is not None:
            positive_int(max_jobs_at_once, "max_jobs_at_once")
        positive_int(epochs_per_execution, "epochs_per_execution")
        if not isinstance(num_cpus_per_worker, (int, float)) or num_cpus_per_worker < 0:
            raise ValueError(f"num_cpus_per_worker: expected a number >= 0; got {num_cpus_per_worker!r}")
        if nb_workers > 0 and not all(hasattr(source, a) for a in ("split", "epoch_order", "batch_size")):
            raise TypeError(f"source: Ray workers need an in-RAM SequenceArray source; got {type(source).__name__} "
                            "(use nb_workers=0, or wrap the data in a SequenceArray)")
        self.source, self.function_to_run = source, function_to_run
        self.nb_workers, self.num_cpus_per_worker = nb_workers, num_cpus_per_worker
        self.pool_size = pool_size  # nb_workers, or (min, max) for Ray Data's autoscaling pool
        self.max_jobs_at_once = max_jobs_at_once or max(2, 2 * nb_workers)
        self.epochs_per_execution, self.backend = epochs_per_execution, backend
        if batches_per_job is not None:
            positive_int(batches_per_job, "batches_per_job")
        self._batches_per_job_given = batches_per_job is not None
        self.batches_per_job = batches_per_job or max(1, 256 // max(1, getattr(source, "batch_size", 256)))
        self.class_names = getattr(source, "class_names", {})
        self.epoch = 0
        self._accepts_epoch = accepts_epoch(function_to_run)
        self._iterator = None
        self._stream_epochs = range(0)
        self._buffer: dict[int, deque] = defaultdict(deque)
        self._arrays_ref = None
        self._workers: list = []
        self._in_flight: dict = {}  # ObjectRef of a job's result -> (worker index, epoch, first batch, batch count)
        self._next_job = (0, 0)  # (epoch, first batch) of the next job to submit
        self._buffered_batches = 0
        self._started_at: float | None = None  # when the actors were created, until their first result
        self._split: WorkerSplit | None = None
        self._shards: list | None = None  # streaming_split's iterators (rank 0 keeps their coordinator alive)
        self._stream_ended = False

    def __len__(self) -> int:
        """Batches per epoch (split across data-parallel workers: this worker's share, give or take one job)."""
        if self._split is None:
            return len(self.source)
        return -(-len(self.source) // self._split.world_size)

    def describe(self) -> str:
        return f"SequenceMap(nb_workers={self.pool_size!r}, backend={self.backend!r})"

    def split_across(self, rank: int, world_size: int, broadcast: Callable[[Any], Any]) -> SequenceMap:
        """Feeds one of ``world_size`` data-parallel training workers (this one is ``rank``) from ONE Ray Data
        pipeline: rank 0 starts the actor pool and splits its stream with ``streaming_split``; every worker
        iterates its shard. Every batch of an epoch goes to exactly one worker (about the same number to each,
        not always the same), in job order, so a worker's epoch ends with the first batch of the next. Without an
        explicit ``batches_per_job``, jobs are about ``SPLIT_JOB_SAMPLES`` samples, fewer where an epoch would
        otherwise have under four jobs per worker.
        :class:`~trw_ray.train.Trainer` calls it for a ``workers=`` fit; every rank must call it, and then
        iterate the sequence at the same epochs (a collective starts each execution)."""
        if self.backend != "ray_data" or self.nb_workers == 0:
            raise ValueError(f"backend: a SequenceMap split across training workers runs on Ray Data; got "
                             f"backend={self.backend!r} with nb_workers={self.nb_workers} (use backend='ray_data')")
        if not self._batches_per_job_given:  # larger blocks: Ray Data and the split cost milliseconds per block
            self.batches_per_job = max(1, min(SPLIT_JOB_SAMPLES // self.source.batch_size,
                                              len(self.source) // (4 * world_size)))
        jobs = -(-len(self.source) // self.batches_per_job)
        if jobs < 2 * world_size:
            raise ValueError(f"batches_per_job: split across {world_size} training workers, an epoch needs at least "
                             f"{2 * world_size} jobs so that every worker gets batches; got {jobs} job(s) of "
                             f"{self.batches_per_job} batch(es) for {len(self.source)} batches (lower batches_per_job)")
        self._close_stream()
        self._split = WorkerSplit(rank, world_size, broadcast)
        return self

    @property
    def num_samples(self) -> int | None:
        return getattr(self.source, "num_samples", None)

    def samples_by_uid(self, sample_uids) -> Batch:
        """The samples before the function (as the augmentation report shows them)."""
        return self.source.samples_by_uid(sample_uids)

    def augment(self, batch: Batch, epoch: int) -> Batch:
        """``function_to_run`` applied to ``batch`` as the workers apply it at ``epoch``."""
        return to_tensors(apply_function(self.function_to_run, dict(batch), epoch, self._accepts_epoch))

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch
        self.epoch += 1
        if self.nb_workers == 0:
            yield from self._iterate_inline(epoch)
        else:
            yield from self._iterate_workers(epoch)

    def _iterate_inline(self, epoch: int) -> Iterator[Batch]:
        source_epoch = getattr(self.source, "epoch", None)
        if source_epoch is not None:
            self.source.epoch = epoch  # keep the source's shuffle in step with this sequence's epochs
        for batch in self.source:
            yield to_tensors(apply_function(self.function_to_run, dict(batch), epoch, self._accepts_epoch))

    def _iterate_workers(self, epoch: int) -> Iterator[Batch]:
        """The batches of ``epoch`` as the workers deliver them; results of later epochs wait in the buffer,
        those of epochs left early are dropped."""
        if self._split is not None:
            yield from self._iterate_shard(epoch)
            return
        if self.backend == "actors":
            self._start_actors(epoch)
            refill, next_block = self._submit_jobs, self._next_block_from_actors
        else:
            if epoch not in self._stream_epochs or self._iterator is None:
                self._start_stream(epoch)
            refill, next_block = None, self._next_block_from_stream
        self._drop_stale_batches(epoch)
        remaining = len(self.source)
        while remaining:
            if refill is not None:
                refill()
            if not self._buffer[epoch]:
                self._buffer_block(next_block(), epoch)
                continue
            remaining -= 1
            yield self._pop_batch(epoch)
        self._buffer.pop(epoch, None)

    def _drop_stale_batches(self, epoch: int) -> None:
        for stale in [e for e in self._buffer if e < epoch]:
            self._buffered_batches -= len(self._buffer.pop(stale))

    def _pop_batch(self, epoch: int) -> Batch:
        """The next buffered batch of ``epoch``, as tensors."""
        batch = self._buffer[epoch].popleft()
        self._buffered_batches -= 1
        batch.pop(EPOCH_COLUMN)
        return to_tensors({name: list(values) if values.dtype == object else values for name, values in batch.items()})

    def _iterate_shard(self, epoch: int) -> Iterator[Batch]:
        """This worker's batches of ``epoch``: those of its shard until a block of a later epoch (or the end of
        the execution) arrives."""
        if epoch not in self._stream_epochs or self._iterator is None:
            self._start_stream(epoch)
        self._drop_stale_batches(epoch)
        while True:
            if self._buffer[epoch]:
                yield self._pop_batch(epoch)
            elif self._stream_ended or any(later > epoch and queue for later, queue in self._buffer.items()):
                break
            else:
                block = self._next_block_from_stream(end_allowed=True)
                if block is None:
                    self._stream_ended = True
                else:
                    self._buffer_block(block, epoch)
        self._buffer.pop(epoch, None)

    def _buffer_block(self, block: dict[str, np.ndarray], epoch: int) -> None:
        if ERROR_COLUMN in block:
            self._close_stream()
            raise SequenceMapError(f"SequenceMap worker failed: {block[ERROR_COLUMN][0]}")
        block_epoch = int(block[EPOCH_COLUMN][0])
        if block_epoch >= epoch:
            batches = split_job_block(dict(block))
            self._buffer[block_epoch].extend(batches)
            self._buffered_batches += len(batches)

    # ---------------------------------------------------------------- plain Ray actors

    def _start_actors(self, epoch: int) -> None:
        if not self._workers:
            size = size_pool(self, self.describe(), self.nb_workers, self.num_cpus_per_worker)
            self._workers, self._arrays_ref = create_worker_actors(self.source, self.function_to_run, size.nb_workers,
                                                                   size.num_cpus_per_worker)
            self._started_at = time.monotonic()
        if self._next_job[0] < epoch:  # the previous epoch was left early: its remaining jobs are not needed
            self._next_job = (epoch, 0)

    def _submit_jobs(self) -> None:
        """Keeps ``max_jobs_at_once`` jobs in flight, counting the results not yet yielded."""
        per_job, num_batches = self.batches_per_job, len(self.source)
        while len(self._in_flight) * per_job + self._buffered_batches < self.max_jobs_at_once * per_job:
            job_epoch, index = self._next_job
            count = min(per_job, num_batches - index)
            self._next_job = (job_epoch, index + count) if index + count < num_batches else (job_epoch + 1, 0)
            loads = [0] * len(self._workers)
            for worker_index, *_ in self._in_flight.values():
                loads[worker_index] += 1
            worker_index = loads.index(min(loads))
            job = {"epoch": np.array([job_epoch]), "index": np.array([index]), "count": np.array([count])}
            reference = self._workers[worker_index].__call__.remote(job, self._arrays_ref)
            self._in_flight[reference] = (worker_index, job_epoch, index, count)

    def _next_block_from_actors(self) -> dict[str, np.ndarray]:
        import ray

        done, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=None if self._started_at is None else 5.0)
        while not done:  # the pool's first result: are its actors placed at all?
            try:
                check_placed(self.describe(), self._workers, time.monotonic() - self._started_at)
            except PipelinePlacementError:
                self._close_stream()
                raise
            done, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=5.0)
        self._started_at = None
        _, job_epoch, index, count = self._in_flight.pop(done[0])
        try:
            return ray.get(done[0])
        except Exception as error:
            self._close_stream()
            if not isinstance(error, ray.exceptions.RayActorError):
                raise SequenceMapError(f"SequenceMap worker failed: {type(error).__name__}: {error}") from error
            rows = self.source.epoch_order(job_epoch)[index * self.source.batch_size:(index + count) * self.source.batch_size]
            uids = np.asarray(self.source.split["sample_uid"])[rows]
            raise SequenceMapError(
                f"SequenceMap worker failed: its process died on the job of epoch {job_epoch}, batches {index}-"
                f"{index + count - 1} ({describe_uids({'sample_uid': uids})}), also on its {JOB_RETRIES} retries "
                f"(a function crashing its process, e.g. a segfault, or memory exhausted): {type(error).__name__}: "
                f"{error}") from error

    # ---------------------------------------------------------------- Ray Data

    def _start_stream(self, first_epoch: int) -> None:
        from trw_ray.data.ray_data_jobs import job_dataset

        self._close_stream()
        epochs = range(first_epoch, first_epoch + self.epochs_per_execution)
        split = self._split
        if split is None or split.rank == 0:
            minimum = self.pool_size[0] if isinstance(self.pool_size, tuple) else self.pool_size
            size = size_pool(self, self.describe(), minimum, self.num_cpus_per_worker)
            if self._arrays_ref is None:
                self._arrays_ref = put_source_arrays(self.source)
            # split across training workers, the blocks come in job order: a block of the next epoch ends an epoch
            dataset = job_dataset(self.source, self.function_to_run, self._arrays_ref, epochs, self.batches_per_job,
                                  self._actor_pool_strategy(size), size.num_cpus_per_worker,
                                  preserve_order=split is not None)
        if split is None:
            stream = dataset
        else:
            self._shards = split.broadcast(dataset.streaming_split(split.world_size) if split.rank == 0 else None)
            stream = self._shards[split.rank]
        self._iterator = iter(stream.iter_batches(batch_size=None, batch_format="numpy",
                                                  prefetch_batches=self.max_jobs_at_once))
        self._stream_epochs = epochs
        self._stream_ended = False

    def _actor_pool_strategy(self, size):
        import ray.data

        if isinstance(self.pool_size, tuple) and size == PoolSize(self.pool_size[0], self.num_cpus_per_worker):
            return ray.data.ActorPoolStrategy(min_size=self.pool_size[0], max_size=self.pool_size[1])
        return ray.data.ActorPoolStrategy(size=size.nb_workers)

    def _next_block_from_stream(self, end_allowed: bool = False) -> dict[str, np.ndarray] | None:
        try:
            return next(self._iterator)
        except StopIteration:
            if end_allowed:
                return None
            self._close_stream()
            raise RuntimeError("SequenceMap: the Ray Data stream ended before the epoch was complete") from None
        except Exception as error:
            self._close_stream()
            cause = error
            while cause is not None and not isinstance(cause, SequenceMapError):
                cause = getattr(cause, "cause", None) or cause.__cause__
            message = str(cause) if cause is not None else f"{type(error).__name__}: {error}"
            end_failed_execution_actors(error)
            raise SequenceMapError(f"SequenceMap worker failed: {message}") from error

    def _close_stream(self) -> None:
        iterator, self._iterator = self._iterator, None
        self._stream_epochs = range(0)
        self._shards, self._stream_ended = None, False
        self._buffer.clear()
        self._buffered_batches = 0
        if iterator is not None and hasattr(iterator, "close"):
            iterator.close()
        workers, self._workers = self._workers, []
        in_flight, self._in_flight = list(self._in_flight), {}
        self._next_job = (0, 0)
        self._started_at = None
        if workers:
            stop_worker_actors(workers, in_flight)
        release_pool(self)

    def close(self) -> None:
        """Stops the workers (the actors are killed; Ray Data's end with their execution)."""
        self._close_stream()
        self._arrays_ref = None
