"""Starting or joining Ray: an embedded local instance unless ``RAY_ADDRESS`` (or ``address``) names a cluster."""

from __future__ import annotations

import os

TRAIN_HEALTH_CHECK_INTERVAL_S = "0.5"
# what Ray Tune (2.60) sets in the runtime environment of every trial actor; the embedded local Ray's processes get
# it from their start (see trw_ray.hparams.tuning.tune_run.trial_actors_without_runtime_env)
TUNE_TRIAL_VARIABLES = {"PL_DISABLE_FORK": "1"}
_local_ray: dict = {"node_id": None, "environment": None}


def ensure_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None):
    """Returns the ``ray`` module with Ray initialized.

    Joins the running instance if any; else connects to ``address`` / ``$RAY_ADDRESS``; else starts a local
    embedded instance (no dashboard, usage statistics off, object store capped at 25% of memory) on 127.0.0.1.
    """
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray Train's controller answers each ray.train.report at its next health check (every 2 s by default): a
    # data-parallel epoch would wait up to that long (trw_ray.train.distributed); Ray's processes read it at start
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", TRAIN_HEALTH_CHECK_INTERVAL_S)
    keep_on_loopback()
    total_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    added = [name for name in TUNE_TRIAL_VARIABLES if name not in os.environ]
    os.environ.update({name: TUNE_TRIAL_VARIABLES[name] for name in added})  # for Ray's processes, not the driver's
    try:
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, object_store_memory=min(int(total_memory * 0.25), 8 * 2**30))
        environment = dict(os.environ)
    finally:
        for name in added:
            os.environ.pop(name, None)
    _local_ray.update(node_id=ray.get_runtime_context().get_node_id(), environment=environment)
    return ray


def local_worker_environment() -> dict[str, str] | None:
    """The environment each worker process of the embedded local Ray inherits from its start: the driver's when
    :func:`ensure_ray` started it, plus :data:`TUNE_TRIAL_VARIABLES`. None when this Ray is not one ensure_ray
    started (a cluster, a Ray the user started, one restarted since)."""
    import ray

    if _local_ray["environment"] is None or not ray.is_initialized():
        return None
    if ray.get_runtime_context().get_node_id() != _local_ray["node_id"]:
        return None
    return _local_ray["environment"]


def keep_on_loopback() -> None:
    """Makes the embedded Ray listen on 127.0.0.1 only (every process it starts, the driver's own servers too).

    Ray binds its servers on every interface unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (its single-machine
    mode, default on macOS and Windows). The processes Ray starts read the variable from the environment; the
    driver read it when ``ray`` was imported, which may have been before this call, so its value is set there too.
    A user who sets the variable keeps their value.
    """
    if "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" in os.environ:
        return
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from trw_ray.ray_internals import keep_cluster_mode_off

    keep_cluster_mode_off()  # Ray 2.60 read the variable at import too, and looks it up again when a node starts


def quiet_ray_data() -> None:
    """No progress bars or execution banners from Ray Data in the training output."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


_IN_TRAINING_WORKER = False  # set while this process trains as a worker of a data-parallel fit


def set_training_worker(value: bool) -> bool:
    """Marks this process as a data-parallel training worker (``trw_ray.train.distributed``) or not; returns the
    previous mark. A worker's placement group is Ray Train's worker group, whose bundles its workers hold: the
    pipelines it starts take the cluster's CPUs instead (:func:`current_placement_group`)."""
    global _IN_TRAINING_WORKER
    previous, _IN_TRAINING_WORKER = _IN_TRAINING_WORKER, value
    return previous


def current_placement_group():
    """The placement group a pipeline's workers take: the caller's (e.g. a Ray Tune trial's bundles), or None
    outside any placement group and in a data-parallel training worker."""
    import ray

    if not ray.is_initialized() or _IN_TRAINING_WORKER:
        return None
    from ray.util import get_current_placement_group

    return get_current_placement_group()


def current_placement_group_strategy():
    """A scheduling strategy that keeps new actors inside :func:`current_placement_group` (e.g. a Ray Tune
    trial's bundles), so a trial's pipeline workers use the trial's resources; None outside any."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    placement_group = current_placement_group()
    if placement_group is None:
        return None
    return PlacementGroupSchedulingStrategy(placement_group, placement_group_capture_child_tasks=True)


STORAGE_PROBE_TIMEOUT_S = 60.0


def _probe_storage(probe_path: str, expected: str) -> str | None:
    """Runs on one node: None when it reads ``expected`` back from the probe file and can write beside it, else
    what it found."""
    import socket
    from pathlib import Path

    probe = Path(probe_path)
    try:
        seen = probe.read_text(encoding="utf-8")
    except OSError as error:
        return f"cannot read {probe_path} ({type(error).__name__}: {error})"
    if seen != expected:
        return f"reads another file at {probe_path} (not the one the driver wrote)"
    written = probe.with_name(f"{probe.name}.{socket.gethostname()}.{os.getpid()}")
    try:
        written.write_text("written", encoding="utf-8")
        written.unlink()
    except OSError as error:
        return f"cannot write in {probe.parent} ({type(error).__name__}: {error})"
    return None


def check_shared_storage(path, argument: str = "storage_path", timeout_s: float = STORAGE_PROBE_TIMEOUT_S) -> None:
    """On a Ray cluster of several nodes, raises unless every alive node sees ``path`` as the driver does.

    Tune writes each trial's checkpoints under the storage path from whichever node runs the trial, and restores
    them on whichever node a retried trial lands; trw_ray reads every trial's run folder from the driver. A path
    that is only local to each node (the default ``~/trw_ray_logs``, a relative path inside a job's working
    directory) loses checkpoints and results silently. The driver writes a probe file in ``path``; a zero-CPU task
    pinned to every other node reads it back and writes beside it. One node (the embedded local Ray): no check.
    """
    import secrets
    from pathlib import Path

    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    if len(nodes) <= 1:
        return
    path = Path(path)
    if not path.is_absolute():
        raise ValueError(f"{argument}: on a Ray cluster of {len(nodes)} nodes expected an absolute path that every "
                         f"node mounts at the same place (e.g. /mnt/shared/searches); got the relative path {str(path)!r}")
    here = ray.get_runtime_context().get_node_id()
    path.mkdir(parents=True, exist_ok=True)
    expected = secrets.token_hex(16)
    probe = path / f".trw_ray-storage-probe-{expected[:8]}"
    probe.write_text(expected, encoding="utf-8")
    probe_task = ray.remote(num_cpus=0, max_retries=0)(_probe_storage)
    try:
        pending = {probe_task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                   .remote(str(probe), expected): node for node in nodes if node["NodeID"] != here}
        ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_s)
        problems = []
        for reference in ready:
            try:
                problem = ray.get(reference)
            except Exception as error:  # noqa: BLE001 - a node that cannot run the probe is reported with it
                problem = f"could not run the check ({type(error).__name__}: {error})"
            if problem:
                problems.append((pending[reference], problem))
        problems += [(pending[reference], f"did not answer in {timeout_s:g} s") for reference in late]
        for reference in late:
            ray.cancel(reference, force=True)
    finally:
        probe.unlink(missing_ok=True)
    if problems:
        lines = "; ".join(f"node {node['NodeID'][:12]} ({node.get('NodeManagerAddress', '?')}) {problem}"
                          for node, problem in problems)
        raise ValueError(f"{argument}: {str(path)!r} must be one folder every node of the Ray cluster sees (a shared "
                         f"volume mounted at the same path on each node, e.g. NFS), but {len(problems)} of "
                         f"{len(nodes)} nodes do not: {lines}")
