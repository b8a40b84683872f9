"""The Ray Data back-end of the pipelines: a dataset of jobs ``(epoch, first batch, batch count)`` mapped by a
``map_batches`` actor pool of :class:`~trw_ray.data.map_worker.MapWorker`, the worker the plain actors run.

``SequenceMap(backend="ray_data")`` iterates it (or, in a data-parallel fit, splits it across the training
workers with ``streaming_split``); ``SequenceAsyncReservoir(backend="ray_data")`` fills its reservoir from it.
Inside a Ray Tune trial the actors take the trial's bundles; in a data-parallel training worker, the cluster's.
"""

from __future__ import annotations

import gc
import warnings

from trw_ray.data.map_worker import JOB_RETRIES, MapWorker, put_source_arrays


def job_rows(num_batches: int, epochs: range, batches_per_job: int) -> list[dict[str, int]]:
    """The jobs of ``epochs``: batches ``index .. index + count - 1`` of each, in order."""
    return [{"epoch": epoch, "index": index, "count": min(batches_per_job, num_batches - index)}
            for epoch in epochs for index in range(0, num_batches, batches_per_job)]


def job_dataset(source, function, arrays_ref, epochs: range, batches_per_job: int, compute, num_cpus: float,
                preserve_order: bool = False):
    """The Ray Data dataset of ``function`` applied to the batches of ``source`` (an in-RAM ``SequenceArray``) over
    ``epochs``: one output block per job, its rows tagged with their epoch and batch. ``arrays_ref`` is the
    source's arrays in the object store (:func:`~trw_ray.data.map_worker.put_source_arrays`, or None to put them
    now); ``compute`` a ``ray.data.ActorPoolStrategy``; ``preserve_order`` delivers the blocks in job order."""
    from trw_ray.ray_session import current_placement_group_strategy, ensure_ray, quiet_ray_data

    ensure_ray()
    import ray.data

    quiet_ray_data()
    context = ray.data.DataContext.get_current()
    strategy = current_placement_group_strategy()
    if strategy is not None:  # inside a Tune trial: the actors take the trial's bundles
        context.scheduling_strategy = strategy
        context.scheduling_strategy_large_args = strategy
    if arrays_ref is None:
        arrays_ref = put_source_arrays(source)
    jobs = job_rows(len(source), epochs, batches_per_job)
    rows = ray.data.from_items(jobs, override_num_blocks=len(jobs))
    arguments = {"fn_constructor_kwargs": {"arrays": arrays_ref, "function": function,
                                           "batch_size": source.batch_size, "shuffle": source.shuffle,
                                           "seed": source.seed},
                 "batch_size": 1, "batch_format": "numpy", "compute": compute, "num_cpus": num_cpus}
    # Ray Data's actors restart (max_restarts=-1) and retry their tasks forever unless told otherwise; Ray 2.60
    # deprecates the free-form remote arguments and names no parameter for it. An actor that died JOB_RETRIES + 1
    # times stays dead: its job fails the execution, and no actor comes back after it to hold a CPU
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        try:
            dataset = rows.map_batches(MapWorker, **arguments, max_task_retries=JOB_RETRIES,
                                       max_restarts=JOB_RETRIES)
        except TypeError:  # a Ray Data without free-form remote arguments: its own retry policy
            dataset = rows.map_batches(MapWorker, **arguments)
    dataset.context.execution_options.preserve_order = preserve_order  # the dataset's own copy of the context
    return dataset


def end_failed_execution_actors(error: BaseException) -> None:
    """Ends the actors of the Ray Data execution that failed with ``error``, now. Ray Data releases its pool's actors
    by dropping its handles (it kills them only on a forced shutdown), and after a failure the handles sit in the
    local frames of the error's traceback (and of the errors it chains), in reference cycles: an actor that was
    restarting when the execution failed comes back and holds its CPU until Python's cycle collector happens to run
    (a later pipeline or Ray Train worker group then waits for that CPU, seen as a hang). The local tracebacks go
    (the workers' remote tracebacks stay in the errors' text), the cycles are collected, and Ray ends the actors."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]
    gc.collect()
