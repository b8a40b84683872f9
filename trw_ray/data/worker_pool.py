"""How many CPUs a pipeline's workers may take, so that no pipeline waits forever for workers Ray cannot place.

Ray leaves an actor that asks for more CPUs than are free pending, silently: a second ``SequenceMap`` with
``nb_workers=2`` built while a first one holds both CPUs of a 2-core machine (a train and a valid split that each
``.map(fn, nb_workers=2)``) would never yield a batch. Before a pipeline starts its workers, :func:`size_pool`
compares what it asks for with what is free — in the trial's placement group inside a Ray Tune trial (its
``pipeline_workers`` bundles), else in the Ray cluster — and

- starts the pool as asked when it fits;
- shrinks it to the workers that fit when some CPUs are free;
- otherwise lets its workers share the CPUs that the other pipelines hold (``num_cpus=0``: they run beside
  them; a training loop draws from one split at a time, so the pools seldom compete),

with one :class:`PipelineResourceWarning` naming what holds the CPUs. A pool whose workers are still not placed
after ``PLACEMENT_TIMEOUT_S`` (CPUs held by something this process cannot see) raises
:class:`PipelinePlacementError` (see :func:`check_placed`).
"""

from __future__ import annotations

import threading
import time
import warnings
import weakref
from collections import Counter
from dataclasses import dataclass

PLACEMENT_TIMEOUT_S = 60.0

__all__ = ["PLACEMENT_TIMEOUT_S", "PipelinePlacementError", "PipelineResourceWarning", "PoolSize", "check_placed",
           "release_pool", "size_pool"]


class PipelineResourceWarning(UserWarning):
    """A pipeline's worker pool was shrunk, or shares CPUs, because fewer CPUs are free than it asks for."""


class PipelinePlacementError(RuntimeError):
    """A pipeline's workers could not be placed on the Ray cluster (every CPU they could use is held)."""


@dataclass(frozen=True)
class PoolSize:
    """What a pool starts with: ``nb_workers`` actors of ``num_cpus_per_worker`` CPUs each."""

    nb_workers: int
    num_cpus_per_worker: float


@dataclass(frozen=True)
class _Holder:
    description: str
    cpus: float
    placement_group: str | None


_HOLDERS: dict[int, _Holder] = {}  # id(pipeline) -> what its live workers hold, in this process
_WARNED: set[int] = set()  # id(pipeline) of those told already (a Ray Data pool restarts with each execution)
_TRACKED: set[int] = set()  # id(pipeline) of those whose garbage collection clears their entries
_RELEASED: list[tuple[float, float]] = []  # (when, CPUs) of pools stopped outside a placement group
RELEASE_LAG_S = 2.0
SETTLE_S = 3.0  # how long a pool waits for CPUs that others than this process's pipelines hold  # Ray counts a killed actor's CPUs as available about 0.1 s after it is dead
_LOCK = threading.Lock()


def _placement_group():
    from trw_ray.ray_session import current_placement_group

    return current_placement_group()


def _held(placement_group_id: str | None, exclude: int) -> list[_Holder]:
    with _LOCK:
        return [holder for key, holder in _HOLDERS.items()
                if key != exclude and holder.placement_group == placement_group_id and holder.cpus > 0]


def _free_cpus(owner_key: int) -> tuple[float, float, str | None, str, list[_Holder]]:
    """(free CPUs, CPUs of the scope, placement group id, the scope in words, this process's pipelines there)."""
    import ray

    group = _placement_group()
    if group is not None:
        group_id = group.id.hex()
        bundles = group.bundle_specs
        # Tune's trainable takes the first bundle; the pipelines share the others (``pipeline_workers``)
        total = sum(bundle.get("CPU", 0.0) for bundle in bundles[1:])
        holders = _held(group_id, owner_key)
        free = total - sum(holder.cpus for holder in holders)
        return free, total, group_id, "the trial's pipeline bundles (resources_per_trial['pipeline_workers'])", holders
    total = ray.cluster_resources().get("CPU", 0.0)
    holders = _held(None, owner_key)
    # Ray's count of available CPUs lags the actors created or killed a moment ago: this process's own pools are
    # counted here, as are the CPUs of those it has just stopped
    now = time.monotonic()
    with _LOCK:
        _RELEASED[:] = [(when, cpus) for when, cpus in _RELEASED if now - when < RELEASE_LAG_S]
        just_released = sum(cpus for _, cpus in _RELEASED)
    free = min(ray.available_resources().get("CPU", 0.0) + just_released,
               total - sum(holder.cpus for holder in holders))
    return max(free, 0.0), total, None, "the Ray cluster", holders


