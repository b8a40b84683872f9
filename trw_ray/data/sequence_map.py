"""``SequenceMap``: applies a function (loading, augmentation) to the batches of a source sequence in a pool
of Ray Data actors, streaming the results to the training loop.

The pool is a ``map_batches`` actor pool (``ActorPoolStrategy``) whose execution spans several epochs
(``epochs_per_execution``), so the 2-5 s of actor start-up are paid once rather than every epoch. The jobs
are ``(epoch, batch index)`` pairs: each actor holds the source's arrays (shared through the object store) and
rebuilds the batch itself, so batches never travel from the driver. Results are tagged with their epoch;
an epoch yields every batch of that epoch exactly once, in completion order. Workers that die are restarted
and their jobs retried (Ray's actor fault tolerance); an exception raised by the function stops the epoch
with a ``SequenceMapError`` naming the samples and carrying the original traceback.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterator

import numpy as np

from trw_ray.data.batch_utils import to_tensors
from trw_ray.data.map_worker import (
    BATCH_COLUMN,
    EPOCH_COLUMN,
    ERROR_COLUMN,
    MapWorker,
    SequenceMapError,
    _accepts_epoch,
    apply_function,
)
from trw_ray.data.sequence import Batch, Sequence, positive_int


def split_job_block(block: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The batches of one job's output block (rows grouped by their batch column, which is dropped)."""
    batch_ids = block[BATCH_COLUMN]
    boundaries = np.flatnonzero(np.diff(batch_ids)) + 1
    starts, stops = np.concatenate([[0], boundaries]), np.concatenate([boundaries, [len(batch_ids)]])
    columns = {name: values for name, values in block.items() if name != BATCH_COLUMN}
    return [{name: values[start:stop] for name, values in columns.items()} for start, stop in zip(starts, stops, strict=False)]


