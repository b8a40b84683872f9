"""What one trial asks of the cluster: its placement-group bundles, checked against the cluster before a search
starts (Ray Tune leaves trials that can never be placed pending forever, silently)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trw_ray import checks

RESOURCE_KEYS = ("cpu", "gpu", "memory", "pipeline_workers", "cpus_per_pipeline_worker")

__all__ = ["RESOURCE_KEYS", "check_cluster_resources", "trial_resources"]


def _number(value: Any, name: str) -> float:
    return checks.number(value, f"resources_per_trial: {name!r}")


def trial_resources(resources: Mapping[str, Any] | None) -> tuple[list[dict[str, float]], float]:
    """``{'cpu': 1, 'gpu': 0.5, 'pipeline_workers': 2}`` -> the bundles of the trial's placement group, and its CPUs.

    The first bundle runs the trial (``cpu``, ``gpu``, ``memory`` bytes); ``pipeline_workers`` adds one bundle of
    ``cpus_per_pipeline_worker`` (default 1) CPUs per SequenceMap/SequenceAsyncReservoir worker, which the
    pipelines use automatically. ``gpu`` may be a fraction (0.25 packs four trials on one GPU) or a whole number.
    """
    resources = {"cpu": 1, "gpu": 0} if resources is None else resources
    if not isinstance(resources, Mapping):
        raise TypeError(f"resources_per_trial: expected a dict like {{'cpu': 1, 'gpu': 0}}; got {type(resources).__name__}")
    unknown = sorted(set(resources) - set(RESOURCE_KEYS))
    if unknown:
        raise ValueError(f"resources_per_trial: unknown key(s) {unknown}; allowed: {list(RESOURCE_KEYS)}")
    cpu = _number(resources.get("cpu", 1), "cpu")
    gpu = _number(resources.get("gpu", 0), "gpu")
    if gpu > 1 and gpu != int(gpu):
        raise ValueError(f"resources_per_trial: 'gpu' above 1 must be a whole number of GPUs; got {gpu}")
    if cpu == 0 and gpu == 0:
        raise ValueError("resources_per_trial: a trial needs some 'cpu' or 'gpu'; got 0 for both")
    workers = checks.positive_int(resources.get("pipeline_workers", 0), "resources_per_trial: 'pipeline_workers'", 0)
    worker_cpus = _number(resources.get("cpus_per_pipeline_worker", 1), "cpus_per_pipeline_worker")
    head = {"CPU": cpu}
    if gpu:
        head["GPU"] = gpu
    if resources.get("memory"):
        head["memory"] = _number(resources["memory"], "memory")
    bundles = [head] + [{"CPU": worker_cpus} for _ in range(workers)]
    return bundles, cpu


def check_cluster_resources(bundles: list[dict[str, float]]) -> None:
    """Raises at once when a trial's bundles can never be placed (Tune would leave the trials pending forever)."""
    import ray

    total = ray.cluster_resources()
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    head = bundles[0]
    for resource, amount in head.items():
        if amount and not any(node.get(resource, 0) >= amount for node in nodes):
            available = {key: total.get(key, 0) for key in ("CPU", "GPU")}
            raise ValueError(
                f"resources_per_trial: a trial asks for {amount:g} {resource} on one node, but no node of this Ray "
                f"cluster has that much (cluster: {available}); lower the request"
                + (" or run on a machine with a GPU" if resource == "GPU" else ""))
    for resource in {key for bundle in bundles for key in bundle}:
        needed = sum(bundle.get(resource, 0) for bundle in bundles)
        if needed > total.get(resource, 0) + 1e-9:
            raise ValueError(f"resources_per_trial: one trial needs {needed:g} {resource} in all (trial + pipeline "
                             f"workers) but the Ray cluster has {total.get(resource, 0):g}")
