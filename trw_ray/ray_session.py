"""Starting or joining Ray: an embedded local instance unless ``RAY_ADDRESS`` (or ``address``) names a cluster."""

from __future__ import annotations

import os


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
    keep_on_loopback()
    total_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=min(int(total_memory * 0.25), 8 * 2**30))
    return ray


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
    from ray._private import ray_constants  # Ray 2.60: read at import, looked up again when a node starts

    ray_constants.ENABLE_RAY_CLUSTER = False


def quiet_ray_data() -> None:
    """No progress bars or execution banners from Ray Data in the training output."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def current_placement_group_strategy():
    """A scheduling strategy that keeps new actors inside the caller's placement group (e.g. a Ray Tune trial's
    bundles), so a trial's pipeline workers use the trial's resources; None outside any placement group."""
    import ray
    from ray.util import get_current_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    if not ray.is_initialized():
        return None
    placement_group = get_current_placement_group()
    if placement_group is None:
        return None
    return PlacementGroupSchedulingStrategy(placement_group, placement_group_capture_child_tasks=True)
