"""The Ray-internal names trw_ray reads (trw_ray/ray_internals.py): they work on the pinned Ray, and a Ray release
without them makes the features fall back instead of raising an AttributeError."""

from __future__ import annotations

import ray
from ray._private import ray_constants
from ray._private import state as ray_state

from trw_ray import ray_internals
from trw_ray.data import worker_pool


@ray.remote(num_cpus=0)
class _Probe:
    def ping(self) -> int:
        return 1


def test_the_pinned_ray_has_every_internal_name(ray_local):
    probe = _Probe.remote()
    try:
        ray.get(probe.ping.remote())
        identifier = ray_internals.actor_id(probe)
        assert identifier is not None and identifier in ray_internals.actor_table()
        assert ray_internals.actor_table(identifier)["State"] == "ALIVE"
        assert "_Probe" in worker_pool._other_actors()
    finally:
        ray.kill(probe)
    assert hasattr(ray_constants, "ENABLE_RAY_CLUSTER")


def test_without_the_actor_table_the_pools_say_less_and_keep_waiting(monkeypatch):
    monkeypatch.delattr(ray_state, "actors")
    assert ray_internals.actor_table() is None
    assert worker_pool._other_actors() == ""
    handle_without_id = object()
    assert ray_internals.actor_id(handle_without_id) is None
    # a pool that waited past its timeout: nothing can be told apart, so no PipelinePlacementError, no AttributeError
    assert worker_pool.check_placed("SequenceMap", [handle_without_id], waited_s=1e6, timeout_s=1.0) is None


def test_without_rays_import_time_constant_loopback_relies_on_the_environment(monkeypatch):
    monkeypatch.delattr(ray_constants, "ENABLE_RAY_CLUSTER")
    assert ray_internals.keep_cluster_mode_off() is False
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True, raising=False)
    assert ray_internals.keep_cluster_mode_off() is True and ray_constants.ENABLE_RAY_CLUSTER is False
