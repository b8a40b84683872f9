"""``SequenceAsyncReservoir``: Ray actors process samples in the background and keep a reservoir of results
fresh; the training loop samples its batches from the reservoir and never waits once it is warm.

Workers rebuild source batches from the arrays they share through the object store and apply
``function_to_run``; a background thread of the training process inserts their results, replacing the oldest
entries (at most ``max_reservoir_replacement_size`` samples per epoch). Two back-ends run the same worker:

- ``backend="actors"`` (default): plain Ray actors (restarted and retried by Ray when they die), the thread
  keeping ``max_jobs_at_once`` jobs of one batch in flight; the first results come within a second.
- ``backend="ray_data"``: a Ray Data ``map_batches`` actor pool over the jobs of ``epochs_per_execution``
  source epochs at a time (Ray Data restarts its actors and retries their jobs), which the thread iterates;
  Ray Data's start costs seconds before the first results (``benchmarks/pipeline_throughput.py``), after which
  the reservoir serves as fast, since the training loop only ever reads the reservoir.

An epoch serves every sample that is in the reservoir when the epoch starts, once, in a seeded random order. Its
pool shrinks, or shares the CPUs other pipelines hold, rather than wait forever for them
(:mod:`trw_ray.data.worker_pool`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from trw_ray.data.batch_utils import batch_length, concatenate_batches, slice_batch, to_tensors
from trw_ray.data.map_worker import (
    BATCH_COLUMN,
    EPOCH_COLUMN,
    ERROR_COLUMN,
    MapWorker,
    SequenceMapError,
    accepts_epoch,
    apply_function,
    create_worker_actors,
    put_source_arrays,
    stop_worker_actors,
)
from trw_ray.data.ray_data_jobs import end_failed_execution_actors
from trw_ray.data.sequence import Batch, Sequence, positive_int
from trw_ray.data.worker_pool import check_placed, release_pool, size_pool


def _identity(batch):
    return batch


class SequenceAsyncReservoir(Sequence):
    """A reservoir of processed samples refilled by Ray actors.

    Args:
        source: an in-RAM :class:`SequenceArray` (its batches are the workers' jobs).
        max_reservoir_samples: capacity of the reservoir, in samples.
        function_to_run: ``batch -> batch`` or ``(batch, epoch) -> batch``; None keeps the batches as they are.
        min_reservoir_samples: the first epoch waits until this many samples are in (default: one source batch).
        nb_workers: worker actors; 0 processes jobs inline in the background thread (no Ray).
        max_reservoir_replacement_size: samples replaced per epoch at most (default: the capacity); none are
            replaced before the first epoch starts.
        max_jobs_at_once: jobs in flight (default ``2 * nb_workers``).
        batch_size: samples per served batch (default: the source's batch size).
        seed: seed of the serving order.
        num_cpus_per_worker: CPUs each actor reserves.
        fill_timeout_s: how long the first epoch may wait for ``min_reservoir_samples``.
        backend: ``"actors"`` (plain Ray actors) or ``"ray_data"`` (a Ray Data actor pool); see the module.
        epochs_per_execution: with ``backend="ray_data"``, source epochs one Ray Data execution processes.
        batches_per_job: with ``backend="ray_data"``, source batches one worker call processes (default: enough
            for about 256 samples, amortizing Ray Data's cost per block); the plain actors take one.
    """

    def __init__(self, source: Sequence, max_reservoir_samples: int, function_to_run: Callable | None = None,
                 min_reservoir_samples: int | None = None, nb_workers: int = 2,
                 max_reservoir_replacement_size: int | None = None, max_jobs_at_once: int | None = None,
                 batch_size: int | None = None, seed: int = 0, num_cpus_per_worker: float = 1.0,
                 fill_timeout_s: float = 600.0, backend: str = "actors", epochs_per_execution: int = 10,
                 batches_per_job: int | None = None):
        from trw_ray.data.sequence_map import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
        positive_int(epochs_per_execution, "epochs_per_execution")
        if batches_per_job is not None:
            positive_int(batches_per_job, "batches_per_job")
        if not all(hasattr(source, a) for a in ("split", "epoch_order", "batch_size")):
            raise TypeError(f"source: expected an in-RAM SequenceArray; got {type(source).__name__}")
        positive_int(max_reservoir_samples, "max_reservoir_samples")
        for name, value in (("min_reservoir_samples", min_reservoir_samples),
                            ("max_reservoir_replacement_size", max_reservoir_replacement_size),
                            ("max_jobs_at_once", max_jobs_at_once), ("batch_size", batch_size)):
            if value is not None:
                positive_int(value, name)
        positive_int(nb_workers, "nb_workers", 0)
        if not isinstance(num_cpus_per_worker, (int, float)) or num_cpus_per_worker < 0:
            raise ValueError(f"num_cpus_per_worker: expected a number >= 0; got {num_cpus_per_worker!r}")
        self.min_reservoir_samples = min(min_reservoir_samples or source.batch_size, max_reservoir_samples)
        self.source, self.function_to_run = source, function_to_run or _identity
        self.max_reservoir_samples, self.nb_workers = max_reservoir_samples, nb_workers
        self.max_reservoir_replacement_size = max_reservoir_replacement_size or max_reservoir_samples
        self.max_jobs_at_once = max_jobs_at_once or max(2, 2 * nb_workers)
        self.batch_size = batch_size or source.batch_size
        self.seed, self.num_cpus_per_worker, self.fill_timeout_s = seed, num_cpus_per_worker, fill_timeout_s
        self.backend, self.epochs_per_execution = backend, epochs_per_execution
        self.batches_per_job = batches_per_job or max(1, 256 // source.batch_size)
        self.class_names = getattr(source, "class_names", {})
        self.epoch = 0
        self._accepts_epoch = accepts_epoch(self.function_to_run)
        self._reservoir: deque[Batch] = deque()
        self._reservoir_size = 0
        # no replacement before the first epoch: it serves the first samples in, each source sample at most once
        self._replaced_this_epoch = self.max_reservoir_replacement_size
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._workers: list = []
        self._arrays_ref = None
        self._in_flight: dict = {}  # ObjectRef of a job's result -> its epoch
        self.jobs_done = 0

    # ---------------------------------------------------------------- background filling

    def describe(self) -> str:
        return f"SequenceAsyncReservoir(nb_workers={self.nb_workers}, backend={self.backend!r})"

    def split_across(self, rank: int, world_size: int, broadcast=None) -> SequenceAsyncReservoir:
        """Feeds one of ``world_size`` data-parallel training workers (this one is ``rank``): its reservoir holds
        the source's samples ``rank, rank + world_size, ...`` only, and a ``world_size``-th of the capacities, so
        the workers together serve as many distinct samples per epoch as one reservoir would. Each worker runs its
        own pool (``nb_workers`` workers). :class:`~trw_ray.train.Trainer` calls it for a ``workers=`` fit."""
        if self._thread is not None:
            raise RuntimeError("split_across: the reservoir has started filling; split it before its first epoch")
        rows = np.arange(rank, self.source.num_samples, world_size)
        self.source = self.source.subset(rows)

        def share(value: int) -> int:
            return max(1, -(-value // world_size))

        self.max_reservoir_samples = share(self.max_reservoir_samples)
        self.min_reservoir_samples = min(share(self.min_reservoir_samples), self.max_reservoir_samples)
        self.max_reservoir_replacement_size = share(self.max_reservoir_replacement_size)
        return self

    def _jobs(self) -> Iterator[tuple[int, int]]:
        epoch = 0
        while True:
            for index in range(len(self.source)):
                yield epoch, index
            epoch += 1

    def _start(self) -> None:
        if self._thread is not None:
            return
        if self.nb_workers > 0:
            size = self._pool_size = size_pool(self, self.describe(), self.nb_workers, self.num_cpus_per_worker)
            if self.backend == "actors":
                self._workers, self._arrays_ref = create_worker_actors(self.source, self.function_to_run,
                                                                       size.nb_workers, size.num_cpus_per_worker)
            else:
                self._arrays_ref = put_source_arrays(self.source)
        self._thread = threading.Thread(target=self._fill, name="trw_ray-reservoir", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            if self.nb_workers == 0:
                self._fill_inline()
            elif self.backend == "actors":
                self._fill_ray()
            else:
                self._fill_ray_data()
        except BaseException as error:  # surfaced to the training loop by __iter__
            with self._lock:
                self._error = error
                self._lock.notify_all()

    def _fill_inline(self) -> None:
        worker = MapWorker(dict(self.source.split), self.function_to_run, self.source.batch_size, self.source.shuffle,
                            self.source.seed)
        for epoch, index in self._jobs():
            if self._stop.is_set():
                return
            self._wait_for_room()
            self._insert(worker({"epoch": np.array([epoch]), "index": np.array([index])}))

    def _fill_ray(self) -> None:
        import ray

        jobs = self._jobs()
        in_flight = self._in_flight = {}
        next_worker = 0
        started_at = time.monotonic()
        while not self._stop.is_set():
            while len(in_flight) < self.max_jobs_at_once:
                epoch, index = next(jobs)
                worker = self._workers[next_worker % len(self._workers)]
                next_worker += 1
                in_flight[worker.__call__.remote({"epoch": np.array([epoch]), "index": np.array([index])},
                                                 self._arrays_ref)] = epoch
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            if not done and started_at is not None:  # until the first result: are the actors placed at all?
                check_placed(self.describe(), self._workers, time.monotonic() - started_at)
            elif done:
                started_at = None
            for reference in done:
                in_flight.pop(reference)
                result = ray.get(reference)
                self._wait_for_room()
                if self._stop.is_set():
                    return
                self._insert(result)

    def _fill_ray_data(self) -> None:
        import ray.data

        from trw_ray.data.ray_data_jobs import job_dataset

        size, first_epoch = self._pool_size, 0
        jobs_per_epoch = -(-len(self.source) // self.batches_per_job)
        while not self._stop.is_set():
            epochs = range(first_epoch, first_epoch + self.epochs_per_execution)
            dataset = job_dataset(self.source, self.function_to_run, self._arrays_ref, epochs, self.batches_per_job,
                                  ray.data.ActorPoolStrategy(size=size.nb_workers), size.num_cpus_per_worker)
            blocks = iter(dataset.iter_batches(batch_size=None, batch_format="numpy",
                                               prefetch_batches=self.max_jobs_at_once))
            in_order = EpochOrder(epochs.start, jobs_per_epoch, self.batches_per_job)
            try:
                for block in itertools.chain(blocks, [None]):
                    for ready in in_order.push(block) if block is not None else in_order.rest():
                        self._wait_for_room()
                        if self._stop.is_set():
                            return
                        self._insert(ready)
            finally:
                if hasattr(blocks, "close"):
                    blocks.close()
            first_epoch = epochs.stop

    def _wait_for_room(self) -> None:
        with self._lock:
            while (not self._stop.is_set() and self._reservoir_size >= self.max_reservoir_samples
                   and self._replaced_this_epoch >= self.max_reservoir_replacement_size):
                self._lock.wait(timeout=0.5)

    def _insert(self, result: dict) -> None:
        result = dict(result)
        if ERROR_COLUMN in result:
            raise SequenceMapError(str(result[ERROR_COLUMN][0]))
        result.pop(EPOCH_COLUMN, None)
        result.pop(BATCH_COLUMN, None)
        result = {k: list(v) if isinstance(v, np.ndarray) and v.dtype == object else v for k, v in result.items()}
        size = batch_length(result, "function_to_run's result")
        with self._lock:
            self._reservoir.append(result)
            self._reservoir_size += size
            while self._reservoir_size - batch_length(self._reservoir[0]) >= self.max_reservoir_samples:
                removed = self._reservoir.popleft()
                removed_size = batch_length(removed)
                self._reservoir_size -= removed_size
                self._replaced_this_epoch += removed_size
            self.jobs_done += 1
            self._lock.notify_all()

    # ---------------------------------------------------------------- serving

    @property
    def reservoir_size(self) -> int:
        return self._reservoir_size

    def samples_by_uid(self, sample_uids) -> Batch:
        return self.source.samples_by_uid(sample_uids)

    def augment(self, batch: Batch, epoch: int) -> Batch:
        return to_tensors(apply_function(self.function_to_run, dict(batch), epoch, self._accepts_epoch))

    def __iter__(self) -> Iterator[Batch]:
        self._start()
        epoch = self.epoch
        self.epoch += 1
        deadline = time.monotonic() + self.fill_timeout_s
        with self._lock:
            while self._error is None and self._reservoir_size < self.min_reservoir_samples:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SequenceAsyncReservoir: fewer than min_reservoir_samples="
                                       f"{self.min_reservoir_samples} samples after {self.fill_timeout_s} s")
                self._lock.wait(timeout=0.5)
            self._raise_worker_error()
            snapshot = list(self._reservoir)
            self._replaced_this_epoch = 0
            self._lock.notify_all()
        served = concatenate_batches(snapshot)
        size = batch_length(served)
        order = np.random.default_rng([self.seed, epoch]).permutation(size)
        served = {name: value[order] if isinstance(value, np.ndarray) else [value[i] for i in order]
                  for name, value in served.items()}
        for start in range(0, size, self.batch_size):
            with self._lock:
                self._raise_worker_error()
            yield to_tensors(slice_batch(served, start, min(start + self.batch_size, size)))

    def _raise_worker_error(self) -> None:
        if self._error is None:
            return
        error = self._error
        cause = error
        while cause is not None and not isinstance(cause, SequenceMapError):
            cause = getattr(cause, "cause", None) or cause.__cause__
        raise SequenceMapError(f"SequenceAsyncReservoir worker failed: {cause if cause is not None else repr(error)}") from error

    def close(self) -> None:
        """Stops the background thread and kills the worker actors."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._error is not None and self.backend == "ray_data":
            end_failed_execution_actors(self._error)
        if self._workers:
            stop_worker_actors(self._workers, list(self._in_flight))
        self._workers, self._arrays_ref, self._in_flight = [], None, {}
        release_pool(self)
        self._stop.clear()


class EpochOrder:
    """Releases the blocks of a Ray Data execution over several source epochs one epoch after the other.

    Without ``preserve_order`` Ray Data delivers a block of the next epoch before the current epoch's last one;
    inserted as they come, a reservoir as large as the dataset would hold two copies of some samples and none of
    others. Blocks of a later epoch wait (in arrival order) until a block of each job of the earlier epochs came;
    a block of an epoch already released (a job Ray Data split in blocks) or without an epoch (a worker's error)
    comes out at once, and :meth:`rest` releases what still waits when the execution ends.
    """

    def __init__(self, first_epoch: int, jobs_per_epoch: int, batches_per_job: int = 1):
        self.epoch = first_epoch
        self.jobs_per_epoch = jobs_per_epoch
        self.batches_per_job = batches_per_job
        self.jobs_seen: set[int] = set()
        self.waiting: dict[int, list[dict]] = {}

    def push(self, block: dict) -> list[dict]:
        epochs = block.get(EPOCH_COLUMN)
        if ERROR_COLUMN in block or epochs is None or len(epochs) == 0 or int(epochs[0]) < self.epoch:
            return [block]
        self.waiting.setdefault(int(epochs[0]), []).append(block)
        ready = []
        while self.waiting.get(self.epoch):
            released = self.waiting[self.epoch].pop(0)
            ready.append(released)
            # a job's rows carry their source batch; a piece of a job Ray Data split starts past the job's first
            self.jobs_seen.add(int(released[BATCH_COLUMN][0]) // self.batches_per_job)
            if len(self.jobs_seen) >= self.jobs_per_epoch:
                ready.extend(self.waiting.pop(self.epoch))
                self.epoch, self.jobs_seen = self.epoch + 1, set()
        return ready

    def rest(self) -> list[dict]:
        ready = [block for epoch in sorted(self.waiting) for block in self.waiting[epoch]]
        self.waiting.clear()
        return ready