def _other_actors() -> str:
    """The classes of the live actors Ray knows of (trials, other pipelines), for the warning."""
    from trw_ray.ray_internals import actor_table

    try:
        table = actor_table()
    except Exception:  # noqa: BLE001 - only a description
        return ""
    if table is None:
        return ""
    counts = Counter(actor.get("ActorClassName") for actor in table.values()
                     if actor.get("State") in ("ALIVE", "PENDING_CREATION", "RESTARTING"))
    return ", ".join(f"{count} x {name}" for name, count in counts.most_common(6))


def _holders_text(holders: list[_Holder], total: float, free: float) -> str:
    parts = [f"{holder.description} ({holder.cpus:g} CPU)" for holder in holders]
    rest = total - free - sum(holder.cpus for holder in holders)
    if rest > 1e-9:
        actors = _other_actors()
        parts.append(f"other Ray tasks and actors ({rest:g} CPU{'; live actors: ' + actors if actors else ''})")
    return "; ".join(parts) or "nothing this process started"


def size_pool(owner: object, description: str, nb_workers: int, num_cpus_per_worker: float) -> PoolSize:
    """The pool ``owner`` (a pipeline) may start for its ``nb_workers`` workers, recorded as held until
    :func:`release_pool` (or until ``owner`` is garbage-collected)."""
    from trw_ray.ray_session import ensure_ray

    ensure_ray()  # a user's first pipeline may be what starts Ray: nothing can be asked of it before
    key = id(owner)
    asked = nb_workers * num_cpus_per_worker
    size = PoolSize(nb_workers, num_cpus_per_worker)
    group_id = None
    if asked > 0:
        free, total, group_id, scope, holders = _free_cpus(key)
        settle_until = time.monotonic() + SETTLE_S
        while (asked > free + 1e-9 and total - free - sum(holder.cpus for holder in holders) > 1e-9
               and time.monotonic() < settle_until):
            # CPUs held by others may be on their way back (a Tune trial, a Ray Data execution just ended)
            time.sleep(0.1)
            free, total, group_id, scope, holders = _free_cpus(key)
        if asked > free + 1e-9:
            fit = int((free + 1e-9) // num_cpus_per_worker)
            held = _holders_text(holders, total, free)
            if fit >= 1:
                size, outcome = PoolSize(fit, num_cpus_per_worker), f"it starts {fit} worker(s) instead"
            else:
                size, outcome = PoolSize(nb_workers, 0.0), (f"its {nb_workers} worker(s) share the CPUs the others "
                                                            f"hold (num_cpus=0)")
            if key not in _WARNED:
                _WARNED.add(key)
                warnings.warn(f"{description}: nb_workers={nb_workers} asks for {asked:g} CPU but {free:g} of the "
                              f"{total:g} CPU of {scope} are free (held by: {held}); {outcome}. Lower nb_workers, "
                              f"close pipelines no longer used, or reserve more CPUs", PipelineResourceWarning,
                              stacklevel=3)
    with _LOCK:
        _HOLDERS[key] = _Holder(description, size.nb_workers * size.num_cpus_per_worker, group_id)
        first = key not in _TRACKED
        _TRACKED.add(key)
    if first:
        weakref.finalize(owner, _forget, key, True)
    return size


def _forget(key: int, collected: bool = False) -> None:
    with _LOCK:
        holder = _HOLDERS.pop(key, None)
        if holder is not None and holder.placement_group is None and holder.cpus > 0:
            _RELEASED.append((time.monotonic(), holder.cpus))
        if collected:
            _WARNED.discard(key)
            _TRACKED.discard(key)


def release_pool(owner: object) -> None:
    """``owner``'s workers are stopped: their CPUs are free for other pipelines."""
    _forget(id(owner))


def check_placed(description: str, actors: list, waited_s: float, timeout_s: float = PLACEMENT_TIMEOUT_S) -> None:
    """Raises :class:`PipelinePlacementError` when none of ``actors`` is alive after ``timeout_s`` of waiting for
    the pool's first result (Ray keeps them pending while the CPUs they ask for are held)."""
    if waited_s < timeout_s or not actors:
        return
    from trw_ray.ray_internals import actor_id, actor_table

    ids = [actor_id(actor) for actor in actors]
    try:
        states = [(actor_table(identifier) or {}).get("State") if identifier else None for identifier in ids]
    except Exception:  # noqa: BLE001 - a failed lookup tells nothing apart: keep waiting
        return
    if None in states:  # without the actor table nothing can be told apart: keep waiting
        return
    if any(state == "ALIVE" for state in states):
        return
    import ray

    raise PipelinePlacementError(
        f"{description}: none of its {len(actors)} worker(s) could be placed in {timeout_s:g} s (states: "
        f"{dict(Counter(states))}); free CPUs: {ray.available_resources().get('CPU', 0.0):g} of "
        f"{ray.cluster_resources().get('CPU', 0.0):g}; live actors: {_other_actors() or 'unknown'}. Lower nb_workers "
        f"or num_cpus_per_worker, or free the CPUs")