class SequenceMap(Sequence):
    """Applies ``function_to_run`` to every batch of ``source``, in ``nb_workers`` Ray Data actors.

    Args:
        source: an in-RAM sequence (:class:`SequenceArray`, whose arrays are shared with the workers).
        function_to_run: ``batch -> batch`` (or ``(batch, epoch) -> batch``, e.g. a
            :class:`~trw_ray.data.transforms.TransformBatch`); must be picklable.
        nb_workers: actors in the pool; 0 runs the function inline in the training process (for debugging).
        max_jobs_at_once: jobs prefetched ahead of the training loop (default ``2 * nb_workers``).
        batches_per_job: batches one worker call processes (default: enough for about 256 samples); Ray Data
            costs tens of milliseconds per task on 2 cores, which larger jobs amortize.
        num_cpus_per_worker: CPUs each actor reserves.
        epochs_per_execution: epochs one Ray Data execution (one set of actors) serves.

    Example:
        >>> augmented = SequenceArray(split, batch_size=64).map(TransformBatch(RandomCropPad(2)), nb_workers=2)
    """

    def __init__(self, source: Sequence, function_to_run: Callable, nb_workers: int = 2,
                 max_jobs_at_once: int | None = None, num_cpus_per_worker: float = 1.0,
                 epochs_per_execution: int = 10, batches_per_job: int | None = None):
        if not callable(function_to_run):
            raise TypeError(f"function_to_run: expected a callable batch -> batch; got {function_to_run!r}")
        if not isinstance(nb_workers, int) or nb_workers < 0:
            raise ValueError(f"nb_workers: expected an integer >= 0; got {nb_workers!r}")
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
        self.max_jobs_at_once = max_jobs_at_once or max(2, 2 * nb_workers)
        self.epochs_per_execution = epochs_per_execution
        if batches_per_job is not None:
            positive_int(batches_per_job, "batches_per_job")
        self.batches_per_job = batches_per_job or max(1, 256 // max(1, getattr(source, "batch_size", 256)))
        self.class_names = getattr(source, "class_names", {})
        self.epoch = 0
        self._accepts_epoch = _accepts_epoch(function_to_run)
        self._iterator = None
        self._stream_epochs = range(0)
        self._buffer: dict[int, deque] = defaultdict(deque)
        self._arrays_ref = None

    def __len__(self) -> int:
        return len(self.source)

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
            yield from self._iterate_ray(epoch)

    def _iterate_inline(self, epoch: int) -> Iterator[Batch]:
        source_epoch = getattr(self.source, "epoch", None)
        if source_epoch is not None:
            self.source.epoch = epoch  # keep the source's shuffle in step with this sequence's epochs
        for batch in self.source:
            yield to_tensors(apply_function(self.function_to_run, dict(batch), epoch, self._accepts_epoch))

    # ---------------------------------------------------------------- Ray Data

    def _start_stream(self, first_epoch: int) -> None:
        from trw_ray.data.ray_session import current_placement_group_strategy, ensure_ray, quiet_ray_data

        ensure_ray()
        import ray
        import ray.data

        quiet_ray_data()
        strategy = current_placement_group_strategy()
        if strategy is not None:  # inside a Tune trial: the actors take the trial's bundles
            context = ray.data.DataContext.get_current()
            context.scheduling_strategy = strategy
            context.scheduling_strategy_large_args = strategy
        self._close_stream()
        if self._arrays_ref is None:
            self._arrays_ref = ray.put({name: np.asarray(values) if isinstance(values, np.ndarray) else values
                                        for name, values in self.source.split.items()})
        epochs = range(first_epoch, first_epoch + self.epochs_per_execution)
        per_job = self.batches_per_job
        jobs = [{"epoch": e, "index": i, "count": min(per_job, len(self.source) - i)}
                for e in epochs for i in range(0, len(self.source), per_job)]
        dataset = ray.data.from_items(jobs, override_num_blocks=len(jobs)).map_batches(
            MapWorker,
            fn_constructor_kwargs={"arrays": self._arrays_ref, "function": self.function_to_run,
                                   "batch_size": self.source.batch_size, "shuffle": self.source.shuffle,
                                   "seed": self.source.seed},
            batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=self.nb_workers),
            num_cpus=self.num_cpus_per_worker)  # Ray Data's actors default to max_restarts=-1, max_task_retries=-1
        self._iterator = iter(dataset.iter_batches(batch_size=None, batch_format="numpy",
                                                   prefetch_batches=self.max_jobs_at_once))
        self._stream_epochs = epochs

    def _iterate_ray(self, epoch: int) -> Iterator[Batch]:
        if epoch not in self._stream_epochs or self._iterator is None:
            self._start_stream(epoch)
        remaining = len(self.source)
        while remaining:
            if self._buffer[epoch]:
                batch = self._buffer[epoch].popleft()
            else:
                block = self._next_block()
                if ERROR_COLUMN in block:
                    self._close_stream()
                    raise SequenceMapError(f"SequenceMap worker failed: {block[ERROR_COLUMN][0]}")
                block_epoch = int(block[EPOCH_COLUMN][0])
                if block_epoch >= epoch:
                    self._buffer[block_epoch].extend(split_job_block(dict(block)))
                continue
            remaining -= 1
            batch.pop(EPOCH_COLUMN)
            yield to_tensors({name: list(values) if values.dtype == object else values for name, values in batch.items()})
        self._buffer.pop(epoch, None)

    def _next_block(self) -> dict[str, np.ndarray]:
        try:
            return next(self._iterator)
        except StopIteration:
            self._close_stream()
            raise RuntimeError("SequenceMap: the Ray Data stream ended before the epoch was complete") from None
        except Exception as error:
            self._close_stream()
            cause = error
            while cause is not None and not isinstance(cause, SequenceMapError):
                cause = getattr(cause, "cause", None) or cause.__cause__
            message = str(cause) if cause is not None else f"{type(error).__name__}: {error}"
            raise SequenceMapError(f"SequenceMap worker failed: {message}") from error

    def _close_stream(self) -> None:
        iterator, self._iterator = self._iterator, None
        self._stream_epochs = range(0)
        self._buffer.clear()
        if iterator is not None and hasattr(iterator, "close"):
            iterator.close()

    def close(self) -> None:
        """Stops the workers (their actors end with the Ray Data execution)."""
        self._close_stream()
        self._arrays_ref = None
