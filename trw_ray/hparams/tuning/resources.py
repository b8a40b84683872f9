"""What one trial asks of the cluster: its placement-group bundles, checked against the cluster before a search
starts (Ray Tune leaves trials that can never be placed pending forever, silently)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trw_ray import checks

RESOURCE_KEYS = ("cpu", "gpu", "memory", "pipeline_workers", "cpus_per_pipeline_worker", "workers", "cpu_per_worker",
                 "gpu_per_worker")
WORKER_RESOURCE_KEYS = ("workers", "cpu_per_worker", "gpu_per_worker")
# a data-parallel trial's own process only relays its workers' reports: it holds no CPU the workers need (Ray
# refuses an empty bundle, so it holds this much of the memory resource)
RELAY_BUNDLE = {"memory": 2.0**20}

__all__ = ["RESOURCE_KEYS", "check_cluster_resources", "trial_resources", "trial_workers"]


def _number(value: Any, name: str) -> float:
    return checks.number(value, f"resources_per_trial: {name!r}")


def trial_resources(resources: Mapping[str, Any] | None) -> tuple[list[dict[str, float]], float]:
    """``{'cpu': 1, 'gpu': 0.5, 'pipeline_workers': 2}`` -> the bundles of the trial's placement group, and its CPUs.

    The first bundle runs the trial (``cpu``, ``gpu``, ``memory`` bytes); ``pipeline_workers`` adds one bundle of
    ``cpus_per_pipeline_worker`` (default 1) CPUs per SequenceMap/SequenceAsyncReservoir worker, which the
    pipelines use automatically. ``gpu`` may be a fraction (0.25 packs four trials on one GPU) or a whole number.
    ``{'workers': 2, 'cpu_per_worker': 1, 'gpu_per_worker': 1}`` trains the trial data-parallel on Ray Train
    workers (:mod:`trw_ray.train.distributed`): the trial's own bundle is then a token one and the CPUs returned
    are one worker's.
    """
    resources = {"cpu": 1, "gpu": 0} if resources is None else resources
    if not isinstance(resources, Mapping):
        raise TypeError(f"resources_per_trial: expected a dict like {{'cpu': 1, 'gpu': 0}}; got {type(resources).__name__}")
    unknown = sorted(set(resources) - set(RESOURCE_KEYS))
    if unknown:
        raise ValueError(f"resources_per_trial: unknown key(s) {unknown}; allowed: {list(RESOURCE_KEYS)}")
    workers = trial_workers(resources)
    if workers is not None:
        return [dict(RELAY_BUNDLE)], workers.cpu_per_worker
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


def trial_workers(resources: Mapping[str, Any] | None):
    """The data-parallel workers of a trial (``{'workers': 2, 'cpu_per_worker': 1, 'gpu_per_worker': 1}``), or None.

    Their Ray Train workers are placed by Ray Train (their own placement group), beside the trial's bundle.
    """
    from trw_ray.train.distributed import workers_config

    if not resources or "workers" not in resources:
        if resources and any(key in resources for key in WORKER_RESOURCE_KEYS):
            raise ValueError(f"resources_per_trial: 'cpu_per_worker'/'gpu_per_worker' need 'workers' (the number of "
                             f"data-parallel processes); got {dict(resources)!r}")
        return None
    clashing = sorted(key for key in ("cpu", "gpu", "pipeline_workers") if key in resources)
    if clashing:
        raise ValueError(f"resources_per_trial: with 'workers' each worker's resources are 'cpu_per_worker' and "
                         f"'gpu_per_worker'; remove {clashing}")
    return workers_config({key: resources[key] for key in WORKER_RESOURCE_KEYS if key in resources})


def check_cluster_resources(bundles: list[dict[str, float]], workers=None) -> None:
    """Raises at once when a trial's bundles can never be placed (Tune would leave the trials pending forever)."""
    import ray

    total = ray.cluster_resources()
    if workers is not None:
        from trw_ray.train.distributed import check_worker_resources

        check_worker_resources(workers, "resources_per_trial")
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
